"""A folder of class subfolders holding PNG/JPEG/GIF/BMP images, loaded into memory.

Images are decoded as a viewer shows them: a JPEG's EXIF orientation is applied,
CMYK JPEGs, palette PNGs, GIFs (their first frame) and 16-bit PNGs become ordinary
``uint8`` pixels, and a file is read by its content (a GIF named ``.png`` is a GIF).

Example:
    >>> import tempfile, numpy as np, tensorflow as tf
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> for name, value in (("cat", 10), ("dog", 200)):
    ...     (root / name).mkdir()
    ...     png = tf.io.encode_png(np.full((6, 8, 1), value, "uint8")).numpy()
    ...     _ = (root / name / "a.png").write_bytes(png)
    >>> data = load_image_folder(root, image_size=(4, 4))
    >>> data.images.shape, data.class_names, data.labels.tolist(), int(data.images[1, 0, 0])
    ((2, 4, 4), ('cat', 'dog'), [0, 1], 200)
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, overload

import numpy as np
import numpy.typing as npt
import tensorflow as tf

from transferlab.data.dataset_splits import DatasetSplits
from transferlab.data.labeled_images import LabeledImages
from transferlab.errors import ConfigError, DataFileError, DatasetNotFoundError, describe

__all__ = ["decode_image_file", "image_orientation", "load_image_folder"]

_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
_FORMATS = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
)
_ACCEPTED_FORMATS = "PNG (8- or 16-bit, gray, RGB, RGBA, palette), JPEG (gray, RGB, CMYK), GIF, BMP"
_TF_NOISE = re.compile(r"\{\{[^}]*\}\}|\[Op:[^\]]*\]|\[\[\{\{node[^\]]*\]\]")
_MODES = {"grayscale": 1, "rgb": 3}


@overload
def load_image_folder(
    folder: str | os.PathLike[str],
    *,
    image_size: Sequence[int] | None = ...,
    color_mode: Literal["grayscale", "rgb"] = ...,
    test_folder: None = ...,
) -> LabeledImages: ...


@overload
def load_image_folder(
    folder: str | os.PathLike[str],
    *,
    image_size: Sequence[int] | None = ...,
    color_mode: Literal["grayscale", "rgb"] = ...,
    test_folder: str | os.PathLike[str],
) -> DatasetSplits: ...


def load_image_folder(
    folder: str | os.PathLike[str],
    *,
    image_size: Sequence[int] | None = None,
    color_mode: Literal["grayscale", "rgb"] = "grayscale",
    test_folder: str | os.PathLike[str] | None = None,
) -> LabeledImages | DatasetSplits:
    """Loads ``folder/<class>/<image>.png|jpg|jpeg|gif|bmp`` as ``uint8`` images.

    Class names are the subfolder names, sorted; label ``i`` is the ``i``-th.
    Images are decoded with :func:`decode_image_file` (``tf.io`` and a small
    EXIF reader: no extra dependency; EXIF orientation applied) and resized
    with antialiased bilinear interpolation. Hidden files and files
    with other extensions are skipped.

    Args:
        folder: The folder of class subfolders.
        image_size: ``(height, width)`` to resize every image to. ``None``:
            every image must already have the size of the first one.
        color_mode: ``"grayscale"`` (images ``(N, H, W)``) or ``"rgb"``
            (images ``(N, H, W, 3)``).
        test_folder: A second folder laid out the same way, read as the test
            split with the class names of ``folder`` (it may lack classes).

    Returns:
        ``LabeledImages``, or ``DatasetSplits`` (named after ``folder``) when
        ``test_folder`` is given.

    Raises:
        DatasetNotFoundError: A folder does not exist.
        DataFileError: No class subfolders, a class subfolder without images,
            an undecodable file (named), sizes that differ with
            ``image_size=None``, a test class unknown to the training folder.
        ConfigError: A bad ``image_size`` or ``color_mode``.
    """
    if color_mode not in _MODES:
        raise ConfigError(
            describe(
                "Unknown `color_mode`",
                received=f"color_mode={color_mode!r}",
                accepted="'grayscale', 'rgb'",
            )
        )
    size: tuple[int, int] | None = None
    if image_size is not None:
        try:
            height, width = (int(s) for s in image_size)
        except (TypeError, ValueError):
            height = width = 0
        if height < 1 or width < 1:
            raise ConfigError(
                describe(
                    "`image_size` must be (height, width) with positive sides, or None",
                    received=f"image_size={image_size!r}",
                    fix="pass e.g. image_size=(28, 28)",
                )
            )
        size = (height, width)
    channels = _MODES[color_mode]
    root = Path(folder).expanduser()
    names = _class_folders(root)
    train = _read_split(root, names, names, size, channels, strict=size is None)
    if test_folder is None:
        return train
    test_root = Path(test_folder).expanduser()
    test_names = _class_folders(test_root)
    unknown = sorted(set(test_names) - set(names))
    if unknown:
        raise DataFileError(
            describe(
                f"The test folder {test_root} has classes the training folder lacks",
                received=", ".join(unknown),
                accepted=", ".join(names),
                fix="give both folders the same class subfolder names",
            )
        )
    test = _read_split(
        test_root,
        test_names,
        names,
        size or (train.image_shape[0], train.image_shape[1]),
        channels,
        strict=size is None,
    )
    return DatasetSplits(root.name, train, test, source=str(root))


def _class_folders(root: Path) -> tuple[str, ...]:
    if not root.is_dir():
        raise DatasetNotFoundError(
            describe(
                f"The image folder {root} does not exist",
                fix="pass a folder holding one subfolder of images per class",
            )
        )
    entries = [p for p in root.iterdir() if not p.name.startswith(".")]
    names = tuple(sorted(p.name for p in entries if p.is_dir()))
    if not names:
        loose = [p.name for p in entries if p.suffix.lower() in _EXTENSIONS]
        raise DataFileError(
            describe(
                f"The image folder {root} has no class subfolders"
                + (" (it is empty)" if not entries else ""),
                received=f"{len(loose)} images directly in the folder" if loose else None,
                accepted="folder/<class name>/<image>.png|jpg|jpeg|gif|bmp",
                fix="put each class's images in a subfolder named after the class",
            )
        )
    return names


def _read_split(
    root: Path,
    folders: Sequence[str],
    class_names: Sequence[str],
    size: tuple[int, int] | None,
    channels: int,
    *,
    strict: bool,
) -> LabeledImages:
    first: Path | None = None
    images: list[npt.NDArray[np.uint8]] = []
    labels: list[int] = []
    for name in folders:
        files = sorted(
            p
            for p in (root / name).iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in _EXTENSIONS
        )
        if not files:
            raise DataFileError(
                describe(
                    f"The class folder {root / name} holds no images",
                    accepted="files ending in " + ", ".join(_EXTENSIONS),
                    fix="add images, or remove the folder",
                )
            )
        label = class_names.index(name)
        for file in files:
            image = _decode(file, channels)
            if size is None:
                size, first = (int(image.shape[0]), int(image.shape[1])), file
            if tuple(image.shape[:2]) != size:
                if strict:
                    raise DataFileError(
                        describe(
                            f"The image {file} has another size than the others",
                            received=f"{image.shape[0]}x{image.shape[1]}",
                            accepted=f"{size[0]}x{size[1]}"
                            + (f", the size of {first}" if first is not None else ""),
                            fix=f"pass image_size=({size[0]}, {size[1]}) to resize every image",
                        )
                    )
                image = _resize(image, size)
            images.append(image)
            labels.append(label)
    stacked = np.stack(images)
    if channels == 1:
        stacked = stacked[..., 0]
    return LabeledImages(stacked, np.asarray(labels, dtype=np.int64), tuple(class_names))


def _decode(file: Path, channels: int) -> npt.NDArray[np.uint8]:
    return decode_image_file(file, channels=channels)


def _format(data: bytes) -> str | None:
    return next((name for magic, name in _FORMATS if data.startswith(magic)), None)


def image_orientation(data: bytes) -> int:
    """The EXIF orientation (1-8) of JPEG bytes; 1 (as stored) without one.

    Reads the APP1 ``Exif`` segment's first image directory (tag ``0x0112``),
    in either byte order. Anything unreadable counts as 1.

    Example:
        >>> import struct
        >>> tiff = b"MM\\x00*" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0)
        >>> app1 = b"Exif\\x00\\x00" + tiff
        >>> image_orientation(b"\\xff\\xd8\\xff\\xe1" + struct.pack(">H", len(app1) + 2) + app1 + b"\\xff\\xda")
        6
        >>> image_orientation(b"\\x89PNG\\r\\n\\x1a\\n")
        1
    """
    if not data.startswith(b"\xff\xd8"):
        return 1
    pos = 2
    try:
        while pos + 4 <= len(data) and data[pos] == 0xFF:
            marker = data[pos + 1]
            if marker in (0xD9, 0xDA):  # end of image, start of scan: no EXIF before the pixels
                return 1
            if (
                marker == 0xFF or 0xD0 <= marker <= 0xD7 or marker == 0x01
            ):  # fill byte, markers without length
                pos += 1 if marker == 0xFF else 2
                continue
            (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
            segment = data[pos + 4 : pos + 2 + length]
            if marker == 0xE1 and segment.startswith(b"Exif\x00\x00"):
                return _tiff_orientation(segment[6:])
            pos += 2 + length
    except struct.error:
        return 1
    return 1


def _tiff_orientation(tiff: bytes) -> int:
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None:
        return 1
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
    for index in range(count):
        entry = tiff[ifd + 2 + 12 * index : ifd + 14 + 12 * index]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag == 0x0112:
            value = (
                struct.unpack(order + "H", entry[8:10])[0]
                if kind == 3
                else struct.unpack(order + "I", entry[8:12])[0]
            )
            return int(value) if 1 <= value <= 8 else 1
    return 1


def _orient(image: npt.NDArray[np.uint8], orientation: int) -> npt.NDArray[np.uint8]:
    """``image`` (H, W, C) turned as EXIF ``orientation`` says a viewer shows it."""
    if orientation == 2:
        image = image[:, ::-1]
    elif orientation == 3:
        image = image[::-1, ::-1]
    elif orientation == 4:
        image = image[::-1]
    elif orientation == 5:
        image = image.transpose(1, 0, 2)
    elif orientation == 6:
        image = np.rot90(image, k=-1)
    elif orientation == 7:
        image = np.rot90(image, k=-1)[::-1]
    elif orientation == 8:
        image = np.rot90(image, k=1)
    return np.ascontiguousarray(image)


def decode_image_file(path: str | os.PathLike[str], *, channels: int | None = None) -> npt.NDArray[np.uint8]:
    """Decodes one PNG, JPEG, GIF or BMP file into ``uint8`` ``(H, W, C)`` pixels, as a viewer shows it.

    The format is read from the content, not the name. A JPEG's EXIF
    orientation is applied; CMYK JPEGs become RGB; palette PNGs and GIFs (the
    first frame) RGB or RGBA; 16-bit PNGs are scaled to 8 bits.

    Args:
        path: The image file.
        channels: 1 (luminance), 3 (RGB; gray repeated) or ``None`` (as
            stored: 1, 2, 3 or 4 channels).

    Returns:
        ``uint8`` pixels ``(height, width, channels)``.

    Raises:
        DataFileError: The file cannot be read, is empty, is not one of the
            formats, or is damaged; the message names the file and the format.

    Example:
        >>> import tempfile, struct, numpy as np, tensorflow as tf
        >>> from pathlib import Path
        >>> jpeg = tf.io.encode_jpeg(np.zeros((20, 40, 3), "uint8")).numpy()  # 40 wide, 20 high
        >>> tiff = b"II*\\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHIHH", 0x0112, 3, 1, 6, 0)
        >>> app1 = b"Exif\\x00\\x00" + tiff
        >>> path = Path(tempfile.mkdtemp()) / "photo.jpg"
        >>> _ = path.write_bytes(jpeg[:2] + b"\\xff\\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:])
        >>> decode_image_file(path).shape  # orientation 6: shown rotated, 20 wide and 40 high
        (40, 20, 3)
    """
    import tensorflow as tf

    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as error:
        raise DataFileError(
            describe(
                f"Cannot read the image file {file}",
                received=f"{type(error).__name__}: {error.strerror or error}",
                fix="check that the file exists and is readable",
            )
        ) from None
    kind = _format(data)
    if not data or kind is None:
        raise DataFileError(
            describe(
                f"Cannot decode the image {file}: "
                + (
                    "the file is empty (0 bytes)" if not data else "it is not an image file of a known format"
                ),
                received=f"{len(data)} bytes" + (f", starting {data[:8]!r}" if data else ""),
                accepted=_ACCEPTED_FORMATS,
                fix="delete or re-export the file",
            )
        )
    wanted = 3 if kind in ("GIF", "BMP") and channels == 1 else (channels or 0)
    try:
        try:
            tensor = tf.io.decode_image(data, channels=wanted, dtype=tf.uint8, expand_animations=False)
        except tf.errors.InvalidArgumentError:
            if kind != "JPEG" or wanted == 0:
                raise
            # libjpeg converts CMYK to RGB only when it keeps the channels: convert here instead
            tensor = tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.UnknownError) as err:
        reason = " ".join(_TF_NOISE.sub(" ", str(getattr(err, "message", err) or "")).split())[:200]
        raise DataFileError(
            describe(
                f"Cannot decode the image {file}: it is a damaged or unsupported {kind} file",
                received=f"{len(data)} bytes; the {kind} decoder said: {reason or type(err).__name__}",
                accepted=_ACCEPTED_FORMATS,
                fix="delete or re-export the file",
            )
        ) from None
    image = np.asarray(tensor, dtype=np.uint8)
    if channels == 1 and image.shape[-1] != 1:
        rgb = image[..., :3].astype(np.float32)
        gray = rgb @ np.array([0.299, 0.587, 0.114], np.float32) if rgb.shape[-1] == 3 else rgb[..., :1]
        image = np.clip(np.rint(gray), 0, 255).astype(np.uint8).reshape(*image.shape[:2], 1)
    elif channels == 3 and image.shape[-1] != 3:
        image = image[..., :3] if image.shape[-1] == 4 else np.repeat(image[..., :1], 3, axis=-1)
    if kind == "JPEG":
        image = _orient(image, image_orientation(data))
    return image


def _resize(image: npt.NDArray[np.uint8], size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    resized = tf.image.resize(image, size, method="bilinear", antialias=True)
    return np.asarray(tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8))
