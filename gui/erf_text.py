"""The effective receptive field's size in words: how far from its centre the gradient reaches."""
from __future__ import annotations

from core.insight import ErfStats, erf_stats
from core.model_session import UnitReceptiveField
from core.receptive_field import UnitBox


def unit_erf_stats(unit: UnitReceptiveField) -> ErfStats | None:
    """Stats of a unit's ERF heatmap against its theoretical box (clipped to the image); None without an input."""
    if unit.erf is None:
        return None
    return erf_stats(unit.erf, UnitBox(*unit.box, *unit.full_box))


def erf_caption(unit: UnitReceptiveField, stats: ErfStats | None) -> str:
    """One line, e.g. 'Effective RF: half the gradient within r = 2.1 px (14% of the 5×5 receptive field), ...'."""
    if stats is None:
        return ""
    if not stats.has_gradient:
        return "Effective RF: no gradient reaches the input from this unit here (e.g. a ReLU that is off)."
    top, left, bottom, right = unit.box
    return (
        f"Effective RF: half the gradient within r = {stats.radius50:.1f} px "
        f"({stats.area_fraction50:.0%} of the {bottom - top}×{right - left} receptive field), "
        f"95% within r = {stats.radius95:.1f} px ({stats.area_fraction95:.0%})."
    )
