"""One image file: its format (by content), its header, its EXIF orientation, its pixels.

The one decoder of the library: :func:`decode_image_tensor` runs inside
TensorFlow graphs (``tf.data`` pipelines read folders with it) and
:func:`decode_image_file` runs it on one file, so a folder read lazily and the
same folder loaded into memory give the same pixels.

Images are decoded as a viewer shows them: a JPEG's EXIF orientation is applied,
CMYK JPEGs, palette PNGs, GIFs (their first frame) and 16-bit PNGs become ordinary
``uint8`` pixels, and a file is read by its content (a GIF named ``.png`` is a GIF).
Gray from colour is the luminance ``0.299 R + 0.587 G + 0.114 B``, rounded; colour
from gray repeats the channel; alpha is dropped.

Example:
    >>> import io, numpy as np, tensorflow as tf
    >>> png = tf.io.encode_png(np.zeros((6, 8, 3), "uint8")).numpy()
    >>> header = read_image_header(io.BytesIO(png), "a.png")
    >>> header.format, header.height, header.width, header.mode
    ('PNG', 6, 8, 'RGB')
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
import re
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import tensorflow as tf

from transferlab.errors import ConfigError, DataFileError, describe

__all__ = [
    "ACCEPTED_FORMATS",
    "IMAGE_EXTENSIONS",
    "ImageHeader",
    "decode_image_file",
    "decode_image_tensor",
    "image_format",
    "image_orientation",
    "orient_image",
    "read_image_header",
]

#: The file name endings read as images (case-insensitive).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
#: The formats decoded, for messages.
ACCEPTED_FORMATS = "PNG (8- or 16-bit, gray, RGB, RGBA, palette), JPEG (gray, RGB, CMYK), GIF, BMP"
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
)
_DEFAULT_FIX = "delete or re-export the file"
_TF_NOISE = re.compile(r"\{\{[^}]*\}\}|\[Op:[^\]]*\]|\[\[\{\{node[^\]]*\]\]")
_PNG_MODES = {0: "gray", 2: "RGB", 3: "palette", 4: "gray+alpha", 6: "RGBA"}
_JPEG_MODES = {1: "gray", 3: "RGB", 4: "CMYK"}
#: JPEG start-of-frame markers (SOF0-SOF15 but DHT, JPG and DAC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: Luminance weights of R, G, B (ITU-R BT.601).
_LUMA = (0.299, 0.587, 0.114)


def image_format(data: bytes) -> str | None:
    """The format of image bytes by their first bytes: ``"PNG"``, ``"JPEG"``, ``"GIF"``, ``"BMP"`` or ``None``.

    Example:
        >>> image_format(b"GIF89a..."), image_format(b"hello")
        ('GIF', None)
    """
    return next((name for magic, name in _MAGIC if data.startswith(magic)), None)


@dataclasses.dataclass(frozen=True)
class ImageHeader:
    """What an image file's first bytes say, read without decoding the pixels.

    Attributes:
        format: ``"PNG"``, ``"JPEG"``, ``"GIF"`` or ``"BMP"``.
        height: The height as shown (after the EXIF orientation), or ``None``
            when the header does not say it (GIFs: TensorFlow's canvas spans
            every frame; unusual JPEG or PNG headers).
        width: The width as shown, or ``None`` likewise.
        mode: ``"gray"``, ``"gray+alpha"``, ``"RGB"``, ``"RGBA"``,
            ``"palette"``, ``"CMYK"``, or ``"?"`` when unknown.
        bit_depth: Bits per channel (PNG, JPEG) or per pixel (BMP); ``None``
            when unknown.
        orientation: The EXIF orientation, 1-8 (1 for everything but JPEGs
            that say otherwise).
    """

    format: str
    height: int | None
    width: int | None
    mode: str
    bit_depth: int | None
    orientation: int = 1

    @property
    def size(self) -> tuple[int, int] | None:
        """``(height, width)`` as shown, or ``None`` when the header does not say it."""
        return None if self.height is None or self.width is None else (self.height, self.width)


def _bad_file_error(name: object, data: bytes, fix: str) -> DataFileError:
    return DataFileError(
        describe(
            f"Cannot decode the image {name}: "
            + ("the file is empty (0 bytes)" if not data else "it is not an image file of a known format"),
            received=f"{len(data)} bytes" + (f", starting {data[:8]!r}" if data else ""),
            accepted=ACCEPTED_FORMATS,
            fix=fix,
        )
    )


def read_image_header(
    file: str | os.PathLike[str] | BinaryIO, name: object = None, *, fix: str = _DEFAULT_FIX
) -> ImageHeader:
    """Reads an image file's header: format, size as shown, colour mode, EXIF orientation.

    Reads a few bytes (a JPEG's segments are skipped over, up to its first
    scan); never decodes pixels. Only a file that is unreadable, empty or of no
    known format is refused here: a damaged body shows when it is decoded.

    Args:
        file: A path, or a binary stream positioned anywhere (it is rewound).
        name: How messages name the file (default: the path).
        fix: The fix a message suggests.

    Returns:
        The :class:`ImageHeader`.

    Raises:
        DataFileError: The file cannot be read, is empty, or is not PNG, JPEG,
            GIF or BMP (by content); the message names the file.

    Example:
        >>> import io
        >>> read_image_header(io.BytesIO(b"GIF89a\\x0a\\x00\\x08\\x00"), "x.gif").mode
        'palette'
        >>> read_image_header(io.BytesIO(b""), "empty.png")
        Traceback (most recent call last):
        ...
        transferlab.errors.DataFileError: Cannot decode the image empty.png: the file is empty (0 bytes). Received: 0 bytes. Accepted: PNG (8- or 16-bit, gray, RGB, RGBA, palette), JPEG (gray, RGB, CMYK), GIF, BMP. Fix: delete or re-export the file.
    """
    if isinstance(file, (str, os.PathLike)):
        path = Path(file)
        try:
            with path.open("rb") as stream:
                return read_image_header(stream, path if name is None else name, fix=fix)
        except OSError as error:
            raise DataFileError(
                describe(
                    f"Cannot read the image file {path if name is None else name}",
                    received=f"{type(error).__name__}: {error.strerror or error}",
                    fix="check that the file exists and is readable",
                )
            ) from None
    file.seek(0)
    head = file.read(32)
    kind = image_format(head)
    if kind is None:
        raise _bad_file_error(name, head, fix)
    if kind == "PNG":
        if head[12:16] != b"IHDR" or len(head) < 26:
            return ImageHeader(kind, None, None, "?", None)
        width, height, depth, color = struct.unpack(">IIBB", head[16:26])
        return ImageHeader(kind, height, width, _PNG_MODES.get(color, "?"), depth)
    if kind == "GIF":
        return ImageHeader(kind, None, None, "palette", 8)
    if kind == "BMP":
        return _bmp_header(head)
    return _jpeg_header(file)


def _bmp_header(head: bytes) -> ImageHeader:
    if len(head) < 30:
        return ImageHeader("BMP", None, None, "?", None)
    (dib,) = struct.unpack("<I", head[14:18])
    if dib == 12:
        width, height, _, bits = struct.unpack("<hhHH", head[18:26])
    else:
        width, height, _, bits = struct.unpack("<iiHH", head[18:30])
    mode = "palette" if bits <= 8 else "RGBA" if bits == 32 else "RGB"
    return ImageHeader("BMP", abs(height), abs(width), mode, bits)


def _jpeg_header(stream: BinaryIO) -> ImageHeader:
    """Walks a JPEG's segments to its first scan: the frame's size and the EXIF orientation.

    The walk is :func:`image_orientation`'s, on a stream: it skips over the
    segments instead of reading them (but the first ``Exif`` APP1 segment).
    """
    stream.seek(2)
    size: tuple[int, int] | None = None
    components: int | None = None
    depth: int | None = None
    orientation: int | None = None
    while True:
        head = stream.read(4)
        if len(head) < 4 or head[0] != 0xFF:
            break
        marker = head[1]
        if marker in (0xD9, 0xDA):  # end of image, start of scan
            break
        if marker == 0xFF:  # a fill byte
            stream.seek(-3, io.SEEK_CUR)
            continue
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            stream.seek(-2, io.SEEK_CUR)
            continue
        (length,) = struct.unpack(">H", head[2:4])
        if marker == 0xE1 and orientation is None:
            segment = stream.read(length - 2) if length > 2 else b""
            if segment.startswith(b"Exif\x00\x00"):
                orientation = _safe_tiff_orientation(segment[6:])
            if length < 2:
                stream.seek(length - 2 - len(segment), io.SEEK_CUR)
            continue
        if marker in _SOF_MARKERS and size is None and length >= 8:
            frame = stream.read(6)
            if len(frame) == 6:
                depth, height, width, components = struct.unpack(">BHHB", frame)
                size = (height, width)
            stream.seek(length - 2 - len(frame), io.SEEK_CUR)
            continue
        stream.seek(length - 2, io.SEEK_CUR)
    turned = orientation or 1
    height_width = size if size is None or turned < 5 else (size[1], size[0])
    return ImageHeader(
        "JPEG",
        None if height_width is None else height_width[0],
        None if height_width is None else height_width[1],
        "?" if components is None else _JPEG_MODES.get(components, "?"),
        depth,
        turned,
    )


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
    return _jpeg_header(io.BytesIO(data)).orientation


def _safe_tiff_orientation(tiff: bytes) -> int:
    try:
        return _tiff_orientation(tiff)
    except struct.error:
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


def _luminance(rgb: tf.Tensor) -> tf.Tensor:
    x = tf.cast(rgb, tf.float32)
    gray = x[..., 0] * _LUMA[0] + x[..., 1] * _LUMA[1] + x[..., 2] * _LUMA[2]
    return tf.cast(tf.clip_by_value(tf.round(gray), 0.0, 255.0), tf.uint8)[..., None]


#: Per EXIF orientation 1-8: whether to transpose first, then which axes to reverse.
_TURNS = tuple(
    (transpose, axes)
    for transpose in (False, True)
    for axes in ((False, False), (False, True), (True, True), (True, False))
)


def orient_image(image: tf.Tensor, orientation: int | tf.Tensor) -> tf.Tensor:
    """``image`` (H, W, C) turned as EXIF ``orientation`` (1-8) says a viewer shows it.

    1 as stored, 2 mirrored left-right, 3 turned 180 degrees, 4 mirrored
    top-bottom; 5-8 the same after a transpose (6: turned 90 degrees
    clockwise, 8: counter-clockwise). A tensor ``orientation`` (a scalar)
    costs one ``tf.cond`` when it is 1, else a transpose by a permutation and
    a reverse over a list of axes.

    Example:
        >>> import numpy as np
        >>> image = np.arange(6, dtype="uint8").reshape(2, 3, 1)
        >>> orient_image(image, tf.constant(6))[..., 0].numpy().tolist()  # turned clockwise
        [[3, 0], [4, 1], [5, 2]]
    """
    if isinstance(orientation, int):
        transpose, (rows, cols) = _TURNS[orientation - 1 if 1 <= orientation <= 8 else 0]
        if transpose:
            image = tf.transpose(image, (1, 0, 2))
        axes = [axis for axis, flip in ((0, rows), (1, cols)) if flip]
        return tf.reverse(image, axes) if axes else image
    index = tf.clip_by_value(tf.reshape(tf.cast(orientation, tf.int32), ()) - 1, 0, 7)

    def turned() -> tf.Tensor:
        transposes = tf.constant([t for t, _ in _TURNS])
        flips = tf.constant([axes for _, axes in _TURNS])
        perm = tf.where(tf.gather(transposes, index), tf.constant((1, 0, 2)), tf.constant((0, 1, 2)))
        axes = tf.reshape(tf.where(tf.gather(flips, index)), (-1,))
        return tf.reverse(tf.transpose(image, perm), axes)

    return tf.cond(tf.equal(index, 0), lambda: tf.identity(image), turned)


def decode_image_tensor(
    data: tf.Tensor, *, channels: int | None = None, orientation: int | tf.Tensor = 1
) -> tf.Tensor:
    """Decodes encoded image bytes into ``uint8`` ``(H, W, C)`` pixels, inside a graph or eagerly.

    Every format is decoded as stored (``tf.io.decode_image``, the first frame
    of a GIF, 16-bit PNGs converted to 8 bits, CMYK JPEGs to RGB) and then
    converted to ``channels``, then turned by ``orientation``.

    Args:
        data: A scalar ``tf.string`` tensor of PNG, JPEG, GIF or BMP bytes.
        channels: 1 (gray: luminance of RGB, alpha dropped), 3 (RGB: gray
            repeated, alpha dropped) or ``None`` (as stored: 1 to 4).
        orientation: The EXIF orientation to apply (an int or an integer
            tensor), e.g. from :attr:`ImageHeader.orientation`.

    Returns:
        A ``uint8`` tensor ``(height, width, channels)``.

    Raises:
        ConfigError: ``channels`` is not 1, 3 or ``None``.

    Example:
        >>> import numpy as np, tensorflow as tf
        >>> png = tf.io.encode_png(np.full((2, 3, 3), (200, 100, 50), "uint8"))
        >>> gray = decode_image_tensor(png, channels=1, orientation=6)
        >>> tuple(gray.shape), int(gray[0, 0, 0])  # 0.299 * 200 + 0.587 * 100 + 0.114 * 50 = 124.2
        ((3, 2, 1), 124)
    """
    if channels not in (1, 3, None):
        raise ConfigError(describe("`channels` must be 1, 3 or None", received=f"channels={channels!r}"))
    image = tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False)
    if channels is not None:
        stored = tf.shape(image)[2]
        if channels == 3:
            image = tf.cond(stored >= 3, lambda: image[..., :3], lambda: tf.tile(image[..., :1], (1, 1, 3)))
        else:
            image = tf.cond(stored >= 3, lambda: _luminance(image[..., :3]), lambda: image[..., :1])
        image.set_shape((None, None, channels))
    return orient_image(image, orientation)


@functools.cache
def _decoder(channels: int | None) -> tf.types.experimental.PolymorphicFunction:
    spec = (tf.TensorSpec((), tf.string), tf.TensorSpec((), tf.int32))
    return tf.function(
        lambda data, orientation: decode_image_tensor(data, channels=channels, orientation=orientation),
        input_signature=spec,
    )


def decode_image_file(path: str | os.PathLike[str], *, channels: int | None = None) -> npt.NDArray[np.uint8]:
    """Decodes one PNG, JPEG, GIF or BMP file into ``uint8`` ``(H, W, C)`` pixels, as a viewer shows it.

    The format is read from the content, not the name; decoding is
    :func:`decode_image_tensor`'s (the same pixels as a folder read in a
    ``tf.data`` pipeline).

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
    kind = image_format(data)
    if kind is None:
        raise _bad_file_error(file, data, _DEFAULT_FIX)
    orientation = image_orientation(data) if kind == "JPEG" else 1
    try:
        tensor = _decoder(channels)(tf.constant(data), tf.constant(orientation, tf.int32))
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.UnknownError) as err:
        reason = " ".join(_TF_NOISE.sub(" ", str(getattr(err, "message", err) or "")).split())[:200]
        raise DataFileError(
            describe(
                f"Cannot decode the image {file}: it is a damaged or unsupported {kind} file",
                received=f"{len(data)} bytes; the {kind} decoder said: {reason or type(err).__name__}",
                accepted=ACCEPTED_FORMATS,
                fix=_DEFAULT_FIX,
            )
        ) from None
    return np.asarray(tensor, dtype=np.uint8)
