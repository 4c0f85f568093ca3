"""Accuracy, per-class precision/recall/F1, confusion matrix, most-confused pairs, top losses."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, TypeAlias, TypedDict

import numpy as np
import numpy.typing as npt

from transferlab.errors import ConfigError, DataError, describe
from transferlab.evaluation.tta_probabilities import DEFAULT_TTA_PRESET, as_probabilities, tta_probabilities

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["ClassificationReport"]

_Int64Array: TypeAlias = np.ndarray[tuple[int, ...], np.dtype[np.int64]]
_Float64Array: TypeAlias = np.ndarray[tuple[int, ...], np.dtype[np.float64]]


class ClassMetrics(TypedDict):
    """One class's row of :meth:`ClassificationReport.per_class`."""

    precision: float
    recall: float
    f1: float
    support: int


class ReportDict(TypedDict):
    """:meth:`ClassificationReport.to_dict`: JSON-ready."""

    accuracy: float
    examples: int
    per_class: dict[str, ClassMetrics]
    confusion_matrix: list[list[int]]
    most_confused: list[list[str | int]]


def _outputs(model: keras.Model) -> int | None:
    """The number of classes a model predicts (its last axis), if it says."""
    try:
        units = model.output_shape[-1]
    except (AttributeError, ValueError, IndexError, TypeError):
        return None
    return units if isinstance(units, int) and units >= 2 else None


