"""``resolve_precision``: what a run's ``precision=`` option means on this machine."""

from __future__ import annotations

from transferlab.errors import ConfigError, describe

__all__ = ["PRECISIONS", "resolve_precision"]

#: Accepted values of a run's ``precision`` option.
PRECISIONS = ("float32", "bfloat16", "float16", "mixed")


def resolve_precision(precision: str, *, has_gpu: bool | None = None) -> str:
    """Resolves a precision name to what ``build_classifier(precision=...)`` takes.

    ``"mixed"`` picks the mixed type that pays off here: ``"float16"`` on a GPU,
    ``"bfloat16"`` on a CPU. Nothing global is changed: the classifier builder
    applies the policy to its own layers and keeps the head's last layer in
    float32.

    Args:
        precision: ``"float32"``, ``"bfloat16"``, ``"float16"`` or ``"mixed"``.
        has_gpu: Whether a GPU is used; ``None`` asks TensorFlow.

    Returns:
        ``"float32"``, ``"bfloat16"`` or ``"float16"``.

    Raises:
        ConfigError: For another name.

    Example:
        >>> resolve_precision("mixed", has_gpu=False), resolve_precision("mixed", has_gpu=True)
        ('bfloat16', 'float16')
    """
    if precision not in PRECISIONS:
        raise ConfigError(
            describe(
                "Unknown `precision`",
                received=f"precision={precision!r}",
                accepted=", ".join(map(repr, PRECISIONS)),
                fix="pass 'mixed' for bfloat16 on CPU and float16 on GPU",
            )
        )
    if precision != "mixed":
        return precision
    if has_gpu is None:
        import tensorflow as tf

        has_gpu = bool(tf.config.list_logical_devices("GPU"))
    return "float16" if has_gpu else "bfloat16"
