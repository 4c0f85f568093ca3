"""Few-shot heads on features: prototypes, the linear probe (logistic and ridge), its CV and record."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable

import numpy as np
import pytest

from transferlab.errors import ConfigError, DataError
from transferlab.strategies import (
    PROBE_METHODS,
    ProbeFit,
    class_prototypes,
    fit_linear_probe,
    nearest_prototype,
)
from transferlab.strategies.few_shot_heads import DEFAULT_L2, DEFAULT_L2_GRID

# === References, written independently of the module ===


def _standardised(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (x - mean) / std, mean, std


def _ridge_reference(z: np.ndarray, y: np.ndarray, c: int, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """Normal equations of (1/2N)||Y - b - ZW||² + l2/2 ||W||², intercept unpenalised."""
    n, d = z.shape
    design = np.c_[np.ones(n), z]
    penalty = n * l2 * np.eye(d + 1)
    penalty[0, 0] = 0.0
    theta = np.linalg.solve(design.T @ design + penalty, design.T @ np.eye(c)[y])
    return theta[1:], theta[0]


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _logistic_objective(z: np.ndarray, y: np.ndarray, w: np.ndarray, b: np.ndarray, l2: float) -> float:
    p = _softmax(z @ w + b)
    return float(-np.mean(np.log(p[np.arange(len(y)), y])) + 0.5 * l2 * np.sum(w * w))


def _logistic_gradient(
    z: np.ndarray, y: np.ndarray, w: np.ndarray, b: np.ndarray, l2: float
) -> tuple[np.ndarray, np.ndarray]:
    g = (_softmax(z @ w + b) - np.eye(w.shape[1])[y]) / len(y)
    return z.T @ g + l2 * w, g.sum(axis=0)


def _on_standardised(fit: ProbeFit, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fit's head expressed on the test's own standardisation of x: (z, W, b)."""
    z, mean, std = _standardised(x)
    kernel = fit.kernel.astype(np.float64)
    return z, kernel * std[:, None], fit.bias.astype(np.float64) + mean @ kernel


def _blobs(
    seed: int, per_class: int, dim: int, classes: int, spread: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, (classes, dim))
    y = np.repeat(np.arange(classes), per_class)
    return centres[y] + rng.normal(0.0, spread, (len(y), dim)), y


def _accuracy(fit: ProbeFit, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(fit.logits(x), axis=1) == y))


# === Prototypes ===


def test_prototypes_are_the_normalised_means_of_normalised_features():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(23, 7)) * rng.uniform(0.1, 50, (23, 1))  # very different norms
    y = np.arange(23) % 4
    expected = []
    for c in range(4):
        rows = x[y == c]
        mean = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).mean(axis=0)
        expected.append(mean / np.linalg.norm(mean))
    prototypes = class_prototypes(x, y, 4)
    assert prototypes.dtype == np.float32 and prototypes.shape == (4, 7)
    np.testing.assert_allclose(prototypes, np.array(expected), atol=1e-6)
    # The scale of an example does not matter, only its direction.
    np.testing.assert_allclose(class_prototypes(x * rng.uniform(1, 9, (23, 1)), y, 4), prototypes, atol=1e-6)


def test_prototypes_of_features_that_cancel_are_zero_rows():
    x = np.array([[1.0, 0.0], [-2.0, 0.0], [0.0, 1.0]])
    prototypes = class_prototypes(x, [0, 0, 1], 2)
    assert prototypes[0].tolist() == [0.0, 0.0]
    assert prototypes[1].tolist() == [0.0, 1.0]


def test_nearest_prototype_is_the_largest_cosine():
    rng = np.random.default_rng(1)
    x, p = rng.normal(size=(40, 5)), rng.normal(size=(3, 5))
    cosines = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (
        p / np.linalg.norm(p, axis=1, keepdims=True)
    ).T
    assert nearest_prototype(x, p).tolist() == np.argmax(cosines, axis=1).tolist()
    # Each class's own prototype is nearest when the classes are well apart.
    xb, yb = _blobs(2, 6, 8, 3, spread=0.3)
    assert nearest_prototype(xb, class_prototypes(xb, yb, 3)).tolist() == yb.tolist()


# === Linear probe: reference fits ===


