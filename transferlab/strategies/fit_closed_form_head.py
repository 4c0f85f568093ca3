"""``fit_closed_form_head``: set a Classifier's head from features, as a probe or as prototypes.

The step a :class:`~transferlab.strategies.Phase` with ``head_fit="probe"`` or
``"prototypes"`` takes instead of ``fit``: given the frozen backbone's pooled
features of the training examples, fit the head's last layer in closed form
(:func:`~transferlab.strategies.fit_linear_probe` into a ``Dense`` layer,
:func:`~transferlab.strategies.class_prototypes` into a
:class:`~transferlab.backbones.CosineClassifier`) and set its weights.
:func:`check_closed_form_head` says, before any feature is computed, whether
the model allows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import keras
import numpy as np
import numpy.typing as npt

from transferlab.backbones.cosine_classifier import CosineClassifier
from transferlab.errors import StrategyError, describe
from transferlab.strategies._classifier_parts import classifier_parts
from transferlab.strategies.few_shot_heads import class_prototypes, fit_linear_probe

if TYPE_CHECKING:  # pragma: no cover
    from transferlab.strategies.phase import Phase

__all__ = ["check_closed_form_head", "fit_closed_form_head"]

#: Layers a head may have besides its last layer: each is the identity at inference (dropout,
#: noise) or a fixed function of the logits (an activation), so the fitted weights apply as set.
_PASSIVE = (
    keras.layers.InputLayer,
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.Activation,
    keras.layers.Softmax,
)
_LINEAR_OUTPUTS = ("linear", "softmax")


def _describe(layer: keras.layers.Layer) -> str:
    return f"{layer.name!r} ({type(layer).__name__})"


def _needs(head_fit: str) -> str:
    if head_fit == "probe":
        return "a Dense layer with a bias on the pooled features (build_classifier's default head)"
    return "a CosineClassifier on the pooled features (build_classifier(..., head='cosine'))"


def check_closed_form_head(model: keras.Model, phase: Phase) -> keras.layers.Layer:
    """The head layer ``phase`` sets, after checking that the model allows a closed-form fit.

    The backbone must be frozen (no trainable variable outside the head: apply
    the phase first, :func:`~transferlab.strategies.apply_phase`), and the head
    must be its last layer on the pooled features with only dropout, noise or
    an activation besides: a ``Dense`` layer (linear or softmax, with a bias)
    for ``"probe"``, a :class:`~transferlab.backbones.CosineClassifier` for
    ``"prototypes"``. Dropout is the identity at inference, so the fitted
    weights are the head's predictions as they are.

    Args:
        model: A Classifier (``build_classifier``).
        phase: A phase with ``head_fit`` ``"probe"`` or ``"prototypes"``.

    Returns:
        The ``Dense`` or ``CosineClassifier`` layer.

    Raises:
        StrategyError: ``phase`` fits its head by gradient, the model is not a
            Classifier, a variable outside the head trains (named), or the head
            is not the one the fit needs (its layers named).

    Example:
        >>> from transferlab.backbones import build_classifier
        >>> from transferlab.strategies import Phase, apply_phase
        >>> model = build_classifier("alexnet", 3, width=0.125)
        >>> probe = Phase("linear_probe", 1, head_fit="probe")
        >>> _ = apply_phase(model, probe)
        >>> check_closed_form_head(model, probe).name
        'head_dense'
        >>> check_closed_form_head(model, Phase("prototypes", 1, head_fit="prototypes"))
        Traceback (most recent call last):
        ...
        transferlab.errors.StrategyError: Phase 'prototypes': head_fit='prototypes' needs a CosineClassifier on the pooled features (build_classifier(..., head='cosine')). Received: a head of 'features' (InputLayer), 'head_dense' (Dense), 'head_softmax' (Activation). Fix: build the model with build_classifier(..., head='cosine').
    """
    where = f"Phase {phase.name!r}: "
    if phase.head_fit not in ("probe", "prototypes"):
        raise StrategyError(
            describe(
                f"{where}the head is fitted by {phase.head_fit!r}, not in closed form",
                received=f"head_fit={phase.head_fit!r}",
                accepted="'probe', 'prototypes'",
            )
        )
    classifier_parts(model)  # a Classifier, or a clear error
    head = model.head
    head_ids = {id(v) for v in head.variables}
    outside = [v.path for v in model.trainable_variables if id(v) not in head_ids]
    if outside:
        more = f" and {len(outside) - 3} more" if len(outside) > 3 else ""
        raise StrategyError(
            describe(
                f"{where}head_fit={phase.head_fit!r} fits the head on a frozen backbone's features, "
                "and variables outside the head train",
                received=", ".join(map(repr, outside[:3])) + more,
                fix="freeze the backbone (apply_phase(model, phase) does: a closed-form phase has no "
                "trainable group), and fine-tune in a later phase",
            )
        )
    wanted = keras.layers.Dense if phase.head_fit == "probe" else CosineClassifier
    layers: Sequence[keras.layers.Layer] = head.layers
    fitted = [layer for layer in layers if isinstance(layer, wanted)]
    others = [layer for layer in layers if not isinstance(layer, (wanted, *_PASSIVE))]
    if len(fitted) != 1 or others:
        fix = (
            "build the model with build_classifier(..., head='cosine')"
            if phase.head_fit == "prototypes"
            else "build the model with build_classifier(...) (a Dense head), or train this head by "
            "gradient (FeatureExtraction)"
        )
        raise StrategyError(
            describe(
                f"{where}head_fit={phase.head_fit!r} needs {_needs(phase.head_fit)}",
                received="a head of " + ", ".join(_describe(layer) for layer in layers),
                fix=fix,
            )
        )
    layer = fitted[0]
    if isinstance(layer, keras.layers.Dense):
        activation = keras.activations.serialize(layer.activation)
        name = activation if isinstance(activation, str) else str(activation)
        if not layer.use_bias or name not in _LINEAR_OUTPUTS:
            raise StrategyError(
                describe(
                    f"{where}head_fit='probe' needs {_needs('probe')}",
                    received=f"{_describe(layer)} with use_bias={layer.use_bias}, activation={name!r}",
                    accepted="use_bias=True, activation 'linear' or 'softmax'",
                    fix="build the model with build_classifier(...) (its head is Dense + softmax)",
                )
            )
    return layer


def fit_closed_form_head(
    model: keras.Model,
    phase: Phase,
    features: npt.ArrayLike,
    labels: npt.ArrayLike,
) -> dict[str, object]:
    """Fits the head of ``model`` from the backbone's features, in closed form, and sets it.

    - ``head_fit="probe"``: :func:`~transferlab.strategies.fit_linear_probe`
      (``phase.probe_l2``, ``phase.probe_method``); its kernel and bias go
      into the head's ``Dense`` layer (they apply to the raw pooled features).
    - ``head_fit="prototypes"``: :func:`~transferlab.strategies.class_prototypes`
      into the head's :class:`~transferlab.backbones.CosineClassifier` (its
      scale is left as it is).

    Args:
        model: A Classifier whose backbone is frozen (see :func:`check_closed_form_head`).
        phase: The phase (``head_fit`` and the probe's options).
        features: The pooled features of the training examples ``(N, D)``.
        labels: Their classes ``(N,)``, each of the head's classes at least once.

    Returns:
        The record for ``decisions.json``: ``head_fit``, then the probe's
        :meth:`~transferlab.strategies.ProbeFit.as_json` (the chosen ``l2``,
        the cross-validated scores) or the prototypes' counts per class.

    Raises:
        StrategyError: See :func:`check_closed_form_head`.
        DataError: Features or labels the fit refuses (a class without example...).

    Example:
        >>> import numpy as np
        >>> from transferlab.backbones import build_classifier
        >>> from transferlab.strategies import Phase, apply_phase
        >>> model = build_classifier("alexnet", 2, width=0.125, head="cosine")
        >>> phase = Phase("prototypes", 1, head_fit="prototypes")
        >>> _ = apply_phase(model, phase)
        >>> features = np.eye(2, 64)[[0, 0, 1]] * 3.0
        >>> fit_closed_form_head(model, phase, features, [0, 0, 1])
        {'head_fit': 'prototypes', 'num_classes': 2, 'examples_per_class': [2, 1]}
        >>> np.argmax(model.head.predict(features, verbose=0), axis=1).tolist()
        [0, 0, 1]
    """
    layer = check_closed_form_head(model, phase)
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    if isinstance(layer, CosineClassifier):
        layer.set_prototypes(class_prototypes(x, y, layer.units))
        counts = np.bincount(y.astype(np.int64), minlength=layer.units)
        return {
            "head_fit": phase.head_fit,
            "num_classes": int(layer.units),
            "examples_per_class": [int(c) for c in counts],
        }
    fit = fit_linear_probe(x, y, int(layer.units), l2=phase.probe_l2, method=phase.probe_method)
    layer.kernel.assign(fit.kernel)
    layer.bias.assign(fit.bias)
    return {"head_fit": phase.head_fit, **fit.as_json()}
