"""Few-shot heads fitted on features: class prototypes and a linear probe fitted to convergence.

Pure NumPy functions from features ``(N, D)`` and integer labels ``(N,)`` to
head weights that can be set into a Keras head:

- :func:`class_prototypes`: the mean of the L2-normalised features of each
  class, normalised; the nearest prototype (:func:`nearest_prototype`, or a
  :class:`~transferlab.backbones.CosineClassifier` given them with
  ``set_prototypes``) wins.
- :func:`fit_linear_probe`: a linear head ``features @ kernel + bias``, fitted
  to convergence, its L2 strength chosen by cross-validation on the labelled
  examples (CLIP's linear-probe protocol); ``kernel`` and ``bias`` go into a
  ``Dense(num_classes)`` layer with ``set_weights``. The :class:`ProbeFit` it
  returns records the choice and its scores (:meth:`ProbeFit.as_json`).

Everything is deterministic: no random number is drawn.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from transferlab.errors import ConfigError, DataError, describe

__all__ = [
    "DEFAULT_L2",
    "DEFAULT_L2_GRID",
    "PROBE_METHODS",
    "ProbeFit",
    "class_prototypes",
    "fit_linear_probe",
    "nearest_prototype",
]

_F64: TypeAlias = npt.NDArray[np.float64]
_F32: TypeAlias = npt.NDArray[np.float32]
_I64: TypeAlias = npt.NDArray[np.int64]

#: The probe's fitting methods: multinomial logistic regression by L-BFGS (CLIP's protocol), or
#: ridge regression on one-hot targets in closed form (exact leave-one-out scores for every l2).
PROBE_METHODS = ("logistic", "ridge")

#: The L2 strengths tried by cross-validation when ``l2=None``, by method. The objective is the
#: mean loss per example plus ``l2 / 2 * ||W||²`` on standardised features, so the strengths
#: mean the same whatever the number of examples or the features' scale.
DEFAULT_L2_GRID: dict[str, tuple[float, ...]] = {
    "logistic": (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 3e-4, 1e-4),
    "ridge": tuple(float(10.0**e) for e in np.arange(2.0, -6.25, -0.25)),
}

#: The strength used when cross-validation cannot run (a class with a single example): strong,
#: which makes the probe close to nearest class mean on the standardised features.
DEFAULT_L2: dict[str, float] = {"logistic": 1.0, "ridge": 10.0}

_EPS = 1e-12


# === Checks ===


def _check_num_classes(num_classes: object) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ConfigError(
            describe(
                "`num_classes` must be an integer >= 2",
                received=f"num_classes={num_classes!r}",
                accepted="an int >= 2",
                fix="pass the number of classes of the labelled set",
            )
        )
    return int(num_classes)


def _check_features(features: npt.ArrayLike, name: str = "features") -> _F64:
    try:
        array = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(
            describe(
                f"`{name}` must be a numeric array of shape (N, D)",
                received=f"{type(features).__name__} ({err})",
                accepted="a float array (N, D), one row of features per example",
                fix="pass the backbone's features as a NumPy array",
            )
        ) from err
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise DataError(
            describe(
                f"`{name}` must be a non-empty array of shape (N, D)",
                received=f"{name}.shape={array.shape}",
                accepted="shape (N, D) with N >= 1 examples and D >= 1 features",
                fix="flatten or pool the features to one vector per example",
            )
        )
    finite = np.isfinite(array)
    if not finite.all():
        rows = np.flatnonzero(~finite.all(axis=1))
        raise DataError(
            describe(
                f"`{name}` must be finite",
                received=f"NaN or infinity in {len(rows)} of {len(array)} rows (first: row {int(rows[0])})",
                accepted="finite numbers",
                fix="check the backbone's outputs (a diverged model gives NaN) or drop those examples",
            )
        )
    return array


def _check_labels(labels: npt.ArrayLike, n: int, num_classes: int) -> _I64:
    raw = np.asarray(labels)
    if raw.ndim != 1 or len(raw) != n:
        raise DataError(
            describe(
                "`labels` must be one integer per row of `features`",
                received=f"labels.shape={raw.shape} for {n} rows of features",
                accepted=f"shape ({n},)",
                fix="pass integer class indices (not one-hot), as many as there are feature rows",
            )
        )
    if raw.dtype == np.bool_ or not (
        np.issubdtype(raw.dtype, np.integer)
        or (
            np.issubdtype(raw.dtype, np.floating)
            and np.all(np.isfinite(raw))
            and np.all(raw == np.round(raw))
        )
    ):
        raise DataError(
            describe(
                "`labels` must be integer class indices",
                received=f"labels of dtype {raw.dtype}",
                accepted=f"integers in [0, {num_classes})",
                fix="pass class indices, e.g. np.argmax(one_hot, axis=1)",
            )
        )
    y = raw.astype(np.int64)
    if y.min() < 0 or y.max() >= num_classes:
        raise DataError(
            describe(
                f"`labels` must lie in [0, {num_classes})",
                received=f"labels in [{int(y.min())}, {int(y.max())}]",
                accepted=f"integers 0..{num_classes - 1}",
                fix="re-index the labels to 0..num_classes-1 (select_classes does) or raise num_classes",
            )
        )
    counts = np.bincount(y, minlength=num_classes)
    empty = [int(c) for c in np.flatnonzero(counts == 0)]
    if empty:
        raise DataError(
            describe(
                "Every class needs at least one labelled example",
                received=f"no example of class{'es' if len(empty) > 1 else ''} {', '.join(map(str, empty))}",
                accepted=f"labels covering all {num_classes} classes",
                fix="add examples of those classes, or lower num_classes and re-index the labels",
            )
        )
    return y


def _check_inputs(
    features: npt.ArrayLike, labels: npt.ArrayLike, num_classes: object
) -> tuple[_F64, _I64, int]:
    classes = _check_num_classes(num_classes)
    x = _check_features(features)
    return x, _check_labels(labels, len(x), classes), classes


def _normalise_rows(x: _F64) -> _F64:
    norms = np.sqrt(np.maximum(np.sum(x * x, axis=1, keepdims=True), _EPS))
    unit: _F64 = x / norms
    return unit


# === Prototypes ===


def class_prototypes(features: npt.ArrayLike, labels: npt.ArrayLike, num_classes: int) -> _F32:
    """The prototype of each class: the mean of its L2-normalised features, normalised.

    Args:
        features: Features ``(N, D)``, one row per example.
        labels: Class indices ``(N,)`` in ``[0, num_classes)``.
        num_classes: Number of classes, >= 2; each needs an example.

    Returns:
        Unit vectors ``(num_classes, D)``, float32, row ``c`` for class ``c``
        (a zero row where a class's normalised features cancel out exactly).

    Raises:
        ConfigError: ``num_classes`` is not an integer >= 2.
        DataError: ``features`` is not a finite ``(N, D)`` array, ``labels``
            does not match it or lies out of range, or a class has no example
            (named).

    Example:
        >>> features = [[2.0, 0.0], [0.0, 5.0], [0.0, 1.0], [3.0, 3.0]]
        >>> class_prototypes(features, [0, 0, 1, 1], 2).astype("float64").round(3).tolist()
        [[0.707, 0.707], [0.383, 0.924]]
    """
    x, y, classes = _check_inputs(features, labels, num_classes)
    unit = _normalise_rows(x)
    sums = np.zeros((classes, x.shape[1]))
    np.add.at(sums, y, unit)
    means = sums / np.bincount(y, minlength=classes)[:, None]
    norms = np.sqrt(np.sum(means * means, axis=1, keepdims=True))
    return np.where(norms > _EPS, means / np.maximum(norms, _EPS), 0.0).astype(np.float32)


def nearest_prototype(features: npt.ArrayLike, prototypes: npt.ArrayLike) -> _I64:
    """The class of the prototype nearest to each example (the largest cosine).

    Args:
        features: Features ``(N, D)``.
        prototypes: One vector per class ``(C, D)``, e.g. from :func:`class_prototypes`.

    Returns:
        Class indices ``(N,)`` (the lowest on a tie).

    Raises:
        DataError: Either array is not finite and 2-D, or their widths differ.

    Example:
        >>> nearest_prototype([[1.0, 0.1], [-1.0, 3.0]], [[1.0, 0.0], [0.0, 1.0]]).tolist()
        [0, 1]
    """
    x = _check_features(features)
    p = _check_features(prototypes, "prototypes")
    if p.shape[1] != x.shape[1]:
        raise DataError(
            describe(
                "`features` and `prototypes` must have the same width",
                received=f"features.shape={x.shape}, prototypes.shape={p.shape}",
                accepted=f"prototypes of shape (C, {x.shape[1]})",
                fix="compute the prototypes from features of the same backbone and pooling",
            )
        )
    nearest: _I64 = np.argmax(_normalise_rows(x) @ _normalise_rows(p).T, axis=1).astype(np.int64)
    return nearest


# === Linear probe ===


@dataclasses.dataclass(frozen=True, eq=False)
class ProbeFit:
    """A fitted linear probe and how its L2 strength was chosen.

    ``features @ kernel + bias`` are the logits (for ``"ridge"``: regression
    scores of the one-hot targets, whose argmax is the class) for *raw*
    features: the standardisation used while fitting is folded in.

    Attributes:
        kernel: ``(D, C)`` float32, for a ``Dense(C)`` layer's kernel.
        bias: ``(C,)`` float32.
        l2: The L2 strength of this fit.
        method: ``"logistic"`` or ``"ridge"``.
        cv: How the strengths were scored: ``"leave-one-out"``,
            ``"stratified k-fold (k=3)"``, or ``"none"`` (see ``note``).
        l2_grid: The strengths considered, strongest first.
        cv_accuracy: Cross-validated accuracy for each of ``l2_grid`` (empty
            when ``cv`` is ``"none"``).
        cv_loss: Cross-validated mean loss for each (cross-entropy, or half the
            squared error for ridge); breaks ties of accuracy.
        note: Why the strength is what it is, in words.
        converged: Whether the final fit met its tolerance (ridge: always).
        iterations: L-BFGS iterations of the final fit (0 for ridge).
        feature_mean: ``(D,)`` means used to standardise, float64.
        feature_scale: ``(D,)`` divisors used to standardise (1 for a
            constant feature), float64.
    """

    kernel: _F32
    bias: _F32
    l2: float
    method: str
    cv: str
    l2_grid: tuple[float, ...]
    cv_accuracy: tuple[float, ...]
    cv_loss: tuple[float, ...]
    note: str
    converged: bool
    iterations: int
    feature_mean: _F64
    feature_scale: _F64

    @property
    def best_cv_accuracy(self) -> float | None:
        """The cross-validated accuracy of the chosen strength, or None without cross-validation."""
        if not self.cv_accuracy:
            return None
        return self.cv_accuracy[self.l2_grid.index(self.l2)]

    def logits(self, features: npt.ArrayLike) -> _F32:
        """``features @ kernel + bias`` for raw features ``(N, D)``, float32."""
        x = _check_features(features)
        if x.shape[1] != self.kernel.shape[0]:
            raise DataError(
                describe(
                    "`features` must have the width the probe was fitted on",
                    received=f"features.shape={x.shape}",
                    accepted=f"shape (N, {self.kernel.shape[0]})",
                    fix="pass features of the same backbone and pooling",
                )
            )
        return (x @ self.kernel.astype(np.float64) + self.bias).astype(np.float32)

    def as_json(self) -> dict[str, object]:
        """The record for ``decisions.json``: everything but the arrays.

        Example:
            >>> fit = fit_linear_probe([[0.0], [1.0], [5.0], [6.0]], [0, 0, 1, 1], 2, method="ridge", l2=0.1)
            >>> record = fit.as_json()
            >>> record["method"], record["l2"], record["cv"], record["cv_accuracy"]
            ('ridge', 0.1, 'leave-one-out', [1.0])
        """
        return {
            "method": self.method,
            "l2": self.l2,
            "cv": self.cv,
            "l2_grid": list(self.l2_grid),
            "cv_accuracy": list(self.cv_accuracy),
            "cv_loss": list(self.cv_loss),
            "note": self.note,
            "converged": self.converged,
            "iterations": self.iterations,
            "num_features": int(self.kernel.shape[0]),
            "num_classes": int(self.kernel.shape[1]),
        }


def _positive_number(value: object) -> float | None:
    """``value`` as a float when it is a finite real number > 0 (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    number = float(value)
    return number if math.isfinite(number) and number > 0 else None


def _check_l2(l2: float | Sequence[float] | None, method: str) -> tuple[float, ...]:
    if l2 is None:
        return DEFAULT_L2_GRID[method]
    items: list[object] = [l2] if isinstance(l2, (int, float, np.integer, np.floating)) else list(l2)
    values = [_positive_number(v) for v in items]
    if not values or None in values:
        raise ConfigError(
            describe(
                "`l2` must be None, a number > 0 or a non-empty sequence of them",
                received=f"l2={l2!r}",
                accepted="None (the default grid), e.g. 0.01, or e.g. [1.0, 0.1, 0.01]",
                fix="pass finite strengths > 0 (an unregularised probe does not converge on separable features)",
            )
        )
    # Strongest first: each fit on the grid starts from the previous, better-conditioned one.
    return tuple(sorted({v for v in values if v is not None}, reverse=True))


def _standardise(x: _F64) -> tuple[_F64, _F64, _F64]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(mean)), scale, 1.0)
    return (x - mean) / scale, mean, scale