@pytest.mark.parametrize(("per_class", "dim"), [(10, 4), (3, 20)], ids=["N>D", "N<D"])
def test_ridge_matches_the_normal_equations(per_class: int, dim: int):
    x, y = _blobs(3, per_class, dim, 3, spread=2.0)
    x = x * np.linspace(0.01, 100, dim) + 7.0  # columns on very different scales
    fit = fit_linear_probe(x, y, 3, method="ridge", l2=0.05)
    z, mean, std = _standardised(x)
    w, b = _ridge_reference(z, y, 3, 0.05)
    kernel, bias = w / std[:, None], b - (mean / std) @ w
    np.testing.assert_allclose(fit.kernel, kernel, rtol=1e-4, atol=1e-6 * np.abs(kernel).max())
    np.testing.assert_allclose(fit.bias, bias, rtol=1e-4, atol=1e-5)
    # The folded head on raw features gives the reference's outputs on standardised ones.
    np.testing.assert_allclose(fit.logits(x), z @ w + b, atol=1e-4)
    assert (fit.method, fit.l2, fit.converged, fit.iterations) == ("ridge", 0.05, True, 0)


def test_ridge_leave_one_out_scores_equal_refitting_without_each_example():
    x, y = _blobs(4, 7, 5, 3, spread=3.0)  # overlapping classes: LOO errors happen
    grid = (10.0, 0.3, 0.01, 1e-4)
    fit = fit_linear_probe(x, y, 3, method="ridge", l2=grid)
    z, _, _ = _standardised(x)
    targets = np.eye(3)[y]
    for i, l2 in enumerate(grid):
        hits, losses = 0, 0.0
        for j in range(len(y)):
            keep = np.arange(len(y)) != j
            w, b = _ridge_reference(z[keep], y[keep], 3, l2 * (len(y)) / (len(y) - 1))
            out = z[j] @ w + b
            hits += int(np.argmax(out) == y[j])
            losses += 0.5 * float(np.sum((out - targets[j]) ** 2))
        # The probe's l2 multiplies the full N in its penalty (N * l2 * ||W||² in the normal
        # equations); the refit on N - 1 examples uses the same penalty, hence the rescaling.
        assert fit.cv_accuracy[i] == pytest.approx(hits / len(y), abs=1e-12)
        assert fit.cv_loss[i] == pytest.approx(losses / len(y), rel=1e-8)
    assert 0.0 < min(fit.cv_accuracy) < 1.0 and fit.cv == "leave-one-out"
    assert fit.l2_grid == grid


def test_logistic_gradient_is_zero_at_the_solution_and_it_beats_long_gradient_descent():
    x, y = _blobs(5, 8, 4, 3, spread=2.5)
    x = x * np.array([0.1, 1.0, 10.0, 1000.0])
    l2 = 0.05
    fit = fit_linear_probe(x, y, 3, l2=l2, tol=1e-9)
    assert fit.converged and fit.method == "logistic"
    z, w, b = _on_standardised(fit, x)
    gw, gb = _logistic_gradient(z, y, w, b, l2)
    assert max(np.abs(gw).max(), np.abs(gb).max()) < 1e-5  # float32 rounding of kernel/bias
    # Plain gradient descent, long, with the step 1/L of the objective's smoothness.
    step = 1.0 / (np.linalg.norm(z, 2) ** 2 / len(y) + l2)
    w_gd, b_gd = np.zeros((4, 3)), np.zeros(3)
    for _ in range(20000):
        gw, gb = _logistic_gradient(z, y, w_gd, b_gd, l2)
        w_gd, b_gd = w_gd - step * gw, b_gd - step * gb
    assert _logistic_objective(z, y, w, b, l2) <= _logistic_objective(z, y, w_gd, b_gd, l2) + 1e-7
    # The bias is defined up to a constant shift of all classes: compare centred.
    np.testing.assert_allclose(w, w_gd, atol=1e-4)
    np.testing.assert_allclose(b - b.mean(), b_gd - b_gd.mean(), atol=1e-4)


