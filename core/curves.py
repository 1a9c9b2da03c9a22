"""Training curves as a student wants to read them: smoothed on request, NaN gaps kept as gaps."""
from __future__ import annotations

import math
from typing import Sequence


def smooth(values: Sequence[float], strength: float) -> list[float]:
    """Exponential moving average with weight ``strength`` in [0, 1) on the past (0 = unchanged), debiased
    so the curve starts at the first value rather than at zero, as TensorBoard's slider does.

    Non-finite values (a diverged step) stay in place and do not poison what follows.
    """
    if not 0.0 <= strength < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), not {strength}")
    smoothed, average, weight = [], 0.0, 0.0
    for value in values:
        if not math.isfinite(value):
            smoothed.append(value)
            continue
        average = strength * average + (1.0 - strength) * value
        weight = strength * weight + (1.0 - strength)
        smoothed.append(average / weight)
    return smoothed


def latest(values: Sequence[float]) -> float | None:
    """The newest finite value (a diverged step's NaN is skipped), or None."""
    return next((float(v) for v in reversed(values) if math.isfinite(v)), None)

