"""Reading images to predict on: PNG/JPEG files, IDX files, NumPy ``.npy``/``.npz`` files."""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from transferlab.data.image_folder_source import check_image_size
from transferlab.errors import ConfigError, DataFileError, describe

__all__ = ["read_images"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
_NUMPY_SUFFIXES = (".npy", ".npz")
_IDX_NAME = re.compile(r"(idx\d)|(\.idx(\.gz)?$)", re.IGNORECASE)
_ACCEPTED = ".png, .jpg, .jpeg, .gif, .bmp, .npy, .npz, IDX files (*-idx3-ubyte[.gz], *.idx)"
_NPZ_KEYS = ("images", "x", "x_test")


def read_images(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    size: Sequence[int] | None = None,
    channels: int | None = None,
) -> npt.NDArray[np.uint8]:
    """Reads image files into one ``uint8`` array of raw pixels.

    A PNG/JPEG/GIF/BMP file (decoded with ``tf.io`` by its content, as a viewer
    shows it: EXIF orientation applied, CMYK, palette and 16-bit images
    converted, see :func:`~transferlab.data.image_folder.decode_image_file`) holds one image; an IDX file (e.g.
    ``t10k-images-idx3-ubyte.gz``) or a NumPy file holds ``(N, H, W)`` or
    ``(N, H, W, C)`` images (a 2-D array is one image). A ``.npz`` file must hold
    one array, or one named ``images``, ``x`` or ``x_test``. The images of all
    files are stacked in order.

    Args:
        paths: One file or several.
        size: ``(height, width)`` to resize every image to (bilinear with
            antialiasing), e.g. a model's input size. ``None``: every image
            must have the size of the first.
        channels: 1 or 3 to convert every image (luminance / repeated gray;
            an alpha channel is dropped). ``None``: keep them; all must agree.

    Returns:
        ``uint8`` ``(N, H, W)`` when every source is channel-less (IDX, NumPy)
        and ``channels`` is ``None``, else ``(N, H, W, C)``.

    Raises:
        DataFileError: A file is missing, undecodable, of an unknown kind,
            holds an array of the wrong rank or values outside [0, 255], or
            images whose size or channels differ from the first file's.
        ConfigError: For a bad ``size`` or ``channels``, or no paths.

    Example:
        >>> import tempfile, numpy as np
        >>> from pathlib import Path
        >>> path = Path(tempfile.mkdtemp()) / "digits.npy"
        >>> np.save(path, np.zeros((3, 28, 28), "uint8"))
        >>> read_images(path).shape, read_images([path, path], size=(32, 32), channels=3).shape
        ((3, 28, 28), (6, 32, 32, 3))
    """
    files = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not files:
        raise ConfigError(
            describe(
                "`paths` names no file", received="paths=[]", fix="pass at least one image, IDX or NumPy file"
            )
        )
    target_size = check_image_size(size, name="size")
    if channels is not None and channels not in (1, 3):
        raise ConfigError(describe("`channels` must be 1, 3 or None", received=f"channels={channels!r}"))
    stacks: list[npt.NDArray[np.uint8]] = []
    first: tuple[Path, tuple[int, ...]] | None = None
    for item in files:
        path = Path(item)
        images = _convert(_read_one(path), path, target_size, channels)
        if first is None:
            first = (path, images.shape[1:])
        elif images.shape[1:3] != first[1][:2]:
            raise DataFileError(
                describe(
                    f"The images in {path} differ in size from those in {first[0]}",
                    received=f"{images.shape[1]}x{images.shape[2]} vs {first[1][0]}x{first[1][1]}",
                    fix="pass size=(height, width) (the CLI uses the model's input size)",
                )
            )
        elif _channels_of(images) != _channels_of_shape(first[1]):
            raise DataFileError(
                describe(
                    f"The images in {path} differ in channels from those in {first[0]}",
                    received=f"{_channels_of(images)} vs {_channels_of_shape(first[1])} channels",
                    fix="pass channels=1 or channels=3",
                )
            )
        stacks.append(images)
    if any(s.ndim == 4 for s in stacks):
        stacks = [s if s.ndim == 4 else s[..., None] for s in stacks]
    return np.concatenate(stacks)


def _channels_of(images: npt.NDArray[np.generic[object]]) -> int:
    return _channels_of_shape(images.shape[1:])


def _channels_of_shape(shape: tuple[int, ...]) -> int:
    return int(shape[2]) if len(shape) == 3 else 1


def _read_one(path: Path) -> npt.NDArray[np.generic[object]]:
    """The file's images, ``(N, H, W)`` or ``(N, H, W, C)``, any numeric dtype."""
    if not path.exists():
        raise DataFileError(describe(f"Image file {path} does not exist", fix="check the path"))
    if path.is_dir():
        raise DataFileError(
            describe(
                f"{path} is a folder, not an image file", fix="pass the files themselves, e.g. DIR/*.png"
            )
        )
    suffix = path.suffix.lower()
    if suffix in _IMAGE_SUFFIXES:
        return _decode(path)[None]
    if suffix in _NUMPY_SUFFIXES:
        array = _load_numpy(path)
    elif _IDX_NAME.search(path.name):
        from transferlab.data.idx import read_idx

        array = read_idx(path)
    else:
        raise DataFileError(
            describe(
                f"Cannot tell what kind of file {path} is from its name",
                received=f"extension {path.suffix or '(none)'!r}",
                accepted=_ACCEPTED,
                fix="rename it with one of the accepted extensions",
            )
        )
    return _check_array(array, path)


def _decode(path: Path) -> npt.NDArray[np.uint8]:
    """One image file as a viewer shows it (EXIF orientation, CMYK, palette, 16-bit...), alpha dropped."""
    from transferlab.data.image_folder import decode_image_file

    image = decode_image_file(path)
    if image.shape[-1] in (2, 4):  # gray + alpha, RGBA: drop alpha
        image = image[..., :-1]
    return np.asarray(image, dtype=np.uint8)


def _load_numpy(path: Path) -> npt.NDArray[np.generic[object]]:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        reason = " ".join(str(error).split())[:200]
        raise DataFileError(
            describe(
                f"Cannot read NumPy file {path}",
                received=reason,
                fix="save the images with numpy.save (or numpy.savez)",
            )
        ) from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        keys = list(loaded.files)
        key = keys[0] if len(keys) == 1 else next((k for k in _NPZ_KEYS if k in keys), None)
        if key is None:
            raise DataFileError(
                describe(
                    f"Cannot tell which array of {path} holds the images",
                    received=f"arrays {keys}",
                    accepted="one array, or one named " + ", ".join(_NPZ_KEYS),
                    fix="save the images alone, or under the name 'images'",
                )
            )
        return np.asarray(loaded[key])


def _check_array(array: npt.NDArray[np.generic[object]], path: Path) -> npt.NDArray[np.generic[object]]:
    if array.ndim == 2:
        array = array[None]
    if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[-1] not in (1, 3, 4)):
        raise DataFileError(
            describe(
                f"{path} does not hold images",
                received=f"an array of shape {array.shape}",
                accepted="(H, W), (N, H, W) or (N, H, W, C) with 1, 3 or 4 channels",
            )
        )
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise DataFileError(
            describe(
                f"{path} does not hold pixel values",
                received=f"dtype {array.dtype}",
                accepted="uint8, or numbers in [0, 255]",
            )
        )
    if array.dtype != np.uint8 and array.size:
        finite = array.dtype.kind != "f" or bool(np.isfinite(array).all())
        if not finite or array.min() < 0 or array.max() > 255:
            raise DataFileError(
                describe(
                    f"{path} holds values outside the pixel range [0, 255]",
                    received=f"values in [{array.min()}, {array.max()}], dtype {array.dtype}",
                    fix="save raw uint8 pixels, not normalised images",
                )
            )
    if array.ndim == 4 and array.shape[-1] == 4:
        array = array[..., :3]
    return array


def _convert(
    images: npt.NDArray[np.generic[object]], path: Path, size: tuple[int, int] | None, channels: int | None
) -> npt.NDArray[np.uint8]:
    """Converts channels, resizes and casts to uint8."""
    if channels is not None:
        if images.ndim == 3:
            images = images[..., None]
        if images.shape[-1] == 1 and channels == 3:
            images = np.repeat(images, 3, axis=-1)
        elif images.shape[-1] == 3 and channels == 1:
            luminance = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
            images = luminance[..., None]
    if size is not None and tuple(images.shape[1:3]) != size and len(images):
        import tensorflow as tf

        flat = images.ndim == 3
        batch = images[..., None] if flat else images
        resized = tf.image.resize(batch.astype(np.float32), size, antialias=True).numpy()
        images = resized[..., 0] if flat else resized
    if images.dtype != np.uint8:
        return np.clip(np.rint(images), 0, 255).astype(np.uint8)
    return images.astype(np.uint8, copy=False)