def _stratified_folds(y: _I64, num_classes: int, k: int) -> _I64:
    """Fold of each example: the i-th example of a class (in order) goes to fold i mod k."""
    fold = np.empty(len(y), dtype=np.int64)
    for c in range(num_classes):
        members = np.flatnonzero(y == c)
        fold[members] = np.arange(len(members)) % k
    return fold


def _softmax_loss_grad(z: _F64, y: _I64, c: int, l2: float) -> Callable[[_F64], tuple[float, _F64]]:
    """The objective mean CE + l2/2 ||W||² and its gradient, over the flat parameters [W, b]."""
    n, d = z.shape
    rows = np.arange(n)

    def fg(theta: _F64) -> tuple[float, _F64]:
        weights = theta[: d * c].reshape(d, c)
        logits = z @ weights + theta[d * c :]
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        total = exp.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(total[:, 0]) - logits[rows, y])) + 0.5 * l2 * float(
            np.sum(weights * weights)
        )
        probs = exp / total
        probs[rows, y] -= 1.0
        probs /= n
        grad = np.concatenate([(z.T @ probs + l2 * weights).ravel(), probs.sum(axis=0)])
        return loss, grad

    return fg


def _lbfgs(
    fg: Callable[[_F64], tuple[float, _F64]], x0: _F64, *, max_iter: int, tol: float, memory: int = 10
) -> tuple[_F64, int, bool]:
    """Minimises a smooth convex function: L-BFGS with a backtracking (Armijo) line search.

    Stops when the largest gradient component is at most ``tol``.
    """
    x = x0.copy()
    f, g = fg(x)
    history: deque[tuple[_F64, _F64, float]] = deque(maxlen=memory)
    for iteration in range(max_iter):
        if float(np.max(np.abs(g))) <= tol:
            return x, iteration, True
        q = g.copy()
        alphas: list[float] = []
        for s, yv, rho in reversed(history):
            alpha = rho * float(s @ q)
            alphas.append(alpha)
            q -= alpha * yv
        if history:
            s, yv, _ = history[-1]
            q *= float(s @ yv) / float(yv @ yv)
        else:
            q /= max(float(np.linalg.norm(g)), 1.0)
        for (s, yv, rho), alpha in zip(history, reversed(alphas)):
            q += s * (alpha - rho * float(yv @ q))
        direction = -q
        slope = float(g @ direction)
        if slope >= 0:  # not a descent direction (rounding): restart from the gradient
            history.clear()
            direction = -g / max(float(np.linalg.norm(g)), 1.0)
            slope = float(g @ direction)
        step = 1.0
        while True:
            x_new = x + step * direction
            f_new, g_new = fg(x_new)
            if f_new <= f + 1e-4 * step * slope:
                break
            step *= 0.5
            if step < 1e-16:  # no decrease left at this precision
                return x, iteration, float(np.max(np.abs(g))) <= tol
        s_new, y_new = x_new - x, g_new - g
        sy = float(s_new @ y_new)
        if sy > 1e-12 * float(np.linalg.norm(s_new)) * float(np.linalg.norm(y_new)):
            history.append((s_new, y_new, 1.0 / sy))
        x, f, g = x_new, f_new, g_new
    return x, max_iter, float(np.max(np.abs(g))) <= tol


