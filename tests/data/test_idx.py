"""Tests of read_idx / write_idx: round trips and every error path."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from transferlab.data.idx import read_idx, write_idx
from transferlab.errors import ChecksumError, DataError, DataFileError


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_every_dtype(tmp_path: Path, dtype: str, compress: bool) -> None:
    array = (np.arange(24) - 5).reshape(2, 3, 4).astype(dtype)
    path = tmp_path / "a-idx3"
    write_idx(path, array, gzip=compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") is compress
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


def test_big_endian_layout_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "x"
    write_idx(path, np.array([1, 256], dtype="int16"))
    assert path.read_bytes() == bytes.fromhex("00000b010000000200010100")


def test_gzip_detected_by_content_not_name(tmp_path: Path) -> None:
    array = np.arange(6, dtype="uint8").reshape(2, 3)
    gz_named_plain = tmp_path / "plain.gz"
    write_idx(gz_named_plain, array, gzip=False)
    plain_named_gz = tmp_path / "plain-idx2-ubyte"
    write_idx(plain_named_gz, array, gzip=True)
    np.testing.assert_array_equal(read_idx(gz_named_plain), array)
    np.testing.assert_array_equal(read_idx(plain_named_gz), array)


def test_gzip_default_follows_suffix_and_is_reproducible(tmp_path: Path) -> None:
    write_idx(tmp_path / "a.gz", np.zeros(3, "uint8"))
    write_idx(tmp_path / "b.gz", np.zeros(3, "uint8"))
    assert (tmp_path / "a.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    write_idx(tmp_path / "x", np.zeros(3, "uint8"))
    write_idx(tmp_path / "x", np.ones(4, "uint8"))
    assert [p.name for p in tmp_path.iterdir()] == ["x"]
    assert read_idx(tmp_path / "x").tolist() == [1, 1, 1, 1]


def test_zero_length_dimension(tmp_path: Path) -> None:
    write_idx(tmp_path / "x", np.zeros((0, 28, 28), "uint8"))
    assert read_idx(tmp_path / "x").shape == (0, 28, 28)


def test_sha256_checked_on_stored_bytes(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    write_idx(path, np.arange(5, dtype="uint8"))
    good = hashlib.sha256(path.read_bytes()).hexdigest()
    assert read_idx(path, sha256=good.upper()).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(
        ChecksumError,
        match=rf"x\.gz is corrupt.*Received: sha256 {good}.*"
        rf"Accepted: sha256 {'0' * 64}.*Fix: delete .*x\.gz",
    ):
        read_idx(path, sha256="0" * 64)


def _write(tmp_path: Path, data: bytes, name: str = "f") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


HEADER_2x3_U8 = bytes.fromhex("000008020000000200000003")


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (b"", r"is empty \(0 bytes\)"),
        (b"\x00\x00", r"truncated: shorter than the 4-byte magic number.*Received: 2 bytes"),
        (
            bytes.fromhex("00000803") + b"\x00" * 5,
            r"truncated inside its header.*Received: 9 bytes"
            r".*Accepted: at least 16 bytes for 3 dimensions",
        ),
        (
            HEADER_2x3_U8 + b"\x01" * 5,
            r"truncated: it holds fewer bytes than its dimensions say"
            r".*Received: 17 bytes.*Accepted: 18 bytes for shape \(2, 3\) of uint8",
        ),
        (HEADER_2x3_U8 + b"\x01" * 7, r"trailing garbage.*Received: 19 bytes \(1 extra\)"),
        (
            bytes.fromhex("504b0304") + b"\x00" * 20,
            r"not an IDX file: wrong magic number"
            r".*Received: magic 0x504B0304",
        ),
        (
            bytes.fromhex("00000a0100000001") + b"\x00",
            r"unknown IDX dtype code"
            r".*Received: code 0x0A.*Accepted: 0x08 \(uint8\), 0x09 \(int8\), 0x0B \(int16\)",
        ),
        (bytes.fromhex("00000800"), r"declares 0 dimensions"),
    ],
    ids=["empty", "short-magic", "short-header", "truncated", "trailing", "magic", "dtype", "ndim0"],
)
def test_malformed_files(tmp_path: Path, data: bytes, pattern: str) -> None:
    with pytest.raises(DataFileError, match=pattern):
        read_idx(_write(tmp_path, data))
    # The same bytes gzipped give the same error, flagged as being after gunzip.
    with pytest.raises(DataFileError, match=r"\(after gunzip\) .*" + pattern if data else pattern):
        read_idx(_write(tmp_path, gzip.compress(data), "f.gz"))


def test_truncated_gzip_stream(tmp_path: Path) -> None:
    whole = gzip.compress(HEADER_2x3_U8 + bytes(range(6)) * 100)
    path = _write(tmp_path, whole[: len(whole) // 2], "cut.gz")
    with pytest.raises(
        DataFileError,
        match=r"cut\.gz starts like a gzip file but cannot be "
        r"decompressed \(truncated or corrupt\).*Fix: delete it and download",
    ):
        read_idx(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"nope does not exist"):
        read_idx(tmp_path / "nope")
    with pytest.raises(DataFileError, match=r"is a folder, not an IDX file"):
        read_idx(tmp_path)


def test_write_rejects_unstorable_arrays(tmp_path: Path) -> None:
    with pytest.raises(
        DataError,
        match=r"IDX cannot store this dtype.*Received: dtype=int64"
        r".*Fix: convert first",
    ):
        write_idx(tmp_path / "x", np.zeros(3, "int64"))
    with pytest.raises(DataError, match=r"1 to 255 dimensions.*Received: shape=\(\)"):
        write_idx(tmp_path / "x", np.array(3, "uint8"))
    assert list(tmp_path.iterdir()) == []


def test_real_mnist_labels_header(mnist_dir: Path) -> None:
    labels = read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
