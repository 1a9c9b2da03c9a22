import math

import pytest

from core.curves import smooth


def test_no_smoothing_leaves_the_curve_alone_and_strong_smoothing_follows_the_trend():
    noisy = [2.0 + (0.5 if i % 2 else -0.5) - i * 0.01 for i in range(100)]
    assert smooth(noisy, 0.0) == pytest.approx(noisy)
    smoothed = smooth(noisy, 0.9)
    assert smoothed[0] == pytest.approx(noisy[0])  # debiased: starts where the data starts
    wiggle = max(abs(b - a) for a, b in zip(smoothed[50:], smoothed[51:]))
    assert wiggle < 0.15 and smoothed[-1] == pytest.approx(1.01, abs=0.2)  # the trend, lagging a little; noise was ±0.5


def test_a_nan_stays_a_gap_and_does_not_poison_the_rest():
    smoothed = smooth([1.0, math.nan, 1.0, math.inf, 1.0], 0.5)
    assert math.isnan(smoothed[1]) and math.isinf(smoothed[3])
    assert [smoothed[i] for i in (0, 2, 4)] == pytest.approx([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="smoothing"):
        smooth([1.0], 1.0)



def test_latest_is_the_newest_finite_value():
    from core.curves import latest

    assert latest([1.0, 2.0, float("nan")]) == 2.0 and latest([float("inf")]) is None and latest([]) is None
