"""Tests of load_mnist: the real files, every place it looks, and download from local mirrors."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from http_mirror import HttpMirror, refused_url  # tests/helpers (see the root conftest)

from transferlab.data.dataset_splits import DatasetSplits
from transferlab.data.idx import write_idx
from transferlab.data.mnist import FILES, SHA256, load_mnist
from transferlab.errors import ChecksumError, DataFileError, DatasetNotFoundError

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the CI's TRANSFERLAB_MNIST_DIR or a real ~/.keras."""
    monkeypatch.delenv("TRANSFERLAB_MNIST_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home_unused"))


@pytest.fixture(scope="session")
def real_mnist(mnist_dir: Path) -> DatasetSplits:
    return load_mnist(mnist_dir)


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, bytes], dict[str, str]]:
    """Four tiny MNIST-format files (gzipped) and their sha256s."""
    folder = tmp_path_factory.mktemp("synthetic")
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.tile(np.arange(10, dtype=np.uint8), 2),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.arange(10, dtype=np.uint8)[::-1].copy(),
    }
    files = {}
    for name, array in arrays.items():
        write_idx(folder / name, array)
        files[name] = (folder / name).read_bytes()
    return files, {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def _write_files(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


# --- the real files --------------------------------------------------------------------------


def test_real_mnist_shapes_dtypes_and_counts(real_mnist: DatasetSplits, mnist_dir: Path) -> None:
    assert real_mnist.name == "mnist" and real_mnist.source == str(mnist_dir)
    for split, n, counts in ((real_mnist.train, 60000, TRAIN_COUNTS), (real_mnist.test, 10000, TEST_COUNTS)):
        assert split.images.shape == (n, 28, 28) and split.images.dtype == np.uint8
        assert split.labels.shape == (n,) and np.issubdtype(split.labels.dtype, np.integer)
        assert split.class_names == tuple("0123456789")
        assert split.class_counts().tolist() == counts
    assert 0 < real_mnist.train.images.mean() < 255


def test_real_files_gunzipped_in_a_folder(tmp_path: Path, mnist_dir: Path, real_mnist: DatasetSplits) -> None:
    import gzip

    folder = tmp_path / "raw"
    folder.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name.removesuffix(".gz")).write_bytes(gzip.decompress((mnist_dir / name).read_bytes()))
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (folder / name).symlink_to(mnist_dir / name)
    # The gunzipped files are verified against the sha256 of the official content.
    assert (
        SHA256["t10k-labels-idx1-ubyte"]
        == hashlib.sha256((folder / "t10k-labels-idx1-ubyte").read_bytes()).hexdigest()
    )
    splits = load_mnist(folder, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(splits.test.images, real_mnist.test.images)
    assert not (tmp_path / "cache").exists()


def test_one_byte_changed_in_a_local_copy(tmp_path: Path, mnist_dir: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in FILES:
        shutil.copyfile(mnist_dir / name, copy / name)
    target = copy / "t10k-images-idx3-ubyte.gz"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    cache = tmp_path / "cache"
    cache.mkdir()
    with pytest.raises(
        ChecksumError,
        match=rf"{target} is corrupt or not the official MNIST file: its sha256 differs.*"
        rf"Accepted: sha256 {SHA256[target.name]}.*Fix: replace t10k-images-idx3-ubyte\.gz",
    ):
        load_mnist(path=copy, cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_real_download_from_local_mirror(tmp_path: Path, mnist_dir: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    for name in FILES:
        shutil.copyfile(mnist_dir / name, served / name)
    files = {name: (served / name).read_bytes() for name in FILES}
    cache = tmp_path / "cache"
    with HttpMirror(files) as mirror:
        splits = load_mnist(cache_dir=cache, mirrors=[refused_url(), mirror.url], progress=False, retries=0)
    assert sorted(mirror.requests) == sorted(f"/{name}" for name in FILES)
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES)
    assert splits.source == str(cache)
    assert splits.train.class_counts().tolist() == TRAIN_COUNTS
    assert splits.test.class_counts().tolist() == TEST_COUNTS


# --- where it looks (synthetic files) --------------------------------------------------------


def test_env_var_folder(
    tmp_path: Path, synthetic: tuple[dict[str, bytes], dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    files, sums = synthetic
    folder = _write_files(tmp_path / "env", files)
    monkeypatch.setenv("TRANSFERLAB_MNIST_DIR", str(folder))
    splits = load_mnist(cache_dir=tmp_path / "cache", checksums=sums, download=False)
    assert splits.source == str(folder) and len(splits.train) == 20 and len(splits.test) == 10
    assert splits.test.labels.tolist() == list(range(9, -1, -1))


def test_path_wins_over_env(
    tmp_path: Path, synthetic: tuple[dict[str, bytes], dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    files, sums = synthetic
    monkeypatch.setenv("TRANSFERLAB_MNIST_DIR", str(tmp_path / "nothing-here"))
    folder = _write_files(tmp_path / "explicit", files)
    assert load_mnist(folder, checksums=sums).source == str(folder)


def test_cache_found_via_keras_home(
    tmp_path: Path, synthetic: tuple[dict[str, bytes], dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    files, sums = synthetic
    home = tmp_path / "kh"
    _write_files(home / "datasets", files)
    monkeypatch.setenv("KERAS_HOME", str(home))
    with HttpMirror(files) as mirror:
        splits = load_mnist(mirrors=[mirror.url], checksums=sums)
    assert splits.source == str(home / "datasets") and mirror.requests == []


def test_keras_npz_in_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "kh"
    (home / "datasets").mkdir(parents=True)
    npz = home / "datasets" / "mnist.npz"
    np.savez(
        npz,
        x_train=np.zeros((3, 28, 28), "uint8"),
        y_train=np.array([1, 2, 3], "uint8"),
        x_test=np.zeros((1, 28, 28), "uint8"),
        y_test=np.array([7], "uint8"),
    )
    monkeypatch.setenv("KERAS_HOME", str(home))
    good = hashlib.sha256(npz.read_bytes()).hexdigest()
    splits = load_mnist(download=False, checksums={"mnist.npz": good})
    assert splits.source == str(npz) and splits.train.labels.tolist() == [1, 2, 3]
    # Against Keras' published sha256 this file is not Keras' copy: refused, named.
    with pytest.raises(
        ChecksumError,
        match=rf"cached file {npz} is corrupt or not the published "
        rf"mnist\.npz.*Accepted: sha256 {SHA256['mnist.npz']}",
    ):
        load_mnist(download=False)


def test_corrupt_cached_file_is_never_used(
    tmp_path: Path, synthetic: tuple[dict[str, bytes], dict[str, str]]
) -> None:
    files, sums = synthetic
    cache = _write_files(tmp_path / "cache", files)
    (cache / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b broken")
    with HttpMirror(files) as mirror:
        with pytest.raises(ChecksumError, match=r"train-labels-idx1-ubyte\.gz is corrupt.*Fix: delete"):
            load_mnist(cache_dir=cache, mirrors=[mirror.url], checksums=sums)
    assert mirror.requests == []


def test_partial_cache_downloads_only_the_missing_files(
    tmp_path: Path, synthetic: tuple[dict[str, bytes], dict[str, str]]
) -> None:
    files, sums = synthetic
    cache = _write_files(
        tmp_path / "cache", {"train-images-idx3-ubyte.gz": files["train-images-idx3-ubyte.gz"]}
    )
    with HttpMirror(files) as mirror:
        load_mnist(cache_dir=cache, mirrors=[mirror.url], checksums=sums, progress=False, retries=0)
    assert sorted(mirror.requests) == [
        "/t10k-images-idx3-ubyte.gz",
        "/t10k-labels-idx1-ubyte.gz",
        "/train-labels-idx1-ubyte.gz",
    ]


# --- mirrors (synthetic files) ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["corrupt", "drop", "down"])
def test_bad_first_mirror_then_next(
    tmp_path: Path, synthetic: tuple[dict[str, bytes], dict[str, str]], mode: str
) -> None:
    files, sums = synthetic
    cache = tmp_path / "cache"
    with HttpMirror(files, mode="ok" if mode == "down" else mode) as bad, HttpMirror(files) as good:
        first = refused_url() if mode == "down" else bad.url
        splits = load_mnist(
            cache_dir=cache, mirrors=[first, good.url], checksums=sums, progress=False, retries=0
        )
    assert len(good.requests) == 4
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES)  # no partial or temp files
    for name in FILES:
        assert (cache / name).read_bytes() == files[name]
    assert splits.train.class_counts().tolist() == [2] * 10


def test_every_mirror_fails(tmp_path: Path, synthetic: tuple[dict[str, bytes], dict[str, str]]) -> None:
    files, sums = synthetic
    cache = tmp_path / "cache"
    with HttpMirror(files, mode="drop") as drop, pytest.raises(DatasetNotFoundError) as info:
        load_mnist(
            cache_dir=cache, mirrors=[drop.url, refused_url()], checksums=sums, progress=False, retries=0
        )
    text = str(info.value)
    assert "MNIST was not found anywhere and could not be downloaded" in text
    assert "1) TRANSFERLAB_MNIST_DIR: not set" in text
    assert "3) mirrors: Could not download train-images-idx3-ubyte.gz from any of the 2 mirrors" in text
    assert f"{drop.url}train-images-idx3-ubyte.gz -> connection closed after" in text
    assert "Connection refused" in text
    assert list(cache.iterdir()) == []  # nothing half-written in the cache


def test_offline_with_nothing_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty_env = tmp_path / "env"
    empty_env.mkdir()
    monkeypatch.setenv("TRANSFERLAB_MNIST_DIR", str(empty_env))
    cache = tmp_path / "cache"
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist(cache_dir=cache, download=False)
    text = str(info.value)
    missing = (
        "missing train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz"
    )
    assert text.startswith("MNIST was not found anywhere and could not be downloaded. Received: looked at: ")
    assert f"1) TRANSFERLAB_MNIST_DIR={empty_env}: {missing}" in text
    assert f"2) cache folder {cache}: {missing}; no mnist.npz" in text
    assert "3) mirrors: not tried (download=False)" in text
    assert (
        f"Fix: copy the four files into {cache}, or into any folder and set "
        "TRANSFERLAB_MNIST_DIR=/that/folder (or pass path=...)" in text
    )
    assert not cache.exists()


def test_default_cache_is_keras_home_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    with pytest.raises(DatasetNotFoundError, match=rf"cache folder {tmp_path / 'kh' / 'datasets'}: missing"):
        load_mnist(mirrors=[])


def test_explicit_path_missing_files(
    tmp_path: Path, synthetic: tuple[dict[str, bytes], dict[str, str]]
) -> None:
    files, _ = synthetic
    folder = _write_files(tmp_path / "half", {k: v for k, v in files.items() if k.startswith("train")})
    with pytest.raises(
        DatasetNotFoundError,
        match=r"MNIST files are missing from path=.*half.*Received: "
        r"missing t10k-images-idx3-ubyte\.gz, t10k-labels-idx1-ubyte\.gz\. Accepted",
    ):
        load_mnist(folder)
    with pytest.raises(DatasetNotFoundError, match=r"\(the folder does not exist\)"):
        load_mnist(tmp_path / "nowhere")


def test_verify_false_and_wrong_content(
    tmp_path: Path, synthetic: tuple[dict[str, bytes], dict[str, str]]
) -> None:
    files, _ = synthetic
    folder = _write_files(tmp_path / "f", files)
    # Without checksums, the synthetic files are not the official ones...
    with pytest.raises(ChecksumError, match=r"train-images-idx3-ubyte\.gz is corrupt"):
        load_mnist(folder)
    # ...but verify=False reads them; their content is still checked.
    assert len(load_mnist(folder, verify=False).train) == 20
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.arange(9, dtype=np.uint8))
    with pytest.raises(
        DataFileError,
        match=r"t10k-images-idx3-ubyte\.gz and .*t10k-labels-idx1-ubyte\.gz "
        r"do not match.*Received: 10 images, 9 labels",
    ):
        load_mnist(folder, verify=False)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(10, 10, dtype=np.uint8))
    with pytest.raises(DataFileError, match=r"holds labels outside 0-9.*Received: labels in \[10, 10\]"):
        load_mnist(folder, verify=False)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((10, 32, 32), np.uint8))
    with pytest.raises(DataFileError, match=r"does not hold MNIST images.*Received: shape \(10, 32, 32\)"):
        load_mnist(folder, verify=False)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((10, 28, 28), np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros((10, 1), np.uint8))
    with pytest.raises(DataFileError, match=r"does not hold MNIST labels.*Received: shape \(10, 1\)"):
        load_mnist(folder, verify=False)
