"""Private helper: one check for every learning rate or factor that enters a strategy."""

from __future__ import annotations

import math
import numbers

from transferlab.errors import StrategyError, describe

__all__: list[str] = []


def check_rate(value: object, *, what: str, where: str = "", fix: str | None = None) -> float:
    """Returns ``value`` as a float if it is a finite number > 0, else raises.

    Args:
        value: The rate or factor.
        what: The argument's name as the user wrote it (``"learning_rate"``).
        where: Context put before the problem (``"Phase 'warmup': "``).
        fix: A hint; default: pass a finite positive number.

    Raises:
        StrategyError: For a non-number, a bool, ``inf``, ``nan`` or a value <= 0.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and math.isfinite(float(value)) and float(value) > 0:  # type: ignore[arg-type]
        return float(value)  # type: ignore[arg-type]
    raise StrategyError(
        describe(
            f"{where}`{what}` must be a finite number > 0",
            received=f"{what}={value!r}",
            fix=fix or f"pass a positive number such as 1e-3 for `{what}`",
        )
    )
