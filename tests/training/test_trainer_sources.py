"""Trainer on every kind of data: NumPy pairs, tf.data.Dataset streams, declared pixel ranges."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parent))
import resume_tiny

from transferlab.data import LabeledImages
from transferlab.data.source import StreamSource
from transferlab.errors import DataError
from transferlab.strategies import FineTune
from transferlab.training.trainer import Trainer


def _trainer(tmp_path: Path, **options: object) -> Trainer:
    return Trainer(
        resume_tiny.build,
        strategy=FineTune(epochs=1, top=1, warmup_epochs=1),
        run_dir=tmp_path,
        batch_size=8,
        verbose=0,
        **options,  # type: ignore[arg-type]
    )


def _weights(result: object) -> list[np.ndarray]:
    return [np.asarray(w) for w in result.model.get_weights()]  # type: ignore[attr-defined]


def test_numpy_pairs_train_like_labeled_images(tmp_path: Path) -> None:
    data = resume_tiny.data(32)
    from_pair = _trainer(tmp_path / "a").fit((data.images, data.labels), (data.images[:8], data.labels[:8]))
    from_images = _trainer(tmp_path / "b").fit(data, data.take(range(8)))
    assert len(from_pair.rows) == len(from_images.rows) == 2
    for a, b in zip(_weights(from_pair), _weights(from_images), strict=True):
        np.testing.assert_array_equal(a, b)
    config = json.loads((from_pair.run_dir / "config.json").read_text())
    # the class count comes from the model (3), not from the labels seen
    assert config["train"]["classes"] == ["0", "1", "2"] and config["train"]["source"] == "ArraySource"


@pytest.mark.parametrize("batched", [False, True])
def test_a_tf_data_stream_trains_deterministically_and_resumes_at_epoch_boundaries(
    tmp_path: Path, batched: bool
) -> None:
    data = resume_tiny.data(32)
    ds = tf.data.Dataset.from_tensor_slices((data.images, data.labels))
    if batched:
        ds = ds.batch(5)
    first = _trainer(tmp_path / "a").fit(ds)
    second = _trainer(tmp_path / "b").fit(ds)
    for a, b in zip(_weights(first), _weights(second), strict=True):
        np.testing.assert_array_equal(a, b)
    decisions = json.loads((first.run_dir / "decisions.json").read_text())
    assert "resumes at epoch boundaries" in decisions["data_order"]
    assert all("tf.data.Dataset stream" in v for v in decisions["feature_cache"].values())
    config = json.loads((first.run_dir / "config.json").read_text())
    assert config["train"]["source"] == "StreamSource" and config["train"]["examples"] == 32
    # the same stream again: the finished run is found, not trained again
    again = _trainer(tmp_path / "a").fit(ds)
    assert again.reused


def test_another_stream_is_another_run(tmp_path: Path) -> None:
    data = resume_tiny.data(32)
    trainer = _trainer(tmp_path)
    one = trainer.identity(tf.data.Dataset.from_tensor_slices((data.images, data.labels)))
    other = resume_tiny.data(32, seed=1)
    two = trainer.identity(tf.data.Dataset.from_tensor_slices((other.images, other.labels)))
    assert one.digest != two.digest


def test_float_images_in_0_1_are_refused_unless_declared(tmp_path: Path) -> None:
    data = resume_tiny.data(32)
    unit = (data.images.astype(np.float32) / np.float32(255)).astype(np.float32)
    with pytest.raises(DataError, match=r"all lie in \[0, 1\].*pixel_range=\(0, 1\)"):
        _trainer(tmp_path).fit((unit, data.labels))
    with pytest.raises(DataError, match=r"look like values in \[0, 1\].*pixel_range=\(0, 1\)"):
        _trainer(tmp_path).fit(tf.data.Dataset.from_tensor_slices((unit, data.labels)))
    assert not list(tmp_path.glob("*/config.json")), "nothing is written for a refused run"
    # declared, they are scaled to raw pixels exactly once: the same run as raw pixels
    declared = _trainer(tmp_path / "a").fit(
        LabeledImages(unit, data.labels, ("0", "1", "2"), pixel_range=(0, 1))
    )
    raw = _trainer(tmp_path / "b").fit(LabeledImages(unit * np.float32(255), data.labels, ("0", "1", "2")))
    for a, b in zip(_weights(declared), _weights(raw), strict=True):
        np.testing.assert_array_equal(a, b)
    stream = StreamSource(
        tf.data.Dataset.from_tensor_slices((unit, data.labels)), num_classes=3, pixel_range=(0, 1)
    )
    assert _trainer(tmp_path / "c").fit(stream).rows


def test_data_of_another_kind_is_refused_with_the_accepted_kinds(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"`validation` is not a kind of data.*list.*Accepted: .*tf.data.Dataset"
    ):
        _trainer(tmp_path).fit(resume_tiny.data(16), [1, 2, 3])  # type: ignore[arg-type]


@pytest.mark.parametrize("feature_cache", ["auto", "off"])
def test_a_file_damaged_after_listing_is_named_not_a_tensorflow_trace(
    tmp_path: Path, feature_cache: str
) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
    from tiny_folders import damage, write_class_folder

    from transferlab.data import ImageFolderSource
    from transferlab.errors import DataFileError

    folder = write_class_folder(tmp_path / "images", [8, 8, 8], size=(12, 12))
    source = ImageFolderSource(folder, image_size=(12, 12))  # listed: every header is fine
    bad = damage(folder / "c1" / "005.png")
    trainer = _trainer(tmp_path / "runs", feature_cache=feature_cache)
    with pytest.raises(DataFileError, match=r"c1/005\.png") as caught:
        trainer.fit(source)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert bad.is_file()