def _tta_augmentation(tta: object, preset: object, seed: object) -> keras.Sequential | None:
    """The augmentation test-time augmentation draws with (``None`` when ``tta`` is 0), arguments checked."""
    from transferlab.data.augmentation import AUGMENTATION_PRESETS, make_augmentation

    if isinstance(tta, bool) or not isinstance(tta, (int, np.integer)) or tta < 0:
        raise ConfigError(
            describe(
                "`tta` must be an integer >= 0",
                received=f"tta={tta!r}",
                fix="pass 0 for no test-time augmentation, or e.g. tta=4 for each example and 4 augmented copies",
            )
        )
    if not isinstance(preset, str) or preset not in AUGMENTATION_PRESETS:
        raise ConfigError(
            describe(
                "Unknown augmentation preset `tta_preset`",
                received=f"tta_preset={preset!r}",
                accepted=", ".join(map(repr, AUGMENTATION_PRESETS)),
            )
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(describe("`seed` must be an integer >= 0", received=f"seed={seed!r}"))
    return make_augmentation(preset, seed=int(seed)) if tta else None


@dataclasses.dataclass(frozen=True, eq=False)
class ClassificationReport:
    """What a classifier got right and wrong on a labelled set.

    Build it from predictions with :meth:`from_probabilities`, or run a model
    with :meth:`evaluate`.

    Attributes:
        class_names: Names of the classes, in label order.
        labels: True labels ``(N,)``.
        probabilities: Predicted class probabilities ``(N, num_classes)``.

    Example:
        >>> import numpy as np
        >>> probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
        >>> report = ClassificationReport.from_probabilities(probs, np.array([0, 1, 1, 1]), ("a", "b"))
        >>> report.accuracy
        0.75
        >>> report.confusion_matrix.tolist()
        [[1, 0], [1, 2]]
        >>> report.most_confused()
        [('b', 'a', 1)]
    """

    class_names: tuple[str, ...]
    labels: _Int64Array
    probabilities: _Float64Array

    @classmethod
    def from_probabilities(
        cls, probabilities: npt.ArrayLike, labels: npt.ArrayLike, class_names: tuple[str, ...] | list[str]
    ) -> ClassificationReport:
        """Checks shapes and builds the report.

        Raises:
            DataError: If the shapes disagree or a label is out of range.
        """
        probs = np.asarray(probabilities, dtype=np.float64)
        y = np.asarray(labels)
        names = tuple(class_names)
        if probs.ndim != 2 or probs.shape[1] != len(names) or len(probs) != len(y):
            raise DataError(
                describe(
                    "`probabilities` must have shape (N, num_classes) matching `labels`",
                    received=f"probabilities.shape={probs.shape}, {len(y)} labels, {len(names)} class names",
                )
            )
        if y.size and (y.min() < 0 or y.max() >= len(names)):
            raise DataError(
                describe(
                    f"`labels` must lie in [0, {len(names)})", received=f"labels in [{y.min()}, {y.max()}]"
                )
            )
        return cls(names, y.astype(np.int64), probs)

    @classmethod
    def evaluate(
        cls,
        model: keras.Model,
        data: object,
        *,
        batch_size: int = 256,
        tta: int = 0,
        tta_preset: str = DEFAULT_TTA_PRESET,
        seed: int = 0,
    ) -> ClassificationReport:
        """Runs ``model`` on ``data`` and builds the report.

        Every example is predicted exactly once, also under a distribution
        strategy (the model's, e.g. built in ``MirroredStrategy.scope()``): the
        batches come from ``make_pipeline(..., num_replicas=<the strategy's>,
        evaluation=True)``, so no replica gets an empty batch, whatever
        ``len(data) % batch_size``.

        ``data`` is anything :func:`~transferlab.data.as_source` takes. It is
        read batch by batch, never held in memory whole: an indexed source (an
        image folder, TFRecords, arrays) goes through ``model.predict`` with
        the labels it lists; a ``tf.data.Dataset`` is read once, front to
        back, its labels collected as its batches go by (predicted on the
        default device, batch by batch, under a strategy of several replicas).
        A file that cannot be read is an error naming it.

        The model is expected to output probabilities (a softmax head); logits
        are turned into probabilities with a softmax.

        With ``tta=n > 0`` (test-time augmentation), each example's
        probabilities are the mean over the example and ``n`` augmented copies
        of it (see :func:`~transferlab.evaluation.tta_probabilities.tta_probabilities`):
        each batch is read once and augmented in memory, ``n`` times in a row,
        by one ``make_augmentation(tta_preset, seed=seed)`` for the whole call,
        so the same call (data, ``batch_size``, ``seed``) gives the same
        numbers; the model runs ``n + 1`` times per batch.

        Args:
            model: A classifier taking raw-pixel batches of ``data``'s images.
            data: The labelled examples: a ``LabeledImages``, a source, an
                ``(images, labels)`` pair of arrays or a ``tf.data.Dataset``
                of ``(image, label)`` (its classes: the model's outputs).
            batch_size: Examples per batch, rounded up to a multiple of the
                strategy's replicas.
            tta: Augmented copies averaged over besides each example; 0: off.
            tta_preset: The augmentation preset the copies are drawn with
                (see :func:`~transferlab.data.make_augmentation`).
            seed: Seed of the copies' transformations.

        Returns:
            The report over all examples of ``data``.

        Raises:
            ConfigError: ``batch_size`` below 1, ``tta`` or ``seed`` below 0,
                an unknown ``tta_preset``.
            DataError: The model gave another number of outputs than examples,
                or (see ``make_pipeline``) too few examples for the replicas;
                data of a kind no source is made of.
            DataFileError: A file of ``data`` cannot be read (named).

        Example:
            >>> import keras, numpy as np
            >>> from transferlab.data import LabeledImages
            >>> model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(),
            ...                           keras.layers.Dense(2, activation="softmax")])
            >>> data = LabeledImages(np.zeros((5, 2, 2), "uint8"), np.array([0, 1, 0, 1, 0]), ("a", "b"))
            >>> report = ClassificationReport.evaluate(model, data, batch_size=4)
            >>> report.probabilities.shape, len(report.labels)
            ((5, 2), 5)
            >>> ClassificationReport.evaluate(model, data, tta=4, seed=0).probabilities.shape
            (5, 2)
        """
        import tensorflow as tf

        from transferlab.data.pipeline import make_pipeline
        from transferlab.data.read_errors import naming_bad_files
        from transferlab.data.source import IndexedSource, as_source

        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ConfigError(
                describe("`batch_size` must be an integer >= 1", received=f"batch_size={batch_size!r}")
            )
        augmentation = _tta_augmentation(tta, tta_preset, seed)
        outputs_per_example = model.output_shape[-1]
        source = as_source(
            data,
            name="data",
            num_classes=outputs_per_example if isinstance(outputs_per_example, int) else None,
        )
        replicas = int(getattr(model.distribute_strategy, "num_replicas_in_sync", 1))
        batch = int(batch_size) + (-int(batch_size)) % replicas
        pipeline = make_pipeline(source, batch_size=batch, num_replicas=replicas, evaluation=True)
        with naming_bad_files(source):
            if isinstance(source, IndexedSource) and augmentation is None:
                labels = source.labels
                outputs = np.asarray(model.predict(pipeline, verbose=0), dtype=np.float64)
            else:  # a stream (its labels come with its batches, read once), or test-time augmentation
                parts, label_parts = [], []
                for x, y in pipeline:
                    if augmentation is not None:
                        parts.append(tta_probabilities(model, x, copies=int(tta), augmentation=augmentation))
                    else:
                        out = model.predict_on_batch(x) if replicas == 1 else model(x, training=False)
                        parts.append(np.asarray(tf.convert_to_tensor(out), dtype=np.float64))
                    label_parts.append(np.asarray(y, dtype=np.int64))
                labels = np.concatenate(label_parts) if label_parts else np.zeros(0, np.int64)
                outputs = np.concatenate(parts) if parts else np.zeros((0, source.num_classes))
        if len(outputs) != len(labels):
            raise DataError(
                describe(
                    "The model gave another number of predictions than there are examples",
                    received=f"{len(outputs)} predictions for {len(labels)} examples",
                )
            )
        return cls.from_probabilities(as_probabilities(outputs), labels, source.class_names)

    def subset(self, indices: npt.ArrayLike) -> ClassificationReport:
        """The report over the examples ``indices`` only, in that order (e.g. the top losses).

        Example:
            >>> report = ClassificationReport.from_probabilities(
            ...     np.eye(3)[[0, 1, 2, 1]], np.array([0, 1, 2, 2]), ("a", "b", "c"))
            >>> part = report.subset(report.top_losses(1))
            >>> part.labels.tolist(), part.predictions.tolist()
            ([2], [1])
        """
        idx = np.asarray(indices, dtype=np.int64)
        return ClassificationReport(self.class_names, self.labels[idx], self.probabilities[idx])

    @property
    def predictions(self) -> _Int64Array:
        """Predicted labels ``(N,)``."""
        return np.asarray(self.probabilities.argmax(axis=1), dtype=np.int64)  # intp: a no-op on 64 bits

    @property
    def accuracy(self) -> float:
        """Fraction of examples predicted right."""
        return float((self.predictions == self.labels).mean()) if len(self.labels) else 0.0

    @property
    def confusion_matrix(self) -> _Int64Array:
        """``[true, predicted]`` counts, ``(num_classes, num_classes)``."""
        k = len(self.class_names)
        return np.bincount(self.labels * k + self.predictions, minlength=k * k).reshape(k, k)

    def per_class(self) -> dict[str, ClassMetrics]:
        """Precision, recall, F1 and support for each class."""
        cm = self.confusion_matrix
        true_pos = np.diag(cm).astype(float)
        predicted = cm.sum(axis=0)
        actual = cm.sum(axis=1)
        precision = np.divide(true_pos, predicted, out=np.zeros_like(true_pos), where=predicted > 0)
        recall = np.divide(true_pos, actual, out=np.zeros_like(true_pos), where=actual > 0)
        denom = precision + recall
        f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(true_pos), where=denom > 0)
        return {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(self.class_names, precision, recall, f1, actual)
        }

    def most_confused(self, n: int = 5) -> list[tuple[str, str, int]]:
        """The ``n`` most frequent (true, predicted, count) mistakes, most first."""
        cm = self.confusion_matrix.copy()
        np.fill_diagonal(cm, 0)
        order = np.argsort(-cm, axis=None, kind="stable")[:n]
        pairs = [(int(i) // cm.shape[1], int(i) % cm.shape[1]) for i in order]
        return [(self.class_names[t], self.class_names[p], int(cm[t, p])) for t, p in pairs if cm[t, p] > 0]

    def losses(self) -> _Float64Array:
        """Cross-entropy of each example, ``(N,)``."""
        picked = self.probabilities[np.arange(len(self.labels)), self.labels]
        return -np.log(np.clip(picked, 1e-12, 1.0))

    def top_losses(self, n: int = 9) -> _Int64Array:
        """Indices of the ``n`` examples with the highest loss, highest first."""
        return np.argsort(-self.losses(), kind="stable")[:n]

    def to_dict(self) -> ReportDict:
        """Accuracy, per-class metrics, confusion matrix and most-confused pairs (JSON-ready)."""
        return {
            "accuracy": self.accuracy,
            "examples": len(self.labels),
            "per_class": self.per_class(),
            "confusion_matrix": self.confusion_matrix.tolist(),
            "most_confused": [list(t) for t in self.most_confused()],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self) -> str:
        """A table a person can read: per-class metrics, accuracy, most-confused pairs."""
        lines = [f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
        for name, m in self.per_class().items():
            lines.append(
                f"{name:<10}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}{m['support']:>10d}"
            )
        lines.append(f"accuracy  {self.accuracy:.4f} on {len(self.labels)} examples")
        confused = ", ".join(f"{t}->{p} ({c})" for t, p, c in self.most_confused())
        lines.append(f"most confused (true->predicted): {confused or 'none'}")
        return "\n".join(lines)
