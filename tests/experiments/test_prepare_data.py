"""prepare_data on a folder (sources, nothing loaded) cuts the same examples as on the same images in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_folders import write_split_folders

from transferlab.config import RunConfig
from transferlab.data.idx import write_idx
from transferlab.data.image_folder import load_image_folder
from transferlab.data.labeled_images import LabeledImages
from transferlab.data.pipeline import make_pipeline
from transferlab.data.source import IndexedSource
from transferlab.experiments.prepare_data import prepare_data


def _pixels(split: LabeledImages | IndexedSource) -> np.ndarray:
    if isinstance(split, LabeledImages):
        return split.images
    return np.concatenate([x[..., 0] for x, _ in make_pipeline(split, batch_size=64, evaluation=True)])


@pytest.mark.parametrize(
    "cuts",
    [
        "classes = [2, 0]\nlabels_per_class = 5\nvalidation = 0.4",
        "classes = [1, 2]\nmax_train = 12\nvalidation = 0.25",
        "",
    ],
    ids=["few-shot", "max-train", "all"],
)
def test_a_folder_is_cut_as_the_same_images_in_memory(tmp_path: Path, cuts: str) -> None:
    root = write_split_folders(tmp_path / "f", [9, 8, 10], [3, 4, 2])
    memory = tmp_path / "idx"
    memory.mkdir()
    for split, prefix in (("train", "train"), ("test", "t10k")):
        data = load_image_folder(root / split)
        write_idx(memory / f"{prefix}-images-idx3-ubyte", data.images)
        write_idx(memory / f"{prefix}-labels-idx1-ubyte", data.labels.astype("uint8"))
    template = '[data]\ndataset = "{kind}"\npath = "{path}"\n' + cuts + "\n[training]\nseed = 3\n"
    lazy = prepare_data(RunConfig.from_toml(template.format(kind="folder", path=root)))
    eager = prepare_data(RunConfig.from_toml(template.format(kind="idx", path=memory)))
    assert all(isinstance(s, IndexedSource) for s in lazy[1:] if s is not None)
    assert all(isinstance(s, LabeledImages) for s in eager[1:] if s is not None)
    for part, eager_part in zip(lazy[1:], eager[1:]):
        assert (part is None) == (eager_part is None)
        if part is not None and eager_part is not None:
            assert part.labels.tolist() == eager_part.labels.tolist()
            np.testing.assert_array_equal(_pixels(part), eager_part.images)
