"""Tests of write_tfrecords and TFRecordSource on tiny images (8x8, 30 examples, 3 shards)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from transferlab.data import tfrecords
from transferlab.data.labeled_images import LabeledImages
from transferlab.data.pipeline import make_pipeline
from transferlab.data.source import StreamSource
from transferlab.data.tfrecords import INDEX_NAME, TFRecordSource, shard_name, write_tfrecords
from transferlab.errors import ConfigError, DataError, DataFileError

N = 30


def _data(kind: str, n: int = N, seed: int = 0) -> LabeledImages:
    """Random images; pixel [0, 0, 0] of an integer image is its index (to tell what was read)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    if kind == "float":
        images = rng.random((n, 8, 8, 1)).astype("float32")
        return LabeledImages(images, labels, ("a", "b", "c"), pixel_range=(0, 1))
    shape = (n, 8, 8) if kind == "gray" else (n, 8, 8, 3)
    images = rng.integers(0, 256, shape, dtype=np.uint8)
    images[:, 0, 0, ...] = np.arange(n, dtype=np.uint8).reshape(-1, *([1] * (images.ndim - 3)))
    return LabeledImages(images, labels, ("a", "b", "c"))


def _batches(ds: tf.data.Dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x.numpy(), y.numpy()) for x, y in ds]


def _same(a: list[tuple[np.ndarray, np.ndarray]], b: list[tuple[np.ndarray, np.ndarray]]) -> None:
    assert len(a) == len(b) > 0
    for (xa, ya), (xb, yb) in zip(a, b):
        assert xa.dtype == xb.dtype and xa.shape == xb.shape
        assert xa.tobytes() == xb.tobytes()  # bit-identical, not merely close
        np.testing.assert_array_equal(ya, yb)


