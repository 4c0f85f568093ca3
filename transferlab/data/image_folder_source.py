"""``ImageFolderSource``: a folder of class subfolders of images, read lazily inside ``tf.data``.

The folder is listed once (file names, labels, each file's header); pixels are
read when a pipeline asks for them, file by file, in parallel. Decoding is
:func:`~transferlab.data.image_file.decode_image_tensor` (EXIF orientation,
CMYK, palette, 16-bit, gray/RGB/RGBA, format by content), then a resize to
``image_size``: :func:`~transferlab.data.load_image_folder` reads the same
files through this source, so the folder in memory and the folder streamed give
the same pixels.

Example:
    >>> import tempfile, numpy as np, tensorflow as tf
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> for name, value, size in (("cat", 10, (6, 8)), ("dog", 200, (9, 9))):
    ...     (root / name).mkdir()
    ...     png = tf.io.encode_png(np.full((*size, 3), value, "uint8")).numpy()
    ...     _ = (root / name / "a.png").write_bytes(png)
    >>> source = ImageFolderSource(root, image_size=(4, 4), color_mode="rgb")
    >>> len(source), source.class_names, source.element_shape, source.labels.tolist()
    (2, ('cat', 'dog'), (4, 4, 3), [0, 1])
    >>> int(source.read_element(tf.constant(1, tf.int64))[0, 0, 0])
    200
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
import tensorflow as tf

from transferlab.data.image_file import (
    IMAGE_EXTENSIONS,
    ImageHeader,
    decode_image_file,
    decode_image_tensor,
    orient_image,
    read_image_header,
)
from transferlab.data.labeled_images import DEFAULT_PIXEL_RANGE
from transferlab.data.source import IndexedSource
from transferlab.errors import ConfigError, DataFileError, DatasetNotFoundError, describe

__all__ = [
    "COLOR_MODES",
    "DEFAULT_COLOR_MODE",
    "ColorMode",
    "ImageFolderSource",
    "OnBadFile",
    "Resize",
    "check_color_mode",
    "check_image_size",
    "class_folders",
]

logger = logging.getLogger(__name__)

ColorMode = Literal["grayscale", "rgb"]
Resize = Literal["stretch", "pad"]
OnBadFile = Literal["error", "skip"]

#: Channels of each colour mode.
COLOR_MODES: dict[str, int] = {"grayscale": 1, "rgb": 3}
#: The colour mode image folders are read in unless told otherwise.
DEFAULT_COLOR_MODE: ColorMode = "grayscale"
#: The fix a bad file's message suggests.
_BAD_FILE_FIX = "delete or re-export the file, or pass on_bad_file='skip' to leave such files out"
#: Sizes the summary lists by name (the rest are counted together).
_SUMMARY_SIZES = 5
#: Indices ``diagnose()`` collects per step (a gap among them is the first bad file).
_DIAGNOSE_BATCH = 256


def _quoted(values: Sequence[str]) -> str:
    return ", ".join(repr(v) for v in values)


def check_color_mode(color_mode: object) -> int:
    """The channels of ``color_mode`` (``"grayscale"``: 1, ``"rgb"``: 3).

    Raises:
        ConfigError: Another value.

    Example:
        >>> check_color_mode("rgb")
        3
    """
    if not isinstance(color_mode, str) or color_mode not in COLOR_MODES:
        raise ConfigError(
            describe(
                "Unknown `color_mode`",
                received=f"color_mode={color_mode!r}",
                accepted=_quoted(list(COLOR_MODES)),
            )
        )
    return COLOR_MODES[color_mode]


def check_image_size(image_size: object, name: str = "image_size") -> tuple[int, int] | None:
    """``image_size`` as ``(height, width)`` of positive ints, or ``None``.

    Args:
        image_size: The value to check.
        name: The argument's name, for the message.

    Raises:
        ConfigError: Anything else.

    Example:
        >>> check_image_size([28, 32]), check_image_size(None)
        ((28, 32), None)
    """
    if image_size is None:
        return None
    try:
        height, width = (int(s) for s in image_size)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        height = width = 0
    if height < 1 or width < 1:
        raise ConfigError(
            describe(
                f"`{name}` must be (height, width) with positive sides, or None",
                received=f"{name}={image_size!r}",
                fix=f"pass e.g. {name}=(28, 28)",
            )
        )
    return (height, width)


def _check_choice(name: str, value: object, accepted: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in accepted:
        raise ConfigError(
            describe(f"Unknown `{name}`", received=f"{name}={value!r}", accepted=_quoted(accepted))
        )


def class_folders(root: Path) -> tuple[str, ...]:
    """The class subfolder names of an image folder, sorted (hidden ones left out).

    Raises:
        DatasetNotFoundError: ``root`` is not a folder.
        DataFileError: It has no subfolders.
    """
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
        loose = [p.name for p in entries if p.suffix.lower() in IMAGE_EXTENSIONS]
        raise DataFileError(
            describe(
                f"The image folder {root} has no class subfolders"
                + (" (it is empty)" if not entries else ""),
                received=f"{len(loose)} images directly in the folder" if loose else None,
                accepted="folder/<class name>/<image>" + "|".join(IMAGE_EXTENSIONS).replace("|.", "|"),
                fix="put each class's images in a subfolder named after the class",
            )
        )
    return names


class ImageFolderSource(IndexedSource):
    """``folder/<class>/<image>`` (PNG, JPEG, GIF, BMP), listed once and read lazily, file by file.

    **Listing** (on creation): class names are the subfolder names, sorted
    (or ``class_names``); each class's files are those ending in
    ``.png``, ``.jpg``, ``.jpeg``, ``.gif`` or ``.bmp`` (any case), sorted by
    name, hidden files left out; example ``i`` is the ``i``-th file of that
    list. Each file's header is read (a few bytes; a JPEG's segments are
    skipped over): a file that cannot be opened, is empty or is not an image
    by its first bytes is an error naming it (``on_bad_file="error"``), or is
    left out and counted in the log (``on_bad_file="skip"``; see
    :attr:`skipped_files`). The header also gives a JPEG's EXIF orientation
    (applied when reading) and each image's size.

    **Reading** (inside ``tf.data``, :meth:`read_element`): ``tf.io.read_file``,
    decoding as stored and conversion to ``color_mode`` (gray as
    ``0.299 R + 0.587 G + 0.114 B``, rounded; alpha dropped), a resize to
    ``image_size`` (antialiased bilinear, rounded to ``uint8``; an image
    already of that size is left as it is), then the EXIF orientation (a
    photo turned a quarter is resized to ``(width, height)`` and turned
    after, which costs less than turning the full-size photo; the pixels
    are those of turning first, up to float rounding). Files of mixed sizes,
    formats and modes mix freely.

    A file whose header is fine but whose body is damaged fails inside
    TensorFlow when it is read: :meth:`diagnose` (what the Trainer calls
    then) and :meth:`check` find it and name it.

    Args:
        folder: The folder of class subfolders.
        image_size: ``(height, width)`` every image is resized to. ``None``:
            every image must have the size of the first one (read from the
            headers: PNG, JPEG, BMP; GIFs are decoded to learn theirs), else
            an error asks for ``image_size``.
        color_mode: ``"grayscale"`` (1 channel, the default) or ``"rgb"``.
        resize: ``"stretch"`` (to ``image_size`` exactly, the aspect ratio
            changes) or ``"pad"`` (scaled to fit inside ``image_size`` keeping
            the aspect ratio, then centred on black: ``tf.image.resize_with_pad``).
        class_names: The classes, when they are not (only) the subfolders:
            e.g. a test folder read with its training folder's classes (it
            may lack some, not have others). Label ``i`` is ``class_names[i]``.
        on_bad_file: ``"error"`` (the default) or ``"skip"``, for files
            refused at listing (not for damaged bodies, found only by reading).

    Attributes:
        folder: The folder, as given (``~`` expanded).
        image_size: ``(height, width)`` or ``None``, as given.
        color_mode: ``"grayscale"`` or ``"rgb"``.
        resize: ``"stretch"`` or ``"pad"``.
        skipped_files: The files left out at listing (``on_bad_file="skip"``).

    Raises:
        DatasetNotFoundError: ``folder`` does not exist.
        DataFileError: No class subfolders, a class subfolder without images,
            a bad file (named), subfolders not in ``class_names``, sizes that
            differ with ``image_size=None``, no readable image at all.
        ConfigError: A bad ``image_size``, ``color_mode``, ``resize``,
            ``class_names`` or ``on_bad_file``.
    """

    reads_elements = True

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        image_size: Sequence[int] | None = None,
        color_mode: ColorMode = DEFAULT_COLOR_MODE,
        resize: Resize = "stretch",
        class_names: Sequence[str] | None = None,
        on_bad_file: OnBadFile = "error",
    ) -> None:
        self.channels = check_color_mode(color_mode)
        self.image_size = check_image_size(image_size)
        _check_choice("resize", resize, get_args(Resize))
        _check_choice("on_bad_file", on_bad_file, get_args(OnBadFile))
        if resize != "stretch" and self.image_size is None:
            raise ConfigError(
                describe(
                    f"`resize={resize!r}` needs an `image_size` to fit the images into",
                    received=f"resize={resize!r}, image_size=None",
                    fix="pass image_size=(height, width)",
                )
            )
        self.color_mode: ColorMode = color_mode
        self.resize: Resize = resize
        self.on_bad_file: OnBadFile = on_bad_file
        self.pixel_range = DEFAULT_PIXEL_RANGE
        self.folder = Path(folder).expanduser()
        folders = class_folders(self.folder)
        self.class_names = self._class_names(folders, class_names)
        self._list(folders)
        self._shape = (*(self.image_size or self._common_size()), self.channels)
        self._tensors: tuple[tf.Tensor, tf.Tensor] | None = None

    # Listing -----------------------------------------------------------------
    def _class_names(self, folders: tuple[str, ...], given: Sequence[str] | None) -> tuple[str, ...]:
        if given is None:
            return folders
        names = tuple(given) if not isinstance(given, str) else ()
        if not names or not all(isinstance(n, str) and n for n in names) or len(set(names)) < len(names):
            raise ConfigError(
                describe(
                    "`class_names` must be a sequence of distinct, non-empty names",
                    received=f"class_names={given!r}",
                    fix="pass e.g. the training source's class_names",
                )
            )
        unknown = sorted(set(folders) - set(names))
        if unknown:
            raise DataFileError(
                describe(
                    f"The image folder {self.folder} has class subfolders that `class_names` lacks",
                    received=", ".join(unknown),
                    accepted=", ".join(names),
                    fix="give both folders the same class subfolder names",
                )
            )
        return names

    def _list(self, folders: Sequence[str]) -> None:
        paths: list[str] = []
        relative: list[str] = []
        labels: list[int] = []
        stats: list[tuple[int, int]] = []
        headers: list[ImageHeader] = []
        skipped: list[str] = []
        for name in folders:
            try:
                with os.scandir(self.folder / name) as scan:
                    entries = sorted(
                        (e for e in scan if e.is_file() and not e.name.startswith(".")),
                        key=lambda e: e.name,
                    )
            except OSError as error:
                raise DataFileError(
                    describe(
                        f"Cannot list the class folder {self.folder / name}",
                        received=f"{type(error).__name__}: {error.strerror or error}",
                        fix="check that the folder exists and is readable",
                    )
                ) from None
            entries = [e for e in entries if os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS]
            if not entries:
                raise DataFileError(
                    describe(
                        f"The class folder {self.folder / name} holds no images",
                        accepted="files ending in " + ", ".join(IMAGE_EXTENSIONS),
                        fix="add images, or remove the folder",
                    )
                )
            label = self.class_names.index(name)
            for entry in entries:
                try:
                    header = read_image_header(entry.path, fix=_BAD_FILE_FIX)
                    stat = entry.stat()
                except DataFileError:
                    if self.on_bad_file == "error":
                        raise
                    skipped.append(entry.path)
                    continue
                except OSError as error:  # stat after a readable header: a vanishing file
                    if self.on_bad_file == "error":
                        raise DataFileError(
                            describe(
                                f"Cannot read the image file {entry.path}",
                                received=f"{type(error).__name__}: {error.strerror or error}",
                                fix="check that the file exists and is readable",
                            )
                        ) from None
                    skipped.append(entry.path)
                    continue
                paths.append(entry.path)
                relative.append(f"{name}/{entry.name}")
                labels.append(label)
                stats.append((stat.st_size, stat.st_mtime_ns))
                headers.append(header)
        self.skipped_files: tuple[str, ...] = tuple(skipped)
        if skipped:
            logger.warning(
                "Left out %d unreadable image files of %s (on_bad_file='skip'), e.g. %s",
                len(skipped),
                self.folder,
                skipped[0],
            )
        if not paths:
            raise DataFileError(
                describe(
                    f"The image folder {self.folder} holds no readable image",
                    received=f"{len(skipped)} files refused (on_bad_file='skip')",
                    fix="check the files: `transferlab data` names each problem",
                )
            )
        self._paths = paths
        self._relative = relative
        self._labels: npt.NDArray[np.int64] = np.asarray(labels, np.int64)
        self._stats = stats
        self._headers = headers
        self._turned = any(h.orientation != 1 for h in headers)

    def _common_size(self) -> tuple[int, int]:
        """The size every image has (``image_size=None``), from the headers (GIFs: decoded)."""
        size: tuple[int, int] | None = None
        for index, header in enumerate(self._headers):
            this = header.size
            if this is None:
                decoded = decode_image_file(self._paths[index], channels=self.channels)
                this = (int(decoded.shape[0]), int(decoded.shape[1]))
            if size is None:
                size = this
            elif this != size:
                raise DataFileError(
                    describe(
                        f"The image {self._paths[index]} has another size than the others",
                        received=f"{this[0]}x{this[1]}",
                        accepted=f"{size[0]}x{size[1]}, the size of {self._paths[0]}",
                        fix=f"pass image_size=({size[0]}, {size[1]}) to resize every image",
                    )
                )
        assert size is not None
        return size

    # The source --------------------------------------------------------------
    @property
    def labels(self) -> npt.NDArray[np.int64]:
        return self._labels

    @property
    def element_shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def element_dtype(self) -> tf.DType:
        return tf.uint8

    @property
    def headers(self) -> tuple[ImageHeader, ...]:
        """Each example's file header, as read at listing."""
        return tuple(self._headers)

    def files(self, indices: npt.ArrayLike) -> list[str]:
        """The files examples ``indices`` are read from (absolute paths)."""
        return [self._paths[int(i)] for i in np.asarray(indices, np.int64).reshape(-1)]

    def _lookup(self) -> tuple[tf.Tensor, tf.Tensor]:
        if self._tensors is None:
            with tf.init_scope():  # eager tensors, made once, captured by reference
                paths = tf.constant(self._paths, tf.string)
                turns = tf.constant([h.orientation for h in self._headers], tf.int32)
            self._tensors = (paths, turns)
        return self._tensors

    def read_element(self, index: tf.Tensor) -> tf.Tensor:
        """Example ``index``: the file read, decoded, resized and turned; ``uint8`` :attr:`element_shape`."""
        paths, turns = self._lookup()
        image = decode_image_tensor(tf.io.read_file(tf.gather(paths, index)), channels=self.channels)
        if not self._turned:
            return tf.ensure_shape(self._fit(image, self.image_size), self._shape)
        orientation = tf.gather(turns, index)
        if self.image_size is not None:
            # Resized as stored, turned after: a smaller image to turn (one turned a quarter
            # is resized to (width, height)).
            height, width = self.image_size
            size = tf.where(orientation >= 5, tf.constant((width, height)), tf.constant((height, width)))
            image = self._fit(image, (size[0], size[1]))
        return tf.ensure_shape(orient_image(image, orientation), self._shape)

    def _fit(self, image: tf.Tensor, size: tuple[int, int] | tuple[tf.Tensor, tf.Tensor] | None) -> tf.Tensor:
        if size is None:
            return image
        height, width = size

        def resized() -> tf.Tensor:
            if self.resize == "pad":
                x = tf.image.resize_with_pad(image, height, width, method="bilinear", antialias=True)
            else:
                x = tf.image.resize(image, (height, width), method="bilinear", antialias=True)
            return tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8)

        shape = tf.shape(image)
        same = tf.logical_and(tf.equal(shape[0], height), tf.equal(shape[1], width))
        return tf.cond(same, lambda: image, resized)

    # Identity and checks ------------------------------------------------------
    def fingerprint(self) -> dict[str, object]:
        """The listing's identity: each file's path under the folder, size, mtime (ns) and label.

        File contents are not read: a file replaced by another of the same
        size and modification time (to the nanosecond) is not noticed.
        """
        digest = hashlib.sha256()
        for path, label, (size, mtime) in zip(
            self._relative, self._labels.tolist(), self._stats, strict=True
        ):
            digest.update(f"{label}\0{path}\0{size}\0{mtime}\n".encode())
        return {
            "image_folder": {"files": len(self._paths), "listing": digest.hexdigest()},
            "class_names": list(self.class_names),
            "image_size": list(self.image_size) if self.image_size is not None else None,
            "color_mode": self.color_mode,
            "resize": self.resize,
        }

    def summary(self) -> dict[str, object]:
        """What ``transferlab data`` prints: counts per class, and the files' formats, modes and sizes."""
        formats = collections.Counter(h.format for h in self._headers)
        modes = collections.Counter(
            f"{h.mode} {h.bit_depth}-bit" if h.bit_depth and h.format == "PNG" else h.mode
            for h in self._headers
        )
        sizes = collections.Counter(
            f"{h.height}x{h.width}" if h.size is not None else "unknown" for h in self._headers
        )
        top = dict(sizes.most_common(_SUMMARY_SIZES))
        rest = sum(sizes.values()) - sum(top.values())
        return {
            **super().summary(),
            "folder": str(self.folder),
            "class_counts": dict(zip(self.class_names, self.class_counts().tolist(), strict=True)),
            "formats": dict(formats.most_common()),
            "modes": dict(modes.most_common()),
            "sizes": {**top, **({"other": rest} if rest else {})},
            "image_size": list(self.image_size) if self.image_size is not None else None,
            "color_mode": self.color_mode,
            "resize": self.resize,
            "skipped_files": len(self.skipped_files),
        }

    def diagnose(self) -> Exception | None:
        """The first file that cannot be read, as a :class:`DataFileError` naming it; ``None`` if all read.

        Reads every file again in a ``tf.data`` pass (in parallel, errors
        dropped) up to the first one that fails, then decodes that one alone
        for the decoder's reason. Cost: up to one epoch's reading, without
        training (measured: 0.6 s per 1,000 JPEGs of 224x224 on 2 cores).
        """
        n = len(self._paths)
        shape = self._shape

        def read(i: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            # A pixel goes out with the index: control dependencies alone are pruned.
            return i, self.read_element(i)[0, 0, 0]

        ds = (
            tf.data.Dataset.range(n)
            .map(read, num_parallel_calls=os.cpu_count() or 1, deterministic=True)
            .ignore_errors()
            .batch(_DIAGNOSE_BATCH)
        )
        expected = 0
        bad: int | None = None
        for batch, _ in ds:
            got = batch.numpy()
            ahead = np.flatnonzero(got != np.arange(expected, expected + len(got)))
            if ahead.size:
                bad = expected + int(ahead[0])
                break
            expected += len(got)
        if bad is None:
            if expected == n:
                return None
            bad = expected
        path = self._paths[bad]
        try:
            image = decode_image_file(path, channels=self.channels)
        except DataFileError as error:
            return error
        return DataFileError(
            describe(
                f"The image {path} cannot be read as this source's examples",
                received=f"it decodes to {image.shape[0]}x{image.shape[1]}, its header said "
                f"{self._headers[bad].height}x{self._headers[bad].width}",
                accepted=f"images of {shape[0]}x{shape[1]}",
                fix="pass image_size=(height, width) to resize every image",
            )
        )

    def check(self) -> None:
        """Decodes every file; raises on the first that cannot be read (see :meth:`diagnose`).

        Raises:
            DataFileError: Naming the file and the decoder's reason.
        """
        error = self.diagnose()
        if error is not None:
            raise error
