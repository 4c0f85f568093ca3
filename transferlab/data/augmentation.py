"""On-the-fly image augmentation built from Keras preprocessing layers."""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import TypedDict

import keras

from transferlab.errors import ConfigError, describe

__all__ = ["AUGMENTATION_PRESETS", "make_augmentation"]


class _Magnitudes(TypedDict, total=False):
    translate: float
    rotate: float
    zoom: float
    contrast: float
    erase: float
    erase_area: tuple[float, float]


#: Magnitudes of each preset at ``strength=1``. ``translate`` and ``zoom`` are
#: fractions of the image side, ``rotate`` is in degrees, ``contrast`` is the
#: Keras ``RandomContrast`` factor, ``erase`` the probability that a patch of
#: ``erase_area`` (fraction of the image, range) is set to black. No flips:
#: a flipped digit is another symbol (or none).
AUGMENTATION_PRESETS: MappingProxyType[str, _Magnitudes] = MappingProxyType(
    {
        "none": {},
        "light": {"translate": 0.05, "rotate": 5.0, "zoom": 0.05},
        "standard": {"translate": 0.1, "rotate": 10.0, "zoom": 0.1, "contrast": 0.2},
        "strong": {
            "translate": 0.15,
            "rotate": 15.0,
            "zoom": 0.15,
            "contrast": 0.3,
            "erase": 0.5,
            "erase_area": (0.02, 0.12),
        },
    }
)


def make_augmentation(
    preset: str = "standard", *, strength: float = 1.0, seed: int | None = None
) -> keras.Sequential:
    """Builds a ``keras.Sequential`` of random transformations for raw pixels.

    The layers take raw pixel values in ``[0, 255]`` (channels last), fill
    uncovered pixels with black (0, the background of digits) and are
    identities at inference (``training=False``). Nothing is precomputed: each
    call draws new transformations. Pass the result to
    :func:`transferlab.data.make_pipeline` as ``augment=``; the pipeline then
    draws its random numbers statelessly from ``(seed, epoch, batch)`` so a
    resumed run sees the same augmented images.

    Presets (magnitudes at ``strength=1``, see ``AUGMENTATION_PRESETS``):
    ``"none"`` (identity), ``"light"`` (shift 5 %, rotate 5 degrees, zoom 5 %),
    ``"standard"`` (shift 10 %, rotate 10 degrees, zoom 10 %, contrast 0.2),
    ``"strong"`` (shift 15 %, rotate 15 degrees, zoom 15 %, contrast 0.3, and a
    black patch of 2-12 % of the image with probability 0.5). No flips.

    Args:
        preset: ``"none"``, ``"light"``, ``"standard"`` or ``"strong"``.
        strength: Multiplies every magnitude (0 turns augmentation off);
            shifts and zooms are capped at 50 %, rotations at 180 degrees,
            contrast at 0.9 and the erasing probability at 1.
        seed: Seed of the layers' own generators (layer ``i`` gets ``seed + i``),
            used when the model is called directly; ``make_pipeline`` ignores it
            and uses its own stateless seeds.

    Returns:
        A ``keras.Sequential`` named ``"augmentation_<preset>"``.

    Raises:
        ConfigError: an unknown preset, or a negative or non-finite strength.

    Example:
        >>> import numpy as np
        >>> augment = make_augmentation("light", seed=0)
        >>> [layer.__class__.__name__ for layer in augment.layers]
        ['RandomTranslation', 'RandomRotation', 'RandomZoom']
        >>> x = np.full((2, 28, 28, 1), 255.0, "float32")
        >>> bool((augment(x, training=False) == x).numpy().all())
        True
    """
    if preset not in AUGMENTATION_PRESETS:
        raise ConfigError(
            describe(
                "Unknown augmentation `preset`",
                received=f"preset={preset!r}",
                accepted=", ".join(map(repr, AUGMENTATION_PRESETS)),
            )
        )
    if (
        isinstance(strength, bool)
        or not isinstance(strength, (int, float))
        or not math.isfinite(strength)
        or strength < 0
    ):
        raise ConfigError(
            describe(
                "`strength` must be a finite number >= 0",
                received=f"strength={strength!r}",
                fix="pass e.g. strength=0.5 for half the preset's magnitudes",
            )
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(
            describe(
                "`seed` must be a non-negative integer or None",
                received=f"seed={seed!r}",
            )
        )
    magnitudes = AUGMENTATION_PRESETS[preset]
    s = float(strength)

    def layer_seed(i: int) -> int | None:
        return None if seed is None else seed + i

    layers: list[keras.layers.Layer] = []
    fill = {"fill_mode": "constant", "fill_value": 0.0}
    if s > 0 and "translate" in magnitudes:
        t = min(magnitudes["translate"] * s, 0.5)
        layers.append(keras.layers.RandomTranslation(t, t, seed=layer_seed(len(layers)), **fill))
    if s > 0 and "rotate" in magnitudes:
        r = min(magnitudes["rotate"] * s, 180.0) / 360.0
        layers.append(keras.layers.RandomRotation(r, seed=layer_seed(len(layers)), **fill))
    if s > 0 and "zoom" in magnitudes:
        z = min(magnitudes["zoom"] * s, 0.5)
        layers.append(keras.layers.RandomZoom(z, z, seed=layer_seed(len(layers)), **fill))
    if s > 0 and "contrast" in magnitudes:
        c = min(magnitudes["contrast"] * s, 0.9)
        layers.append(keras.layers.RandomContrast(c, value_range=(0, 255), seed=layer_seed(len(layers))))
    if s > 0 and "erase" in magnitudes:
        p = min(magnitudes["erase"] * s, 1.0)
        layers.append(
            keras.layers.RandomErasing(
                factor=(p, p),
                scale=magnitudes["erase_area"],
                fill_value=0.0,
                value_range=(0, 255),
                seed=layer_seed(len(layers)),
            )
        )
    if not layers:
        layers.append(keras.layers.Identity())
    return keras.Sequential(layers, name=f"augmentation_{preset}")
