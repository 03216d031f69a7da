"""Checks of an objective's own options, run in its constructor.

Each message names the option as the user writes it (``method.<name>``) and the values
it accepts, so a bad value fails before any model is loaded instead of as a NaN loss or
a traceback at the first step.
"""

from __future__ import annotations

import math
from collections.abc import Collection

from distill_zoo.errors import ConfigError


def positive(option: str, value: float) -> float:
    """``value`` if it is a number > 0 (a temperature, a head count)."""
    if not _number(value) or not value > 0:
        raise _error(option, "a number > 0", value)
    return value


def count(option: str, value: int) -> int:
    """``value`` if it is a whole number > 0 (a number of heads)."""
    if not _number(value) or not isinstance(value, int) or value < 1:
        raise _error(option, "a whole number > 0", value)
    return value


def non_negative(option: str, value: float) -> float:
    """``value`` if it is a number >= 0 (a loss weight)."""
    if not _number(value) or not value >= 0:
        raise _error(option, "a number >= 0", value)
    return value


def fraction(option: str, value: float) -> float:
    """``value`` if it lies in [0, 1] (a mixing weight such as α)."""
    if not _number(value) or not 0 <= value <= 1:
        raise _error(option, "a number in [0, 1]", value)
    return value


def choice(option: str, value: str, choices: Collection[str]) -> str:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise _error(option, "one of " + ", ".join(choices), value)
    return value


def _number(value: object) -> bool:
    """A real, finite number; ``True`` is not one, though Python counts it as 1."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _error(option: str, expected: str, value: object) -> ConfigError:
    return ConfigError(f"method.{option} must be {expected}, got {value!r}")