def _shards(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tfrecord"))


@pytest.mark.parametrize(("kind", "encoding"), [("gray", "png"), ("rgb", "png"), ("float", "raw")])
def test_round_trip_is_bit_identical(tmp_path: Path, kind: str, encoding: str) -> None:
    data = _data(kind)
    written = write_tfrecords(data, tmp_path / "out", shards=3, batch_size=7)
    source = TFRecordSource(tmp_path / "out")
    assert _shards(tmp_path / "out") == [shard_name(k, 3) for k in range(3)]
    assert source.encoding == written.encoding == encoding
    assert source.class_names == data.class_names and source.pixel_range == data.pixel_range
    np.testing.assert_array_equal(source.labels, data.labels)
    # The stored values themselves, in the source's dtype.
    raw = source.read_batch(tf.constant([29, 0, 10, 9], tf.int64)).numpy()
    expected = data.images[[29, 0, 10, 9]].reshape(raw.shape)
    assert raw.dtype == expected.dtype and raw.tobytes() == expected.tobytes()
    assert source.read_element(tf.constant(10, tf.int64)).numpy().tobytes() == expected[2].tobytes()
    for options in (
        {"shuffle": True, "seed": 0},
        {"shuffle": True, "seed": 5, "epoch": 3, "skip_batches": 2},
        {"evaluation": True},
    ):
        _same(
            _batches(make_pipeline(source, batch_size=8, **options)),
            _batches(make_pipeline(data, batch_size=8, **options)),
        )


def test_each_worker_reads_only_the_shards_its_pieces_need(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _data("gray")
    write_tfrecords(data, tmp_path, shards=3)
    opened: list[str] = []
    real_open = os.open

    def recording_open(path: str, *args: int) -> int:
        if str(path).endswith(".tfrecord"):
            opened.append(str(path))
        return real_open(path, *args)

    monkeypatch.setattr(tfrecords.os, "open", recording_open)
    shard_paths = [str(tmp_path / shard_name(k, 3)) for k in range(3)]

    # One global batch of 20 over 2 workers: worker 0 reads examples 0-9 (shard 0), worker 1 10-19.
    for i in range(2):
        opened.clear()
        source = TFRecordSource(tmp_path)
        ds = make_pipeline(source, batch_size=20, num_replicas=2, worker=(2, i), steps_per_epoch=1)
        ids = [x[:, 0, 0, 0].astype(int).tolist() for x, _ in ds.as_numpy_iterator()]
        assert ids == [list(range(10 * i, 10 * i + 10))]
        assert opened == [shard_paths[i]]

    # Shuffled, a whole epoch: what each worker opens is exactly files() of what it read.
    pieces = []
    for i in range(2):
        opened.clear()
        source = TFRecordSource(tmp_path)
        options = {"batch_size": 8, "shuffle": True, "seed": 3, "num_replicas": 2, "worker": (2, i)}
        got = _batches(make_pipeline(source, **options))
        _same(got, _batches(make_pipeline(data, **options)))
        read = np.concatenate([x[:, 0, 0, 0] for x, _ in got]).astype(np.int64)
        assert sorted(opened) == source.files(read)
        pieces.append(read)
    # The two workers' pieces together are one epoch of the one-device run (the last batch cut to 2 * k).
    assert sorted(np.concatenate(pieces).tolist()) == sorted(set(np.concatenate(pieces).tolist()))
    assert len(np.concatenate(pieces)) == N


def test_files_and_take(tmp_path: Path) -> None:
    source = write_tfrecords(_data("gray"), tmp_path, shards=3)
    paths = [str(tmp_path / shard_name(k, 3)) for k in range(3)]
    assert source.files([0, 9]) == paths[:1]
    assert source.files([29, 10, 11]) == paths[1:]
    assert source.files([]) == []
    sub = source.take([25, 3])
    assert sub.labels.tolist() == [1, 0] and sub.files([0]) == paths[2:]
    x = sub.read_batch(tf.constant([0, 1], tf.int64)).numpy()
    assert x[:, 0, 0, 0].tolist() == [25, 3]
    with pytest.raises(DataError, match=r"`indices` out of range.*30"):
        source.files([30])


def test_stream_source_is_written_front_to_back(tmp_path: Path) -> None:
    data = _data("rgb", n=13)
    ds = tf.data.Dataset.from_tensor_slices((data.images, data.labels)).batch(5)
    source = write_tfrecords(StreamSource(ds, class_names=data.class_names), tmp_path, shards=2)
    assert len(source) == 13 and source.labels.tolist() == data.labels.tolist()
    _same(
        _batches(make_pipeline(source, batch_size=4, shuffle=True, seed=1)),
        _batches(make_pipeline(data, batch_size=4, shuffle=True, seed=1)),
    )
    short = StreamSource(ds, class_names=data.class_names, num_examples=20)
    with pytest.raises(DataError, match=r"another number of examples.*only 13.*20 examples"):
        write_tfrecords(short, tmp_path / "short")
    assert not (tmp_path / "short" / INDEX_NAME).exists() and _shards(tmp_path / "short") == []


def test_fingerprint_follows_the_content_not_the_place(tmp_path: Path) -> None:
    a = write_tfrecords(_data("gray"), tmp_path / "a", shards=3)
    b = write_tfrecords(_data("gray"), tmp_path / "b", shards=3)
    other = write_tfrecords(_data("gray", seed=1), tmp_path / "c", shards=3)
    assert a.fingerprint() == b.fingerprint() != other.fingerprint()
    assert json.dumps(a.fingerprint())  # JSON, as a run's identity needs
    summary = a.summary()
    assert summary["kind"] == "TFRecordSource" and summary["examples"] == N
    assert (
        summary["shards"] == 3 and summary["encoding"] == "png" and summary["folder"] == str(tmp_path / "a")
    )


def test_jpeg_reads_back_what_libjpeg_decodes(tmp_path: Path) -> None:
    images = _data("rgb", n=6).images
    source = write_tfrecords((images, np.arange(6) % 2), tmp_path, encoding="jpeg")
    x = source.read_batch(tf.range(6, dtype=tf.int64)).numpy()
    expected = [
        tf.io.decode_jpeg(tf.io.encode_jpeg(im, quality=tfrecords.JPEG_QUALITY)).numpy() for im in images
    ]
    assert source.encoding == "jpeg" and x.tobytes() == np.stack(expected).tobytes()
    assert x.tobytes() != images.tobytes()  # lossy: the default (PNG) is the lossless one


def test_bad_arguments(tmp_path: Path) -> None:
    data = _data("gray")
    with pytest.raises(ConfigError, match=r"`encoding` must be.*encoding='webp'.*'png', 'jpeg', 'raw'"):
        write_tfrecords(data, tmp_path / "x", encoding="webp")
    with pytest.raises(ConfigError, match=r"'jpeg'.*uint8.*float32"):
        write_tfrecords(_data("float"), tmp_path / "x", encoding="jpeg")
    with pytest.raises(ConfigError, match=r"`shards` must not exceed.*shards=31, 30 examples"):
        write_tfrecords(data, tmp_path / "x", shards=31)
    with pytest.raises(ConfigError, match=r"`shards` must be an integer >= 1.*shards=0"):
        write_tfrecords(data, tmp_path / "x", shards=0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"`folder` is a file"):
        write_tfrecords(data, tmp_path / "file")
    with pytest.raises(DataError, match=r"`source` is not a kind of data"):
        write_tfrecords([1, 2], tmp_path / "x")


def test_non_empty_folder_needs_overwrite(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"is not empty.*notes.txt.*overwrite=True"):
        write_tfrecords(_data("gray"), tmp_path)
    write_tfrecords(_data("gray"), tmp_path, shards=3, overwrite=True)
    with pytest.raises(ConfigError, match=r"is not empty.*index.json"):
        write_tfrecords(_data("gray"), tmp_path, shards=2)
    # Replaced: fewer shards now, the old third one gone, the user's file kept.
    source = write_tfrecords(_data("rgb"), tmp_path, shards=2, overwrite=True)
    assert _shards(tmp_path) == [shard_name(0, 2), shard_name(1, 2)]
    assert (tmp_path / "notes.txt").read_text() == "mine" and source.element_shape == (8, 8, 3)


class _Interrupt(Exception):
    pass


def _interrupt_after(monkeypatch: pytest.MonkeyPatch, records: int) -> None:
    real = tfrecords._example
    calls = [0]

    def failing(*args: object) -> bytes:
        calls[0] += 1
        if calls[0] > records:
            raise _Interrupt("killed")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(tfrecords, "_example", failing)


def test_an_interrupted_write_leaves_no_index_and_no_shard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _interrupt_after(monkeypatch, 15)  # in the middle of the second shard
    with pytest.raises(_Interrupt):
        write_tfrecords(_data("gray"), tmp_path / "out", shards=3, batch_size=4)
    assert list((tmp_path / "out").iterdir()) == []
    with pytest.raises(DataFileError, match=r"holds no index.json"):
        TFRecordSource(tmp_path / "out")


def test_an_interrupted_overwrite_keeps_the_old_shards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _data("gray")
    write_tfrecords(data, tmp_path, shards=3)
    _interrupt_after(monkeypatch, 25)
    with pytest.raises(_Interrupt):
        write_tfrecords(_data("rgb"), tmp_path, shards=2, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [INDEX_NAME, *(shard_name(k, 3) for k in range(3))]
    source = TFRecordSource(tmp_path)
    _same(_batches(make_pipeline(source, batch_size=8)), _batches(make_pipeline(data, batch_size=8)))


def test_a_killed_writers_staging_folder_is_removed(tmp_path: Path) -> None:
    staging = tmp_path / ".write_tfrecords.partial-abc123"
    staging.mkdir()
    (staging / shard_name(0, 1)).write_bytes(b"half")
    write_tfrecords(_data("gray"), tmp_path, shards=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [INDEX_NAME, shard_name(0, 1)]


@pytest.fixture()
def written(tmp_path: Path) -> Path:
    write_tfrecords(_data("gray"), tmp_path, shards=3)
    return tmp_path


def test_missing_index_or_folder(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"nowhere is not a folder.*write_tfrecords"):
        TFRecordSource(tmp_path / "nowhere")
    with pytest.raises(DataFileError, match=r"holds no index.json.*from_files"):
        TFRecordSource(tmp_path)


def test_missing_shard_names_it(written: Path) -> None:
    (written / shard_name(1, 3)).unlink()
    with pytest.raises(DataFileError, match=rf"shard {written / shard_name(1, 3)} cannot be read"):
        TFRecordSource(written)


def test_truncated_shard_names_it(written: Path) -> None:
    path = written / shard_name(2, 3)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataFileError, match=rf"shard {path} has another size.*\(truncated\).*bytes"):
        TFRecordSource(written)


def test_shard_truncated_after_opening_is_diagnosed(written: Path) -> None:
    source = TFRecordSource(written)
    assert source.diagnose() is None
    path = written / shard_name(2, 3)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(tf.errors.InvalidArgumentError, match=shard_name(2, 3)):
        _batches(make_pipeline(source, batch_size=8))
    found = source.diagnose()
    assert isinstance(found, DataFileError)
    assert str(path) in str(found) and "truncated" in str(found)


def test_damaged_records(written: Path) -> None:
    path = written / shard_name(0, 3)
    index = json.loads((written / INDEX_NAME).read_text())
    second = index["shards"][0]["offsets"][1]
    blob = bytearray(path.read_bytes())
    blob[second] ^= 0x01  # the length of record 1 of shard 0
    path.write_bytes(bytes(blob))
    source = TFRecordSource(written)  # same size: opens
    with pytest.raises(
        DataFileError, match=rf"{path} cannot be read: the record at byte {second} is not where"
    ):
        source.read_batch(tf.constant([1], tf.int64))  # eagerly: the error itself
    fresh = TFRecordSource(written)
    with pytest.raises(tf.errors.InvalidArgumentError, match="not where the index says"):
        _batches(make_pipeline(fresh, batch_size=8))  # in tf.data: TensorFlow's error ...
    found = fresh.diagnose()  # ... and the one the Trainer raises instead
    assert isinstance(found, DataFileError) and f"{path} cannot be read: the record at byte" in str(found)
    with pytest.raises(DataFileError, match=rf"{path} cannot be read: a record is damaged"):
        source.verify()
    blob[second] ^= 0x01
    blob[second + 40] ^= 0xFF  # inside record 1's data: only the data CRC sees it
    path.write_bytes(bytes(blob))
    with pytest.raises(DataFileError, match=rf"{path} cannot be read: a record is damaged"):
        TFRecordSource(written).verify()
    blob[second + 40] ^= 0xFF
    path.write_bytes(bytes(blob))
    TFRecordSource(written).verify()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda doc: "{not json", r"it is not JSON"),
        (lambda doc: {**doc, "version": 99}, r"unknown format or version.*version=99"),
        (lambda doc: {k: v for k, v in doc.items() if k != "shards"}, r"a field is missing.*KeyError"),
        (
            lambda doc: {**doc, "shards": [{**doc["shards"][0], "records": 3}, *doc["shards"][1:]]},
            r"record count, offsets and labels disagree",
        ),
        (
            lambda doc: {**doc, "shards": [{**doc["shards"][0], "labels": [7] * 10}, *doc["shards"][1:]]},
            r"labels outside \[0, 3\)",
        ),
        (
            lambda doc: {
                **doc,
                "shards": [{**doc["shards"][0], "file": "../x.tfrecord"}, *doc["shards"][1:]],
            },
            r"shard file name holds a folder",
        ),
    ],
)
def test_corrupt_index_names_it(written: Path, edit: object, message: str) -> None:
    index_path = written / INDEX_NAME
    doc = json.loads(index_path.read_text())
    new = edit(doc)  # type: ignore[operator]
    index_path.write_text(new if isinstance(new, str) else json.dumps(new))
    with pytest.raises(DataFileError, match=rf"index {index_path} is not a valid index: .*{message}"):
        TFRecordSource(written)


