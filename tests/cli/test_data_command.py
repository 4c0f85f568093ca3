"""`transferlab data` on folders and TFRecords: the summary, --check naming a bad file, --to-tfrecords."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_folders import damage, write_split_folders

from transferlab.cli.main import main


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    return write_split_folders(tmp_path / "pets", [5, 7], [2, 3])


def test_a_folder_summary_reads_no_pixels_and_says_what_a_check_reads(folder: Path, capsys) -> None:
    damage(folder / "train" / "c1" / "004.png")  # only reading its pixels would find it
    assert main(["data", "--dataset", "folder", "--path", str(folder), "--color-mode", "rgb"]) == 0
    out = capsys.readouterr().out
    assert "train   12        8x8x3     c0:5 c1:7" in out and "test    5         8x8x3     c0:2 c1:3" in out
    assert "train: ImageFolderSource\n  examples        12\n" in out
    assert f"  folder          {folder / 'train'}\n" in out and "  formats         PNG: 12\n" in out
    assert "  element shape   8x8x3\n" in out and "  pixel range     [0, 255]\n" in out


def test_check_names_the_file_that_cannot_be_read(folder: Path, capsys) -> None:
    argv = ["data", "--dataset", "folder", "--path", str(folder), "--check"]
    assert main(argv) == 0
    assert "check: train: all 12 files decode\ncheck: test: all 5 files decode\n" in capsys.readouterr().out
    bad = damage(folder / "test" / "c0" / "001.png")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (
        f"transferlab: error: Cannot decode the image {bad}: it is a damaged or unsupported PNG file" in err
    )
    assert "Traceback" not in err


def test_a_file_that_is_no_image_is_named_without_check(folder: Path, capsys) -> None:
    (folder / "train" / "c0" / "notes.png").write_bytes(b"not a picture")
    assert main(["data", "--dataset", "folder", "--path", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("transferlab: error: ") and str(folder / "train" / "c0" / "notes.png") in err
    assert "Traceback" not in err


def test_to_tfrecords_then_the_records_summarise_and_check_alike(
    folder: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "records"
    argv = ["data", "--dataset", "folder", "--path", str(folder), "--to-tfrecords", str(out), "--shards", "3"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out / 'train'}: 12 examples, shard files: 3\n" in printed
    assert f"wrote {out / 'test'}: 5 examples, shard files: 2\n" in printed  # ceil(3 * 5 / 12)
    assert f"train on them: transferlab train --dataset tfrecord --path {out}" in printed
    assert main(["data", "--dataset", "tfrecord", "--path", str(out), "--check"]) == 0
    printed = capsys.readouterr().out
    assert "train   12        8x8x1     c0:5 c1:7" in printed and "train: TFRecordSource\n" in printed
    assert "check: test: all 5 records match their checksums and the index" in printed
    assert main([*argv]) == 2  # the folder is not empty
    assert f"transferlab: error: The folder {out / 'train'} is not empty" in capsys.readouterr().err
    assert main([*argv, "--overwrite", "--encoding", "raw"]) == 0
    capsys.readouterr()
    shard = sorted((out / "train").glob("shard-*.tfrecord"))[1]
    shard.write_bytes(shard.read_bytes()[:-5])
    assert main(["data", "--dataset", "tfrecord", "--path", str(out), "--check"]) == 2
    assert shard.name in capsys.readouterr().err


def test_conversion_flags_need_a_conversion(folder: Path, capsys) -> None:
    assert main(["data", "--dataset", "folder", "--path", str(folder), "--shards", "2", "--overwrite"]) == 2
    assert capsys.readouterr().err == (
        "transferlab: error: `--shards` applies to a conversion. Received: --shards --overwrite. "
        "Fix: add --to-tfrecords OUT, or leave it out.\n"
    )


def test_a_run_config_names_the_data_set_and_flags_override_it(folder: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "run.toml"
    config.write_text(f'[data]\ndataset = "folder"\npath = "{folder}"\nimage_size = [4, 4]\n')
    assert main(["data", "--config", str(config)]) == 0
    assert "train   12        4x4x1" in capsys.readouterr().out
    assert main(["data", "--config", str(config), "--image-size", "6", "5"]) == 0
    assert "train   12        6x5x1" in capsys.readouterr().out


def test_a_flat_folder_is_refused_pointing_at_test_path(folder: Path, capsys) -> None:
    argv = ["data", "--dataset", "folder", "--path", str(folder / "train")]
    assert main(argv) == 2
    assert "--test-path (data.test_path)" in capsys.readouterr().err
    assert main([*argv, "--test-path", str(folder / "test")]) == 0
    assert "test    5 " in capsys.readouterr().out