def test_logistic_cv_scores_equal_fitting_each_fold_through_the_public_function():
    x, y = _blobs(6, 6, 5, 3, spread=3.0)
    grid = (1.0, 0.1, 0.01)
    fit = fit_linear_probe(x, y, 3, l2=grid, folds=3, tol=1e-10)
    assert fit.cv == "stratified k-fold (k=3)"
    # Documented folds: the i-th example of each class is held out in fold i mod k.
    rank = np.array([np.sum(y[:i] == y[i]) for i in range(len(y))])
    for i, l2 in enumerate(grid):
        hits, loss = 0, 0.0
        for f in range(3):
            held = rank % 3 == f
            part = fit_linear_probe(x[~held], y[~held], 3, l2=l2, folds=2, tol=1e-10)
            logits = part.logits(x[held]).astype(np.float64)
            hits += int(np.sum(np.argmax(logits, axis=1) == y[held]))
            loss += float(-np.sum(np.log(_softmax(logits)[np.arange(held.sum()), y[held]])))
        assert fit.cv_accuracy[i] == pytest.approx(hits / len(y), abs=1e-12)
        assert fit.cv_loss[i] == pytest.approx(loss / len(y), rel=1e-4)


@pytest.mark.parametrize("method", PROBE_METHODS)
def test_a_constant_feature_gets_no_weight_and_changes_nothing(method: str):
    x, y = _blobs(7, 5, 3, 2)
    with_constant = np.c_[x, np.full(len(x), 4.0)]
    fit = fit_linear_probe(with_constant, y, 2, method=method, l2=0.1, tol=1e-9)
    alone = fit_linear_probe(x, y, 2, method=method, l2=0.1, tol=1e-9)
    np.testing.assert_allclose(fit.kernel[-1], 0.0, atol=1e-7)
    np.testing.assert_allclose(fit.kernel[:-1], alone.kernel, atol=1e-5)
    np.testing.assert_allclose(fit.bias, alone.bias, atol=1e-5)


# === Linear probe: choosing l2 ===


