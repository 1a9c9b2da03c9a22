"""The effective receptive field as numbers: how far from its centre the gradient mass reaches.

Luo et al. 2016 found the effective receptive field Gaussian-like and much smaller than the
theoretical one, ever more so relative to it as depth grows; these numbers make that visible for
one unit, and across the weights kept during training.

Definitions: pixel (i, j) sits at coordinates (i, j) and carries mass |map[i, j]|; the centre is
the mass-weighted mean position; radius_p is the Euclidean distance from the centre within which
a fraction p of the mass lies, each pixel entering the circle gradually over the unit of distance
around its own (see _mass_radii). A sampled Gaussian of standard deviation σ ≥ 1.5 then gives
σ·sqrt(−2·ln(1 − p)) to within about 1%.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.insight.model_input import InsightError, batch_of_one, layer_named
from core.receptive_field import ReceptiveField, UnitBox, effective_receptive_field, receptive_fields, unit_box


@dataclass(frozen=True)
class ErfStats:
    """Size of one unit's effective receptive field, in input pixels.

    `area50`/`area95` count the pixels of the theoretical receptive field (`rf_area` pixels, the
    unit's box clipped to the image) that lie within `radius50`/`radius95` of the centre; the
    fractions divide them by `rf_area`. Without any gradient (a dead unit) the radii, centre and
    fractions are NaN and `mass` is 0.
    """

    centre: tuple[float, float]  # (row, col)
    radius50: float
    radius95: float
    area50: int
    area95: int
    rf_area: int
    area_fraction50: float
    area_fraction95: float
    mass: float

    @property
    def has_gradient(self) -> bool:
        return self.mass > 0


def erf_stats(erf_map: np.ndarray, box: UnitBox | ReceptiveField) -> ErfStats:
    """Stats of an (H, W) map such as effective_receptive_field's, against the unit's theoretical
    field: its UnitBox (clipped to the image), or a ReceptiveField (the full size × size_w)."""
    strength = np.abs(np.asarray(erf_map, dtype=np.float64))
    if strength.ndim != 2 or strength.size == 0 or not np.isfinite(strength).all():
        raise InsightError(f"the ERF map must be a finite (H, W) array, got shape {np.shape(erf_map)}")
    if isinstance(box, UnitBox):
        top, bottom, left, right = box.top, box.bottom, box.left, box.right
    else:
        top, bottom, left, right = 0, box.size, 0, box.size_w
    rf_area = max(bottom - top, 0) * max(right - left, 0)
    mass = float(strength.sum())
    if mass <= 0:
        nan = float("nan")
        return ErfStats((nan, nan), nan, nan, 0, 0, rf_area, nan, nan, 0.0)
    rows, cols = np.indices(strength.shape, dtype=np.float64)
    centre = (float((strength * rows).sum() / mass), float((strength * cols).sum() / mass))
    distance = np.hypot(rows - centre[0], cols - centre[1])
    radius50, radius95 = _mass_radii(distance.ravel(), strength.ravel(), (0.5, 0.95))
    if isinstance(box, UnitBox):
        in_box = distance[top:bottom, left:right]
    else:  # a ReceptiveField names no position: its box is taken centred on the mass
        offsets_r = np.arange(bottom) - (bottom - 1) / 2
        offsets_c = np.arange(right) - (right - 1) / 2
        in_box = np.hypot(offsets_r[:, None], offsets_c[None, :])
    area50, area95 = int((in_box <= radius50).sum()), int((in_box <= radius95).sum())
    return ErfStats(
        centre=centre,
        radius50=radius50,
        radius95=radius95,
        area50=area50,
        area95=area95,
        rf_area=rf_area,
        area_fraction50=area50 / rf_area if rf_area else float("nan"),
        area_fraction95=area95 / rf_area if rf_area else float("nan"),
        mass=mass,
    )


def _mass_radii(distance: np.ndarray, mass: np.ndarray, fractions: tuple[float, ...]) -> tuple[float, ...]:
    """Radii at which the mass inside reaches each fraction, each pixel counted as a unit-wide ring
    segment: the part of pixel i inside radius r is clip(r − d_i + 1/2, 0, 1). The mass inside is
    then piecewise linear in r with corners at d_i ± 1/2, so interpolating between corners is exact."""
    order = np.argsort(distance)
    d, m = distance[order], mass[order]
    below = np.concatenate([[0.0], np.cumsum(m)])  # mass of the pixels nearer than a distance
    below_moment = np.concatenate([[0.0], np.cumsum(m * d)])
    corners = np.unique(np.clip(np.concatenate([[0.0], d - 0.5, d + 0.5]), 0.0, None))
    fully = np.searchsorted(d, corners - 0.5, side="right")  # pixels wholly inside
    partly = np.searchsorted(d, corners + 0.5, side="right")  # ... and those the circle cuts
    inside = below[fully] + (corners + 0.5) * (below[partly] - below[fully]) - (below_moment[partly] - below_moment[fully])
    total = below[-1]
    return tuple(float(np.interp(p * total, inside, corners)) for p in fractions)


def erf_over_training(
    model: nn.Module | Callable[[], nn.Module],
    snapshots: Sequence[Mapping[str, np.ndarray | torch.Tensor]],
    x: np.ndarray | torch.Tensor,
    layer: str,
    channel: int,
    row: int,
    col: int,
) -> list[ErfStats]:
    """ErfStats of one unit under each kept set of weights (state dicts, e.g. the look-back
    timeline's), in order. `model` (or what the factory returns) is copied, never changed."""
    working = copy.deepcopy(model) if isinstance(model, nn.Module) else model()
    if not isinstance(working, nn.Module):
        raise InsightError(f"model must be an nn.Module or a function returning one, got {type(working).__name__}")
    layer_named(working, layer)
    image = batch_of_one(working, x)
    records = [rf for rf in receptive_fields(working, tuple(int(v) for v in image.shape[1:])) if rf.name == layer]
    rf = records[-1]
    box = unit_box(rf, row, col, tuple(image.shape[-2:])) if rf.spatial else unit_box(rf, 0, 0, tuple(image.shape[-2:]))
    results = []
    for state in snapshots:
        try:
            working.load_state_dict({name: torch.as_tensor(np.array(value)) for name, value in state.items()})
        except (RuntimeError, KeyError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise InsightError(f"a snapshot does not fit the model: {first_line}") from error
        results.append(erf_stats(effective_receptive_field(working, image, layer, channel, row, col), box))
    return results

