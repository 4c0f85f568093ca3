"""DataConfig: the folder options (image_size, color_mode, resize, test_path) and load_dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_folders import write_split_folders

from transferlab.config import DataConfig, RunConfig
from transferlab.data.image_folder_source import ImageFolderSource
from transferlab.errors import ConfigError


def test_a_folder_config_loads_sources_read_as_it_says(tmp_path: Path) -> None:
    root = write_split_folders(tmp_path / "f", [2, 3], [1, 1], size=(6, 6))
    config = RunConfig.from_toml(
        f'[data]\ndataset = "folder"\npath = "{root}"\nimage_size = [4, 5]\ncolor_mode = "rgb"\nresize = "pad"\n'
    )
    splits = config.data.load_dataset()
    assert isinstance(splits.train, ImageFolderSource) and isinstance(splits.test, ImageFolderSource)
    assert splits.train.element_shape == splits.test.element_shape == (4, 5, 3)
    assert splits.train.resize == "pad" and splits.test.color_mode == "rgb"
    alone = DataConfig(
        dataset="folder", path=str(root / "train"), test_path=str(root / "test")
    ).load_dataset()
    assert alone.train.labels.tolist() == splits.train.labels.tolist() and alone.train.element_shape == (
        6,
        6,
        1,
    )


@pytest.mark.parametrize("size", [(224,), (224, 224, 3), (0, 224), (-1, 5)])
def test_image_size_is_two_positive_sizes_or_empty(size: tuple[int, ...]) -> None:
    pattern = (
        r"`data.image_size` must be two positive sizes, height and width, or empty\. "
        rf"Received: data.image_size=\[{', '.join(map(str, size))}\]\. Fix: pass e.g. image_size = \[224, 224\]"
    )
    with pytest.raises(ConfigError, match=pattern):
        DataConfig(image_size=size)
    assert DataConfig(image_size=()).image_size == () and DataConfig(image_size=(2, 3)).image_size == (2, 3)


@pytest.mark.parametrize(("key", "value"), [("dataset", "cifar"), ("color_mode", "cmyk"), ("resize", "crop")])
def test_choices(key: str, value: str) -> None:
    with pytest.raises(
        ConfigError, match=rf"Bad value for config key `data.{key}`\. Received: data.{key}='{value}'"
    ):
        DataConfig.from_mapping({key: value})


def test_pad_without_a_size_is_refused_when_the_folder_is_read(tmp_path: Path) -> None:
    root = write_split_folders(tmp_path / "f", [1, 1], [1, 1])
    with pytest.raises(ConfigError, match=r"`resize='pad'` needs an `image_size`"):
        DataConfig(dataset="folder", path=str(root), resize="pad").load_dataset()


def test_tta_is_off_by_default_and_draws_with_the_training_preset_else_light() -> None:
    assert DataConfig().tta == 0
    config = RunConfig.from_toml('[data]\ntta = 4\naugment = "strong"\n')
    assert config.data.tta == 4 and config.tta_preset() == "strong"
    assert RunConfig.from_toml("[data]\ntta = 2\n").tta_preset() == "light"
    # augment = "auto": the preset the strategy trains with on few labels (lp_ft: standard)
    few = RunConfig.from_toml('[data]\nlabels_per_class = 5\n[strategy]\nkind = "lp_ft"\n')
    assert few.tta_preset() == "standard" and few.tta_preset("scratch") == "light"


def test_augment_auto_turns_augmentation_on_only_where_it_was_measured_to_help() -> None:
    assert DataConfig().augment == "auto"
    few = RunConfig.from_toml('[data]\nlabels_per_class = 5\n[strategy]\nkind = "lp_ft"\n')
    assert few.augment_preset() == "standard" and few.augmentation() is not None
    assert [few.augment_preset(kind) for kind in ("fine_tune", "scratch", "linear_probe")] == ["none"] * 3
    assert few.augmentation("fine_tune") is None
    all_labels = RunConfig.from_toml('[strategy]\nkind = "lp_ft"\n')
    assert all_labels.augment_preset() == "none"
    chosen = RunConfig.from_toml(
        '[data]\nlabels_per_class = 5\naugment = "light"\n[strategy]\nkind = "scratch"\n'
    )
    assert chosen.augment_preset() == "light"  # a preset named is used as named
    none = RunConfig.from_toml('[data]\nlabels_per_class = 5\naugment = "none"\n[strategy]\nkind = "lp_ft"\n')
    assert none.augmentation() is None
    assert "0: off" in DataConfig.field_docs()["tta"]


def test_a_negative_tta_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        DataConfig(tta=-1)
    assert str(info.value) == (
        "`data.tta` must be >= 0. Received: data.tta=-1. Fix: use 0 for no test-time augmentation, "
        "or e.g. 4 (--tta 4) for each test image and 4 augmented copies."
    )