def _own_files(folder: Path, images: np.ndarray, labels: np.ndarray, files: int = 2) -> list[Path]:
    """TFRecord files as other tools write them: TF-slim keys, PNG images, no index."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"train-{k}.tfrecord" for k in range(files)]
    for k, path in enumerate(paths):
        with tf.io.TFRecordWriter(str(path)) as writer:
            for i in range(k, len(images), files):  # interleaved: file order != example order
                feature = {
                    "image/encoded": tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[tf.io.encode_png(images[i]).numpy()])
                    ),
                    "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[labels[i]])),
                }
                writer.write(
                    tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
                )
    return paths


SLIM = {"image": "image/encoded", "label": "image/class/label"}


def test_from_files_indexes_your_own_records(tmp_path: Path) -> None:
    data = _data("rgb", n=11)
    _own_files(tmp_path / "own", data.images, data.labels)
    source = TFRecordSource.from_files(str(tmp_path / "own" / "train-*.tfrecord"), feature_keys=SLIM)
    order = [*range(0, 11, 2), *range(1, 11, 2)]  # file 0, then file 1
    assert source.labels.tolist() == data.labels[order].tolist() and source.class_names == ("0", "1", "2")
    assert source.element_shape == (8, 8, 3) and source.files([5, 6]) == [
        str(tmp_path / "own" / "train-0.tfrecord"),
        str(tmp_path / "own" / "train-1.tfrecord"),
    ]
    reordered = LabeledImages(data.images[order], data.labels[order], ("0", "1", "2"))
    _same(
        _batches(make_pipeline(source, batch_size=4, shuffle=True, seed=2)),
        _batches(make_pipeline(reordered, batch_size=4, shuffle=True, seed=2)),
    )
    # Converted once into indexed shards: the same examples, and no scan when opened.
    converted = write_tfrecords(source, tmp_path / "converted", shards=2)
    _same(_batches(make_pipeline(converted, batch_size=4)), _batches(make_pipeline(reordered, batch_size=4)))
    # The fingerprint follows the records and classes, not where the files are.
    (tmp_path / "own").rename(tmp_path / "moved")
    moved = TFRecordSource.from_files(sorted((tmp_path / "moved").iterdir()), feature_keys=SLIM)
    assert moved.fingerprint() == source.fingerprint()
    more = TFRecordSource.from_files(str(tmp_path / "moved" / "*"), feature_keys=SLIM, num_classes=5)
    assert more.num_classes == 5 and more.fingerprint() != source.fingerprint()
    assert TFRecordSource.from_files(converted.shard_files).labels.tolist() == converted.labels.tolist()


def test_from_files_errors_name_the_file(tmp_path: Path) -> None:
    data = _data("gray", n=6)
    images = data.images[..., None]
    paths = _own_files(tmp_path, images, data.labels)
    pattern = str(tmp_path / "*.tfrecord")
    with pytest.raises(DataFileError, match=r"No TFRecord file found.*nothing-\*"):
        TFRecordSource.from_files(str(tmp_path / "nothing-*"))
    with pytest.raises(ConfigError, match=r"`feature_keys` must map 'image' and 'label'"):
        TFRecordSource.from_files(pattern, feature_keys={"image": "image/encoded"})
    with pytest.raises(
        DataFileError, match=rf"{paths[0]} cannot be indexed: a record has no integer label 'label'"
    ):
        TFRecordSource.from_files(pattern)
    with pytest.raises(
        DataFileError, match=rf"first record of the TFRecord file {paths[0]} has no image under 'img'"
    ):
        TFRecordSource.from_files(pattern, feature_keys={"image": "img", "label": "image/class/label"})
    with pytest.raises(DataFileError, match=rf"{paths[0]} holds labels outside \[0, 2\).*labels 0 .. 2"):
        TFRecordSource.from_files(pattern, feature_keys=SLIM, class_names=["a", "b"])
    paths[1].write_bytes(paths[1].read_bytes()[:-3])
    with pytest.raises(
        DataFileError, match=rf"{paths[1]} cannot be indexed: the record at byte \d+ ends after"
    ):
        TFRecordSource.from_files(pattern, feature_keys=SLIM)
    paths[1].write_bytes(b"not a tfrecord file at all")
    with pytest.raises(
        DataFileError, match=rf"{paths[1]} cannot be indexed: the record at byte 0 has no valid"
    ):
        TFRecordSource.from_files(pattern, feature_keys=SLIM)
