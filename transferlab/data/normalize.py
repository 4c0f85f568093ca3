"""Pixel scaling for NumPy arrays, with the formulas of InputAdapter's modes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from transferlab.errors import ConfigError, DataError, describe

__all__ = ["normalize"]

_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
_TORCH_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_TORCH_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
_MODES = ("unit", "standardize", "caffe", "tf", "torch")


def normalize(
    images: npt.ArrayLike,
    mode: str = "unit",
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
) -> npt.NDArray[np.float32]:
    """Scales raw pixel values (``[0, 255]``) the way a backbone expects.

    The modes ``"unit"``, ``"caffe"``, ``"tf"`` and ``"torch"`` use the same
    formulas as :class:`transferlab.data.InputAdapter` (and as
    ``keras.applications``' ``preprocess_input`` of VGG16 for ``"caffe"`` and of
    InceptionV3 for ``"tf"``). Arrays whose last axis is not 1 or 3 (e.g.
    ``(N, H, W)``) count as single-channel: ``"caffe"`` and ``"torch"`` then use
    the average of the three ImageNet means/stds, like InputAdapter with
    ``channels=1``.

    Args:
        images: Pixel values in ``[0, 255]``, any numeric dtype, channels last.
        mode: ``"unit"`` (``x / 255``), ``"standardize"`` (``(x - mean) / std``),
            ``"caffe"`` (RGB to BGR, minus the ImageNet means), ``"tf"``
            (``x / 127.5 - 1``) or ``"torch"`` (``(x / 255 - mean) / std`` with the
            ImageNet mean/std).
        mean: Only for ``"standardize"``: a scalar or one value per channel;
            defaults to the per-channel mean of ``images``.
        std: Only for ``"standardize"``: as ``mean``; defaults to the
            per-channel standard deviation of ``images``.

    Returns:
        A new ``float32`` array of the same shape.

    Raises:
        ConfigError: an unknown mode, ``mean``/``std`` with a mode that fixes
            them, or a zero ``std``.
        DataError: ``images`` is not numeric.

    Example:
        >>> import numpy as np
        >>> normalize(np.array([[0, 255]], "uint8"), "tf").tolist()
        [[-1.0, 1.0]]
    """
    if mode not in _MODES:
        raise ConfigError(
            describe(
                "Unknown normalization `mode`",
                received=f"mode={mode!r}",
                accepted=", ".join(map(repr, _MODES)),
            )
        )
    if mode != "standardize" and (mean is not None or std is not None):
        raise ConfigError(
            describe(
                f"`mean` and `std` apply only to mode='standardize'; mode={mode!r} fixes its own",
                received=f"mean={mean!r}, std={std!r}",
                fix="drop mean/std, or use mode='standardize'",
            )
        )
    array = np.asarray(images)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise DataError(
            describe(
                "`images` must be a numeric array",
                received=f"dtype={array.dtype}",
                fix="pass pixel values in [0, 255] as uint8 or float",
            )
        )
    x = array.astype(np.float32)
    rgb = x.ndim >= 1 and x.shape[-1] == 3
    if mode == "unit":
        return x / np.float32(255.0)
    if mode == "tf":
        return x / np.float32(127.5) - np.float32(1.0)
    if mode == "caffe":
        if rgb:
            return x[..., ::-1] - _CAFFE_MEAN_BGR
        return x - np.float32(_CAFFE_MEAN_BGR.sum() / 3)
    if mode == "torch":
        if rgb:
            return (x / np.float32(255.0) - _TORCH_MEAN) / _TORCH_STD
        return (x / np.float32(255.0) - np.float32(_TORCH_MEAN.sum() / 3)) / np.float32(_TORCH_STD.sum() / 3)
    axes = tuple(range(x.ndim - 1)) if x.ndim >= 4 or (x.ndim >= 2 and rgb) else None
    m = np.asarray(x.mean(axis=axes) if mean is None else mean, dtype=np.float32)
    s = np.asarray(x.std(axis=axes) if std is None else std, dtype=np.float32)
    if np.any(s == 0):
        raise ConfigError(
            describe(
                "`std` must not be zero",
                received=f"std={s.tolist()!r}" + (" (computed from constant images)" if std is None else ""),
                fix="pass a positive std, or use mode='unit' for constant images",
            )
        )
    return (x - m) / s
