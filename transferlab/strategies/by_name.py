"""``strategy_by_name``: a strategy from its name, as a config's ``kind`` or the CLI writes it."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping

from transferlab.errors import StrategyError, describe
from transferlab.strategies.feature_extraction import FeatureExtraction
from transferlab.strategies.fine_tune import DEFAULT_WARMUP_EPOCHS, FineTune
from transferlab.strategies.gradual_unfreeze import GradualUnfreeze
from transferlab.strategies.linear_probe import LinearProbe
from transferlab.strategies.lp_ft import LPFT
from transferlab.strategies.prototypes import Prototypes
from transferlab.strategies.scratch import Scratch
from transferlab.strategies.strategy import Strategy

__all__ = ["STRATEGY_NAMES", "strategy_by_name"]

#: The names :func:`strategy_by_name` takes (a run config's ``strategy.kind`` choices).
STRATEGY_NAMES: tuple[str, ...] = (
    "feature_extraction",
    "fine_tune",
    "gradual",
    "scratch",
    "linear_probe",
    "lp_ft",
    "prototypes",
)


def _options(cls: type[Strategy]) -> tuple[str, ...]:
    return tuple(p for p in inspect.signature(cls).parameters if p not in ("self", "name"))


def _feature_extraction(options: dict[str, object]) -> Strategy:
    return FeatureExtraction(**options)  # type: ignore[arg-type]


def _fine_tune(options: dict[str, object]) -> Strategy:
    options.setdefault("warmup_epochs", DEFAULT_WARMUP_EPOCHS)
    if options.get("top") == 0:  # a config's `top = 0`: all groups
        options["top"] = None
    if options.get("from_group") == "":
        options["from_group"] = None
    if options.get("finetune_learning_rate") == 0:  # a config's 0: the default
        options["finetune_learning_rate"] = None
    return FineTune(**options)  # type: ignore[arg-type]


def _gradual(options: dict[str, object]) -> Strategy:
    warmup = options.pop("warmup_epochs", DEFAULT_WARMUP_EPOCHS)
    warmup_rate = options.pop("warmup_learning_rate", None)
    if "epochs" in options:
        if "epochs_per_step" in options:
            raise StrategyError(
                describe(
                    "'gradual' takes `epochs` or `epochs_per_step` (the same option), not both",
                    received=f"epochs={options['epochs']!r}, epochs_per_step={options['epochs_per_step']!r}",
                    fix="keep one",
                )
            )
        options["epochs_per_step"] = options.pop("epochs")
    gradual = GradualUnfreeze(**options)  # type: ignore[arg-type]
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise StrategyError(
            describe("`warmup_epochs` must be a whole number >= 0", received=f"warmup_epochs={warmup!r}")
        )
    if not warmup:
        return gradual
    head = FeatureExtraction(warmup, learning_rate=warmup_rate, name="warmup")  # type: ignore[arg-type]
    return head.then(gradual)


def _scratch(options: dict[str, object]) -> Strategy:
    return Scratch(**options)  # type: ignore[arg-type]


def _linear_probe(options: dict[str, object]) -> LinearProbe:
    if options.get("l2") == 0:  # a config's 0: chosen by cross-validation
        options["l2"] = None
    return LinearProbe(**options)  # type: ignore[arg-type]


#: The options of ``lp_ft`` that go to its probe.
_PROBE_OPTIONS = ("l2", "method")


def _lp_ft(options: dict[str, object]) -> Strategy:
    probe = _linear_probe({k: options.pop(k) for k in _PROBE_OPTIONS if k in options})
    for key in ("top", "finetune_learning_rate", "lr_scale"):
        if options.get(key) == 0:  # a config's 0: unset
            options[key] = None
    if options.get("from_group") == "":
        options["from_group"] = None
    return LPFT(probe=probe, **options)  # type: ignore[arg-type]


def _prototypes(options: dict[str, object]) -> Strategy:
    return Prototypes(**options)  # type: ignore[arg-type]


_BUILDERS: Mapping[str, tuple[Callable[[dict[str, object]], Strategy], tuple[str, ...]]] = {
    "feature_extraction": (_feature_extraction, _options(FeatureExtraction)),
    "fine_tune": (_fine_tune, _options(FineTune)),
    "gradual": (
        _gradual,
        ("epochs", *_options(GradualUnfreeze), "warmup_epochs", "warmup_learning_rate"),
    ),
    "scratch": (_scratch, _options(Scratch)),
    "linear_probe": (_linear_probe, _options(LinearProbe)),
    "lp_ft": (_lp_ft, (*(o for o in _options(LPFT) if o != "probe"), *_PROBE_OPTIONS)),
    "prototypes": (_prototypes, _options(Prototypes)),
}


def strategy_by_name(name: str, **options: object) -> Strategy:
    """The strategy called ``name``, built with ``options``.

    The names are a run config's ``strategy.kind`` values (:data:`STRATEGY_NAMES`):

    - ``"feature_extraction"``: :class:`FeatureExtraction` (``epochs``, ``learning_rate``).
    - ``"fine_tune"``: :class:`FineTune`; ``warmup_epochs`` defaults to
      :data:`DEFAULT_WARMUP_EPOCHS` (1), as in a config, not to the class's 0.
      ``top=0``, ``from_group=""`` and ``finetune_learning_rate=0`` mean unset,
      as in a config.
    - ``"gradual"``: ``warmup_epochs`` (default 1) head-only epochs at
      ``warmup_learning_rate`` (default: the optimizer's rate), then
      :class:`GradualUnfreeze` (``epochs`` per step, ``steps``,
      ``learning_rate``, ``lr_scale``, ``lr_decay``, ``batchnorm``).
    - ``"scratch"``: :class:`Scratch` (``epochs``, ``learning_rate``).
    - ``"linear_probe"``: :class:`LinearProbe` (``l2``, ``method``); ``l2=0``
      means cross-validated, as in a config.
    - ``"lp_ft"``: :class:`LPFT` (``epochs``, ``top``, ``from_group``,
      ``learning_rate``, ``finetune_learning_rate``, ``lr_scale``,
      ``lr_decay``, ``group_learning_rates``, ``batchnorm``) after a
      :class:`LinearProbe` of ``l2`` and ``method``; ``top=0``,
      ``from_group=""``, ``finetune_learning_rate=0``, ``lr_scale=0`` and
      ``l2=0`` mean unset, as in a config.
    - ``"prototypes"``: :class:`Prototypes` (a cosine head's class vectors).

    Names are matched without regard to case, ``-`` or spaces (``"Fine-Tune"``).

    Args:
        name: One of :data:`STRATEGY_NAMES`.
        **options: Options of that strategy (listed above).

    Returns:
        The strategy.

    Raises:
        StrategyError: For an unknown name (with the accepted names and the
            closest match), an option the strategy does not take, or a bad
            value (the strategy's own message).

    Example:
        >>> s = strategy_by_name("fine_tune", epochs=2, top=1)
        >>> type(s).__name__, s.top, s.warmup_epochs
        ('FineTune', 1, 1)
        >>> s = strategy_by_name("lp_ft", epochs=2, top=0, l2=0.01)
        >>> type(s).__name__, s.probe, s.lr_scale, s.finetune.top
        ('LPFT', LinearProbe(l2=0.01, method='logistic'), 0.1, None)
        >>> strategy_by_name("fine_tuning")
        Traceback (most recent call last):
        ...
        transferlab.errors.StrategyError: Unknown strategy. Received: name='fine_tuning'. Accepted: 'feature_extraction', 'fine_tune', 'gradual', 'scratch', 'linear_probe', 'lp_ft', 'prototypes'. Fix: pass 'fine_tune', the closest match.
    """
    key = name.strip().lower().replace("-", "_").replace(" ", "_") if isinstance(name, str) else None
    if key not in _BUILDERS:
        if key == "auto":  # a config's kind, chosen from the data above this layer
            raise StrategyError(
                describe(
                    "'auto' is not a strategy but a choice among strategies, made by cross-validation "
                    "on the labelled data",
                    received=f"name={name!r}",
                    accepted=", ".join(map(repr, STRATEGY_NAMES)),
                    fix="set strategy.kind = 'auto' in a run config (run_experiment, `transferlab train "
                    "--kind auto`), or call transferlab.experiments.auto_strategy.choose_strategy and pass "
                    "the strategy it chose",
                )
            )
        close = difflib.get_close_matches(str(key or name), STRATEGY_NAMES, n=1, cutoff=0.5)
        raise StrategyError(
            describe(
                "Unknown strategy",
                received=f"name={name!r}",
                accepted=", ".join(map(repr, STRATEGY_NAMES)),
                fix=f"pass {close[0]!r}, the closest match" if close else "pass one of the accepted names",
            )
        )
    builder, accepted = _BUILDERS[key]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        close = difflib.get_close_matches(unknown[0], accepted, n=1, cutoff=0.75)
        raise StrategyError(
            describe(
                f"Strategy {key!r} does not take the option(s) {', '.join(map(repr, unknown))}",
                received=", ".join(f"{k}={options[k]!r}" for k in unknown),
                accepted=", ".join(accepted),
                fix=f"pass {close[0]!r}, the closest match" if close else "drop them",
            )
        )
    return builder(dict(options))
