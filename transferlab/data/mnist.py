"""MNIST from a folder, the cache or the official mirrors, always checked against its sha256.

Example:
    >>> import hashlib, tempfile, numpy as np
    >>> from pathlib import Path
    >>> from transferlab.data.idx import write_idx
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((4, 28, 28), "uint8"))
    >>> write_idx(folder / "train-labels-idx1-ubyte.gz", np.array([0, 1, 2, 3], "uint8"))
    >>> write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28), "uint8"))
    >>> write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([9, 9], "uint8"))
    >>> sums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    >>> splits = load_mnist(folder, checksums=sums)   # real MNIST: load_mnist()
    >>> splits.train.images.shape, splits.test.labels.tolist(), splits.train.class_names[:3]
    ((4, 28, 28), [9, 9], ('0', '1', '2'))
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from transferlab.data.dataset_splits import DatasetSplits
from transferlab.data.fetch_file import fetch_file
from transferlab.data.idx import read_idx
from transferlab.data.labeled_images import LabeledImages
from transferlab.errors import (
    ChecksumError,
    DataFileError,
    DatasetNotFoundError,
    DownloadError,
    describe,
)

__all__ = ["load_mnist"]

ENV_VAR = "TRANSFERLAB_MNIST_DIR"
# (split, images file, labels file), the official names.
_SPLITS = (
    ("train", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    ("test", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
)
FILES = tuple(name for _, images, labels in _SPLITS for name in (images, labels))
# The published files, and the same files after gunzip (accepted in local folders).
SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    # Keras' own copy (keras.datasets.mnist.load_data).
    "mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
CLASS_NAMES = tuple(str(d) for d in range(10))


def load_mnist(
    path: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    mirrors: Sequence[str] | None = None,
    download: bool = True,
    verify: bool = True,
    checksums: Mapping[str, str] | None = None,
    retries: int = 2,
    progress: bool = True,
) -> DatasetSplits:
    """Loads MNIST: 60,000 training and 10,000 test digits, 28x28 ``uint8``.

    Where it looks, in order:

    1. ``path``, if given. It must then hold the four files (``.gz`` or
       gunzipped); nothing else is tried, so a wrong path is never hidden.
    2. The folder in the ``TRANSFERLAB_MNIST_DIR`` environment variable.
    3. The cache folder: ``cache_dir``, else ``$KERAS_HOME/datasets``, else
       ``~/.keras/datasets`` (where Keras keeps its downloads): the four
       ``.gz`` files, or Keras' own ``mnist.npz``.
    4. The official mirrors, in turn, downloading into the cache folder.

    Local folders are read in place; nothing is copied into the cache. Every
    file is checked against its published sha256 before it is parsed.

    Args:
        path: A folder holding ``train-images-idx3-ubyte.gz``,
            ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
            ``t10k-labels-idx1-ubyte.gz`` (or the same without ``.gz``).
        cache_dir: The cache folder (default: Keras' datasets folder).
        mirrors: Base URLs to download from (default: :data:`MIRRORS`);
            ``[]`` means no download.
        download: Download when no copy is found.
        verify: Check the sha256 of local and cached files (downloads are
            always checked). ``False`` only for files you changed on purpose.
        checksums: File name -> sha256, overriding the published ones (for
            test files or a re-packaged copy).
        retries: Extra attempts per mirror and file after a network error.
        progress: Show a progress bar while downloading.

    Returns:
        ``DatasetSplits`` named ``"mnist"``: ``train`` and ``test`` as
        ``LabeledImages`` (images ``(N, 28, 28)`` ``uint8``, labels 0-9, class
        names ``"0"`` to ``"9"``); ``source`` is the folder or file read.

    Raises:
        ChecksumError: A local or cached file differs from the published one
            (named in the message; it is not used, nothing is copied).
        DatasetNotFoundError: No copy anywhere; lists every place looked at and
            what to put where.
        DataFileError: A file is malformed (truncated, wrong shape ...).
    """
    sums = {**SHA256, **dict(checksums or {})}
    looked: list[str] = []

    if path is not None:
        folder = Path(path).expanduser()
        found, missing = _find_in_folder(folder)
        if found is None:
            raise DatasetNotFoundError(
                describe(
                    f"MNIST files are missing from path={str(folder)!r}",
                    received=f"missing {', '.join(missing)}"
                    + ("" if folder.is_dir() else " (the folder does not exist)"),
                    accepted="a folder holding " + ", ".join(FILES) + " (or the same without .gz)",
                    fix="put the four files there, or call load_mnist() without `path` "
                    "to use the cache and the mirrors",
                )
            )
        return _load_folder(folder, found, sums, verify)

    env = os.environ.get(ENV_VAR)
    if env:
        folder = Path(env).expanduser()
        found, missing = _find_in_folder(folder)
        if found is not None:
            return _load_folder(folder, found, sums, verify)
        looked.append(f"{ENV_VAR}={env}: missing {', '.join(missing)}")
    else:
        looked.append(f"{ENV_VAR}: not set")

    cache = Path(cache_dir).expanduser() if cache_dir is not None else _keras_datasets_dir()
    cached = [name for name in FILES if (cache / name).is_file()]
    if len(cached) == len(FILES):
        if verify:
            for name in FILES:
                fetch_file(name, sha256=sums[name], mirrors=[], cache_dir=cache)
        return _parse_splits({name: cache / name for name in FILES}, str(cache))
    npz = cache / "mnist.npz"
    if npz.is_file():
        return _load_npz(npz, sums["mnist.npz"] if verify else None)
    missing = [name for name in FILES if name not in cached]
    looked.append(f"cache folder {cache}: missing {', '.join(missing)}; no mnist.npz")

    mirror_list = list(MIRRORS if mirrors is None else mirrors)
    if not download or not mirror_list:
        reason = "download=False" if not download else "mirrors=[]"
        looked.append(f"mirrors: not tried ({reason})")
    else:
        try:
            paths = {
                name: fetch_file(
                    name,
                    sha256=sums[name],
                    mirrors=mirror_list,
                    cache_dir=cache,
                    retries=retries,
                    progress=progress,
                )
                for name in FILES
            }
        except DownloadError as err:
            looked.append(f"mirrors: {err}")
        else:
            return _parse_splits(paths, str(cache))

    raise DatasetNotFoundError(
        describe(
            "MNIST was not found anywhere and could not be downloaded",
            received="looked at: " + " | ".join(f"{i}) {place}" for i, place in enumerate(looked, 1)),
            accepted="the files " + ", ".join(FILES) + f" in the cache folder {cache}, "
            "or Keras' mnist.npz there",
            fix=f"copy the four files into {cache}, or into any folder and set "
            f"{ENV_VAR}=/that/folder (or pass path=...), or run once with internet access "
            "and download=True",
        )
    )


def _keras_datasets_dir() -> Path:
    home = os.environ.get("KERAS_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".keras"
    return base / "datasets"


def _find_in_folder(folder: Path) -> tuple[dict[str, Path] | None, list[str]]:
    """The four files (the gunzipped one preferred: faster), or the missing names."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for name in FILES:
        raw = folder / name.removesuffix(".gz")
        if raw.is_file():
            found[name] = raw
        elif (folder / name).is_file():
            found[name] = folder / name
        else:
            missing.append(name)
    return (None, missing) if missing else (found, [])


def _load_folder(
    folder: Path, found: dict[str, Path], sums: Mapping[str, str], verify: bool
) -> DatasetSplits:
    if verify:  # all four before parsing any: a bad file fails fast
        for file in found.values():
            _verify_local(file, sums[file.name])
    return _parse_splits(found, str(folder))


def _verify_local(file: Path, expected: str) -> None:
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    actual = digest.hexdigest()
    if actual != expected.lower():
        raise ChecksumError(
            describe(
                f"{file} is corrupt or not the official MNIST file: its sha256 differs",
                received=f"sha256 {actual}",
                accepted=f"sha256 {expected.lower()}",
                fix=f"replace {file.name} with a good copy, or delete the folder's files and "
                "let load_mnist() download them into the cache (pass verify=False only "
                "for a file you changed on purpose)",
            )
        )


def _parse_splits(paths: Mapping[str, Path], source: str) -> DatasetSplits:
    splits = {}
    for split, images_name, labels_name in _SPLITS:
        images_path, labels_path = paths[images_name], paths[labels_name]
        images = read_idx(images_path)
        labels = read_idx(labels_path)
        splits[split] = _check(images, labels, images_path, labels_path)
    return DatasetSplits("mnist", splits["train"], splits["test"], source=source)


def _check(
    images: npt.NDArray[np.generic[object]],
    labels: npt.NDArray[np.generic[object]],
    images_from: object,
    labels_from: object,
) -> LabeledImages:
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise DataFileError(
            describe(
                f"{images_from} does not hold MNIST images",
                received=f"shape {images.shape}, dtype {images.dtype}",
                accepted="shape (N, 28, 28), dtype uint8",
                fix="use the official files; for other IDX data sets use load_idx_dataset()",
            )
        )
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataFileError(
            describe(
                f"{labels_from} does not hold MNIST labels",
                received=f"shape {labels.shape}, dtype {labels.dtype}",
                accepted="shape (N,), integers 0-9",
            )
        )
    if len(labels) != len(images):
        raise DataFileError(
            describe(
                f"{images_from} and {labels_from} do not match",
                received=f"{len(images)} images, {len(labels)} labels",
                fix="use the images and labels files of the same split and download",
            )
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataFileError(
            describe(
                f"{labels_from} holds labels outside 0-9",
                received=f"labels in [{labels.min()}, {labels.max()}]",
                fix="use the official files",
            )
        )
    return LabeledImages(images, labels, CLASS_NAMES)


def _load_npz(npz: Path, expected: str | None) -> DatasetSplits:
    if expected is not None:
        fetch_file(npz.name, sha256=expected, mirrors=[], cache_dir=npz.parent)
    try:
        with np.load(npz, allow_pickle=False) as data:
            arrays = {key: data[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise DataFileError(
            describe(
                f"{npz} is not a readable Keras mnist.npz",
                received=f"{type(err).__name__}: {err}",
                accepted="an .npz with x_train, y_train, x_test, y_test",
                fix=f"delete {npz} and load again",
            )
        ) from None
    train = _check(arrays["x_train"], arrays["y_train"], f"{npz}[x_train]", f"{npz}[y_train]")
    test = _check(arrays["x_test"], arrays["y_test"], f"{npz}[x_test]", f"{npz}[y_test]")
    return DatasetSplits("mnist", train, test, source=str(npz))