def _correlated(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Classes apart only along x1 - x2, a direction of small variance: needs a weak penalty."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n)
    shared = rng.normal(size=2 * n)
    x = np.stack([shared + 0.25 * (2 * y - 1), shared, rng.normal(size=2 * n)], axis=1)
    return x, y


def _spread_shift(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic noise, a small shift on every one of 60 features: needs a strong penalty."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n)
    return rng.normal(size=(2 * n, 60)) + 0.2 * (2 * y - 1)[:, None], y


@pytest.mark.parametrize("method", PROBE_METHODS)
def test_cv_chooses_a_weak_penalty_where_a_strong_one_fails(method: str):
    x, y = _correlated(0, 15)
    x_test, y_test = _correlated(1, 1000)
    fit = fit_linear_probe(x, y, 2, method=method)
    strongest = fit_linear_probe(x, y, 2, method=method, l2=fit.l2_grid[0])
    assert fit.best_cv_accuracy == max(fit.cv_accuracy)
    assert fit.l2 < math.sqrt(fit.l2_grid[0] * fit.l2_grid[-1])  # the weak half of the grid
    assert _accuracy(fit, x_test, y_test) > _accuracy(strongest, x_test, y_test) + 0.2


def test_leave_one_out_chooses_a_strong_penalty_where_a_weak_one_overfits():
    x, y = _spread_shift(0, 15)
    x_test, y_test = _spread_shift(1, 1000)
    fit = fit_linear_probe(x, y, 2, method="ridge")
    weakest = fit_linear_probe(x, y, 2, method="ridge", l2=fit.l2_grid[-1])
    assert fit.l2 > math.sqrt(fit.l2_grid[0] * fit.l2_grid[-1])  # the strong half of the grid
    assert _accuracy(fit, x_test, y_test) > _accuracy(weakest, x_test, y_test) + 0.03


@pytest.mark.parametrize("method", PROBE_METHODS)
def test_one_example_per_class_falls_back_to_the_default_strength_and_says_so(method: str):
    x, y = _blobs(8, 1, 6, 4)
    fit = fit_linear_probe(x, y, 4, method=method)
    assert fit.cv == "none" and fit.cv_accuracy == () and fit.best_cv_accuracy is None
    assert fit.l2 == DEFAULT_L2[method] and fit.l2_grid == (DEFAULT_L2[method],)
    assert "a class has a single example" in fit.note and "default l2" in fit.note
    assert np.argmax(fit.logits(x), axis=1).tolist() == y.tolist()
    given = fit_linear_probe(x, y, 4, method=method, l2=0.5)
    assert given.l2 == 0.5 and "the given l2" in given.note


@pytest.mark.parametrize("method", PROBE_METHODS)
def test_the_probe_is_deterministic(method: str):
    x, y = _blobs(9, 6, 10, 3, spread=3.0)
    first, second = (fit_linear_probe(x, y, 3, method=method) for _ in range(2))
    assert np.array_equal(first.kernel, second.kernel) and np.array_equal(first.bias, second.bias)
    assert first.as_json() == second.as_json()


def test_a_fit_stopped_by_max_iter_says_so():
    x, y = _blobs(10, 5, 4, 3, spread=2.0)
    fit = fit_linear_probe(x, y, 3, l2=0.01, max_iter=2)
    assert not fit.converged and fit.iterations == 2
    assert "stopped at max_iter=2" in fit.note


def test_default_grids_are_strongest_first_and_the_fallbacks_lie_on_them():
    for method in PROBE_METHODS:
        grid = DEFAULT_L2_GRID[method]
        assert list(grid) == sorted(grid, reverse=True) and DEFAULT_L2[method] in grid


def test_as_json_is_the_record_for_decisions_json():
    x, y = _blobs(11, 4, 3, 2)
    fit = fit_linear_probe(x, y, 2, l2=[0.1, 1.0])
    record = json.loads(json.dumps(fit.as_json()))
    assert record == {
        "method": "logistic",
        "l2": fit.l2,
        "cv": "stratified k-fold (k=4)",
        "l2_grid": [1.0, 0.1],
        "cv_accuracy": list(fit.cv_accuracy),
        "cv_loss": list(fit.cv_loss),
        "note": fit.note,
        "converged": True,
        "iterations": fit.iterations,
        "num_features": 3,
        "num_classes": 2,
    }
    assert f"l2={fit.l2:g} scored best" in fit.note


# === Errors ===

_X = np.arange(12, dtype=np.float64).reshape(4, 3)
_Y = np.array([0, 1, 2, 1])

_ERRORS: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    (
        "labels-shape",
        lambda: fit_linear_probe(_X, _Y[:3], 3),
        DataError,
        "`labels` must be one integer per row of `features`. Received: labels.shape=(3,) for 4 rows of "
        "features. Accepted: shape (4,). Fix: pass integer class indices (not one-hot), as many as there "
        "are feature rows.",
    ),
    (
        "one-hot labels",
        lambda: class_prototypes(_X, np.eye(3)[_Y], 3),
        DataError,
        "`labels` must be one integer per row of `features`. Received: labels.shape=(4, 3)",
    ),
    (
        "features-rank",
        lambda: class_prototypes(_X.ravel(), _Y, 3),
        DataError,
        "`features` must be a non-empty array of shape (N, D). Received: features.shape=(12,). "
        "Accepted: shape (N, D) with N >= 1 examples and D >= 1 features. Fix: flatten or pool",
    ),
    (
        "features-text",
        lambda: fit_linear_probe([["a", "b"]], [0], 2),
        DataError,
        "`features` must be a numeric array of shape (N, D). Received: list (",
    ),
    (
        "labels-range",
        lambda: fit_linear_probe(_X, [0, 1, 3, 1], 3),
        DataError,
        "`labels` must lie in [0, 3). Received: labels in [0, 3]. Accepted: integers 0..2. Fix: re-index",
    ),
    (
        "labels-negative",
        lambda: class_prototypes(_X, [0, -1, 2, 1], 3),
        DataError,
        "`labels` must lie in [0, 3). Received: labels in [-1, 2].",
    ),
    (
        "labels-fractional",
        lambda: class_prototypes(_X, [0, 1.5, 2, 1], 3),
        DataError,
        "`labels` must be integer class indices. Received: labels of dtype float64. Accepted: integers in "
        "[0, 3). Fix: pass class indices, e.g. np.argmax(one_hot, axis=1).",
    ),
    (
        "empty-class",
        lambda: fit_linear_probe(_X, [0, 2, 2, 0], 4),
        DataError,
        "Every class needs at least one labelled example. Received: no example of classes 1, 3. Accepted: "
        "labels covering all 4 classes. Fix: add examples of those classes, or lower num_classes",
    ),
    (
        "empty-one-class",
        lambda: class_prototypes(_X, [0, 0, 2, 0], 3),
        DataError,
        "Received: no example of class 1. Accepted",
    ),
    (
        "non-finite",
        lambda: fit_linear_probe(np.where(_X == 7, np.nan, _X), _Y, 3),
        DataError,
        "`features` must be finite. Received: NaN or infinity in 1 of 4 rows (first: row 2). Accepted: "
        "finite numbers. Fix: check the backbone's outputs",
    ),
    (
        "infinite-prototypes",
        lambda: nearest_prototype(_X, [[np.inf, 0, 0]]),
        DataError,
        "`prototypes` must be finite. Received: NaN or infinity in 1 of 1 rows (first: row 0).",
    ),
    (
        "prototype-width",
        lambda: nearest_prototype(_X, np.ones((2, 4))),
        DataError,
        "`features` and `prototypes` must have the same width. Received: features.shape=(4, 3), "
        "prototypes.shape=(2, 4). Accepted: prototypes of shape (C, 3).",
    ),
    (
        "logits-width",
        lambda: fit_linear_probe(_X, _Y, 3, method="ridge", l2=1.0).logits(np.ones((2, 5))),
        DataError,
        "`features` must have the width the probe was fitted on. Received: features.shape=(2, 5). "
        "Accepted: shape (N, 3).",
    ),
    (
        "num-classes",
        lambda: class_prototypes(_X, [0, 0, 0, 0], 1),
        ConfigError,
        "`num_classes` must be an integer >= 2. Received: num_classes=1. Accepted: an int >= 2.",
    ),
    (
        "num-classes-bool",
        lambda: fit_linear_probe(_X, [0, 1, 0, 1], True),
        ConfigError,
        "Received: num_classes=True.",
    ),
    (
        "l2-negative",
        lambda: fit_linear_probe(_X, _Y, 3, l2=-0.1),
        ConfigError,
        "`l2` must be None, a number > 0 or a non-empty sequence of them. Received: l2=-0.1. Accepted: None "
        "(the default grid), e.g. 0.01, or e.g. [1.0, 0.1, 0.01]. Fix: pass finite strengths > 0",
    ),
    (
        "l2-zero-in-list",
        lambda: fit_linear_probe(_X, _Y, 3, l2=[1.0, 0.0]),
        ConfigError,
        "Received: l2=[1.0, 0.0].",
    ),
    ("l2-nan", lambda: fit_linear_probe(_X, _Y, 3, l2=float("nan")), ConfigError, "Received: l2=nan."),
    ("l2-empty", lambda: fit_linear_probe(_X, _Y, 3, l2=[]), ConfigError, "Received: l2=[]."),
    (
        "method",
        lambda: fit_linear_probe(_X, _Y, 3, method="svm"),
        ConfigError,
        "Unknown probe `method`. Received: method='svm'. Accepted: 'logistic', 'ridge'. Fix: pass 'logistic'",
    ),
    (
        "folds",
        lambda: fit_linear_probe(_X, _Y, 3, folds=1),
        ConfigError,
        "`folds` must be an integer >= 2. Received: folds=1. Accepted: an int >= 2. Fix: pass e.g. folds=5.",
    ),
    (
        "max-iter",
        lambda: fit_linear_probe(_X, _Y, 3, max_iter=0),
        ConfigError,
        "`max_iter` must be an integer >= 1. Received: max_iter=0. Accepted: an int >= 1. Fix: pass e.g. "
        "max_iter=1000.",
    ),
    (
        "tol",
        lambda: fit_linear_probe(_X, _Y, 3, tol=0.0),
        ConfigError,
        "`tol` must be a finite number > 0. Received: tol=0.0. Accepted: a float > 0, e.g. 1e-6.",
    ),
]


@pytest.mark.parametrize(("call", "kind", "message"), [e[1:] for e in _ERRORS], ids=[e[0] for e in _ERRORS])
def test_bad_inputs_are_refused_with_the_argument_named(
    call: Callable[[], object], kind: type[Exception], message: str
):
    with pytest.raises(kind, match=re.escape(message)):
        call()