def _fit_logistic(
    z: _F64, y: _I64, num_classes: int, l2: float, start: _F64 | None, max_iter: int, tol: float
) -> tuple[_F64, int, bool]:
    d = z.shape[1]
    theta0 = np.zeros(d * num_classes + num_classes) if start is None else start
    return _lbfgs(_softmax_loss_grad(z, y, num_classes, l2), theta0, max_iter=max_iter, tol=tol)


def _split(theta: _F64, d: int, c: int) -> tuple[_F64, _F64]:
    return theta[: d * c].reshape(d, c), theta[d * c :]


def _cross_entropy(logits: _F64, y: _I64) -> _F64:
    shifted = logits - logits.max(axis=1, keepdims=True)
    losses: _F64 = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(y)), y]
    return losses


def _logistic_cv(
    x: _F64, y: _I64, num_classes: int, grid: tuple[float, ...], k: int, max_iter: int, tol: float
) -> tuple[list[float], list[float]]:
    """Stratified k-fold scores; each fold standardised on its own training part, as the final fit is."""
    d = x.shape[1]
    fold = _stratified_folds(y, num_classes, k)
    correct = np.zeros(len(grid))
    loss = np.zeros(len(grid))
    for f in range(k):
        train, held = fold != f, fold == f
        z_train, mean, scale = _standardise(x[train])
        z_held = (x[held] - mean) / scale
        theta: _F64 | None = None
        for i, l2 in enumerate(grid):
            theta, _, _ = _fit_logistic(z_train, y[train], num_classes, l2, theta, max_iter, tol)
            w, b = _split(theta, d, num_classes)
            logits = z_held @ w + b
            correct[i] += float(np.sum(np.argmax(logits, axis=1) == y[held]))
            loss[i] += float(np.sum(_cross_entropy(logits, y[held])))
    return list(correct / len(y)), list(loss / len(y))


