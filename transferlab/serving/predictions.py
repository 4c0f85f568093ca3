"""What :func:`~transferlab.serving.predict` returns: classes, probabilities, class names."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from transferlab.errors import ConfigError, describe

__all__ = ["Predictions", "display_name"]


def display_name(path: str | os.PathLike[str] | bytes) -> str:
    """A file name as printable UTF-8 text, whatever its encoding on disk.

    Undecodable bytes of a file name (Python keeps them as surrogate escapes)
    are written as ``\\xNN``, so the name survives into CSV or JSON output
    instead of failing its encoding. Valid names of any script are unchanged.

    Example:
        >>> display_name("photos/café.png"), display_name(b"photos/caf\\xe9.png")
        ('photos/café.png', 'photos/caf\\\\xe9.png')
        >>> display_name("caf\\udce9.png").encode("utf-8")
        b'caf\\\\xe9.png'
    """
    raw = os.fsencode(path)
    return raw.decode("utf-8", errors="backslashreplace")


@dataclasses.dataclass(frozen=True, eq=False)
class Predictions:
    """A model's predictions for ``N`` images.

    Attributes:
        classes: Predicted class indices, ``int64`` ``(N,)``.
        probabilities: Class probabilities, ``float32`` ``(N, num_classes)``.
        class_names: One name per class; class ``i`` is ``class_names[i]``.

    Example:
        >>> import numpy as np
        >>> p = Predictions.from_probabilities(np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]]),
        ...                                    ("cat", "dog", "fox"))
        >>> p.classes.tolist(), p.labels, [round(float(c), 2) for c in p.confidence]
        ([1, 0], ['dog', 'cat'], [0.7, 0.6])
        >>> p.top_k(2)[0].tolist()
        [[1, 2], [0, 1]]
    """

    classes: npt.NDArray[np.int64]
    probabilities: npt.NDArray[np.float32]
    class_names: tuple[str, ...]

    @classmethod
    def from_probabilities(
        cls, probabilities: npt.ArrayLike, class_names: Sequence[str] | None = None
    ) -> Predictions:
        """Builds the record from ``(N, num_classes)`` probabilities (argmax for classes).

        Args:
            probabilities: Class probabilities, one row per image.
            class_names: One name per class; ``None``: ``"0"``, ``"1"``, ...

        Raises:
            ConfigError: If ``class_names`` does not have one name per class.
        """
        probs = np.asarray(probabilities, dtype=np.float32)
        if probs.ndim != 2:
            probs = probs.reshape(len(probs), -1)
        k = probs.shape[1]
        names = tuple(str(i) for i in range(k)) if class_names is None else tuple(str(n) for n in class_names)
        if len(names) != k:
            raise ConfigError(
                describe(
                    "`class_names` must have one name per model output",
                    received=f"{len(names)} names {list(names)!r} for {k} outputs",
                    fix=f"pass {k} class names, or class_names=None for '0'..'{k - 1}'",
                )
            )
        classes = probs.argmax(axis=1).astype(np.int64) if len(probs) else np.zeros(0, np.int64)
        return cls(classes, probs, names)

    def __len__(self) -> int:
        return len(self.classes)

    @property
    def labels(self) -> list[str]:
        """The predicted class name of each image."""
        return [self.class_names[i] for i in self.classes]

    @property
    def confidence(self) -> npt.NDArray[np.float32]:
        """The probability of each predicted class, ``(N,)``."""
        return self.probabilities[np.arange(len(self.classes)), self.classes]

    def top_k(self, k: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
        """The ``k`` most probable classes of each image, most probable first.

        Returns:
            ``(indices, probabilities)``, each ``(N, k)``.

        Raises:
            ConfigError: If ``k`` is not in ``[1, num_classes]``.
        """
        num = len(self.class_names)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= num:
            raise ConfigError(
                describe(
                    "`k` must be between 1 and the number of classes",
                    received=f"k={k!r}",
                    accepted=f"1 to {num}",
                )
            )
        order = np.argsort(-self.probabilities, axis=1, kind="stable")[:, : int(k)]
        return order, np.take_along_axis(self.probabilities, order, axis=1)