def _ridge_svd(z: _F64, y: _I64, num_classes: int) -> tuple[_F64, _F64, _F64, _F64, _F64]:
    """Centred targets and the thin SVD of the (centred) features."""
    targets = np.eye(num_classes)[y]
    target_mean = targets.mean(axis=0)
    u, s, vt = np.linalg.svd(z, full_matrices=False)
    return targets, target_mean, u, s, vt


def _ridge_loo(
    z: _F64, y: _I64, num_classes: int, grid: tuple[float, ...]
) -> tuple[list[float], list[float]]:
    """Exact leave-one-out scores of ridge with an unpenalised intercept, for every strength.

    With centred features the hat matrix is ``11ᵀ/N + U diag(s²/(s²+λ)) Uᵀ`` and the
    left-out prediction of example i is ``(ŷ_i - H_ii y_i) / (1 - H_ii)``.
    """
    n = len(y)
    targets, target_mean, u, s, _ = _ridge_svd(z, y, num_classes)
    projected = u.T @ (targets - target_mean)
    accuracy: list[float] = []
    loss: list[float] = []
    for l2 in grid:
        shrink = s**2 / (s**2 + n * l2)
        fitted = target_mean + u @ (shrink[:, None] * projected)
        leverage = 1.0 / n + np.sum(u**2 * shrink, axis=1)
        left_out = (fitted - leverage[:, None] * targets) / (1.0 - leverage)[:, None]
        accuracy.append(float(np.mean(np.argmax(left_out, axis=1) == y)))
        loss.append(float(np.mean(0.5 * np.sum((left_out - targets) ** 2, axis=1))))
    return accuracy, loss


def _choose(grid: tuple[float, ...], accuracy: list[float], loss: list[float]) -> float:
    """The best accuracy; on a tie the lowest loss; then the strongest strength."""
    best = min(range(len(grid)), key=lambda i: (-round(accuracy[i], 12), round(loss[i], 12), -grid[i]))
    return grid[best]


def fit_linear_probe(
    features: npt.ArrayLike,
    labels: npt.ArrayLike,
    num_classes: int,
    *,
    l2: float | Sequence[float] | None = None,
    method: str = "logistic",
    folds: int = 5,
    max_iter: int = 1000,
    tol: float = 1e-6,
) -> ProbeFit:
    """Fits a linear head on features to convergence, its L2 strength chosen by cross-validation.

    The features are standardised (each column to mean 0 and standard
    deviation 1 over the examples fitted on; a constant column is only
    centred; labels play no part), the head is fitted on them, and the
    standardisation is folded into the returned ``kernel`` and ``bias``, which
    apply to raw features. The objective is the mean loss per example plus
    ``l2 / 2 * ||W||²`` for the weights ``W`` on standardised features (the
    bias is not penalised):

    - ``"logistic"``: multinomial logistic regression (cross-entropy), fitted
      by L-BFGS until the largest gradient component is at most ``tol``. The
      strengths are scored by stratified k-fold cross-validation with
      ``k = min(folds, fewest examples of a class)``: the i-th example of each
      class (in the given order) is held out in fold ``i mod k``, and each
      fold is standardised and fitted on its own training part, as the final
      fit is on all examples (warm-started along the grid). The logits suit a
      softmax head and fine-tuning from it (LP-FT).
    - ``"ridge"``: least squares on one-hot targets, in closed form from one
      SVD of the standardised features; every strength is scored by exact
      leave-one-out (with that standardisation, from all examples). Fast,
      but its outputs are regression scores near [0, 1]: too flat to start a
      softmax head's fine-tuning from.

    The strength with the best cross-validated accuracy wins (ties: lower
    cross-validated loss, then the stronger strength). With a single example
    in some class no held-out example could be classified, so no
    cross-validation runs: a single given ``l2`` is used, otherwise
    :data:`DEFAULT_L2`, and ``note`` says so.

    Args:
        features: Features ``(N, D)``, one row per example, finite.
        labels: Class indices ``(N,)`` in ``[0, num_classes)``.
        num_classes: Number of classes, >= 2; each needs an example.
        l2: ``None`` (cross-validate :data:`DEFAULT_L2_GRID`), one strength
            (it is still cross-validated, for the record), or several to
            choose from; each > 0.
        method: One of :data:`PROBE_METHODS`.
        folds: Most folds for ``"logistic"``'s cross-validation, >= 2.
        max_iter: Most L-BFGS iterations per fit, >= 1.
        tol: Gradient tolerance of a logistic fit, > 0.

    Returns:
        The :class:`ProbeFit`: ``kernel``, ``bias``, the chosen ``l2`` and the
        scores of every strength tried.

    Raises:
        ConfigError: ``num_classes``, ``l2``, ``method``, ``folds``,
            ``max_iter`` or ``tol`` is not accepted.
        DataError: ``features`` is not a finite ``(N, D)`` array, ``labels``
            does not match it or lies out of range, or a class has no example.

    Example:
        >>> import numpy as np
        >>> features = np.array([[0.0, 1.0], [1.0, 1.5], [4.0, 0.0], [5.0, 0.5], [4.5, 1.0], [0.5, 0.2]])
        >>> fit = fit_linear_probe(features, [0, 0, 1, 1, 1, 0], 2)
        >>> fit.kernel.shape, fit.bias.shape, fit.cv, fit.converged
        ((2, 2), (2,), 'stratified k-fold (k=3)', True)
        >>> np.argmax(fit.logits(features), axis=1).tolist()
        [0, 0, 1, 1, 1, 0]
        >>> import keras
        >>> head = keras.layers.Dense(2)
        >>> head.build((None, 2))
        >>> head.set_weights([fit.kernel, fit.bias])
    """
    if method not in PROBE_METHODS:
        raise ConfigError(
            describe(
                "Unknown probe `method`",
                received=f"method={method!r}",
                accepted=", ".join(repr(m) for m in PROBE_METHODS),
                fix="pass 'logistic' (L-BFGS, for a softmax head) or 'ridge' (closed form)",
            )
        )
    for name, value, low in (("folds", folds, 2), ("max_iter", max_iter, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(
                describe(
                    f"`{name}` must be an integer >= {low}",
                    received=f"{name}={value!r}",
                    accepted=f"an int >= {low}",
                    fix=f"pass e.g. {name}={5 if name == 'folds' else 1000}",
                )
            )
    if _positive_number(tol) is None:
        raise ConfigError(
            describe(
                "`tol` must be a finite number > 0",
                received=f"tol={tol!r}",
                accepted="a float > 0, e.g. 1e-6",
                fix="pass a small positive gradient tolerance",
            )
        )
    grid = _check_l2(l2, method)
    x, y, classes = _check_inputs(features, labels, num_classes)
    z, mean, scale = _standardise(x)
    fewest = int(np.bincount(y, minlength=classes).min())

    accuracy: list[float] = []
    loss: list[float] = []
    if fewest < 2:
        cv = "none"
        chosen = grid[0] if len(grid) == 1 else DEFAULT_L2[method]
        how = "the given l2" if len(grid) == 1 else f"the default l2 ({DEFAULT_L2[method]:g}) for {method}"
        note = f"no cross-validation: a class has a single example, so none can be held out; used {how}"
        grid = (chosen,)
    else:
        if method == "ridge":
            cv = "leave-one-out"
            accuracy, loss = _ridge_loo(z, y, classes, grid)
        else:
            k = min(int(folds), fewest)
            cv = f"stratified k-fold (k={k})"
            accuracy, loss = _logistic_cv(x, y, classes, grid, k, int(max_iter), float(tol))
        chosen = _choose(grid, accuracy, loss)
        note = f"l2={chosen:g} scored best by {cv} accuracy ({accuracy[grid.index(chosen)]:.4f})" + (
            f" among {len(grid)} strengths" if len(grid) > 1 else ""
        )

    d = x.shape[1]
    iterations, converged = 0, True
    if method == "ridge":
        targets, target_mean, u, s, vt = _ridge_svd(z, y, classes)
        weights = vt.T @ ((s / (s**2 + len(y) * chosen))[:, None] * (u.T @ (targets - target_mean)))
        intercept = target_mean
    else:
        start: _F64 | None = None
        for strength in grid:  # warm-start along the grid down to the chosen strength
            if strength < chosen:
                break
            start, iterations, converged = _fit_logistic(
                z, y, classes, strength, start, int(max_iter), float(tol)
            )
        assert start is not None
        weights, intercept = _split(start, d, classes)
        if not converged:
            note += f"; L-BFGS stopped at max_iter={max_iter} before the gradient tolerance {tol:g}"

    kernel = weights / scale[:, None]
    bias = intercept - (mean / scale) @ weights
    return ProbeFit(
        kernel=kernel.astype(np.float32),
        bias=bias.astype(np.float32),
        l2=chosen,
        method=method,
        cv=cv,
        l2_grid=grid,
        cv_accuracy=tuple(accuracy),
        cv_loss=tuple(loss),
        note=note,
        converged=converged,
        iterations=iterations,
        feature_mean=mean,
        feature_scale=scale,
    )
