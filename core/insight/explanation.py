"""The attribution view's answer in one call: the heatmap of a class (or of one class against another),
how faithful it is, computed under the channel interventions on show, reporting each forward pass.

Progress counts forward passes (a forward pre-hook on the model): Integrated Gradients and Occlusion
on VGG-16 run for minutes in a handful of batched forwards, and the hook is also where a cancelled run
stops, since the `progress` callback may raise.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.insight.attribution import IG_STEPS, MAX_BATCH, attribute, compare, occlusion_window
from core.insight.faithfulness import Faithfulness, faithfulness
from core.insight.intervention import Interventions, channel_intervention
from core.insight.model_input import images_per_batch, input_array, last_conv_name

FAITHFULNESS_FRACTION = 0.1


@dataclass(frozen=True)
class Explanation:
    """A heatmap over the input and its faithfulness readout. `layer` is Grad-CAM's layer (None for
    the other methods); `seconds` is what it cost, so a view can decide where the next one runs."""

    heatmap: np.ndarray
    method: str
    target: int
    other: int | None
    layer: str | None
    faithfulness: Faithfulness
    seconds: float


def explain(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    method: str,
    target: int,
    other: int | None = None,
    layer: str | None = None,
    *,
    baseline: float | np.ndarray | None = None,
    interventions: Interventions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Explanation:
    """`attribute` (or `compare` when `other` is given) and `faithfulness` of the top 10% of pixels,
    with `interventions` applied; `progress(done, total)` is called before each forward pass."""
    started = time.perf_counter()
    array = input_array(x)
    if method == "gradcam" and layer is None:
        layer = last_conv_name(model)
    total = forward_passes(method, array.shape) + 1
    with channel_intervention(model, interventions or {}), _counting_forwards(model, progress, total):
        if other is None:
            heatmap = attribute(model, array, target, method, layer, baseline=baseline)
        else:
            heatmap = compare(model, array, target, other, method, layer, baseline=baseline)
        readout = faithfulness(model, array, heatmap, target, FAITHFULNESS_FRACTION, baseline=baseline)
    return Explanation(
        heatmap, method, target, other, layer if method == "gradcam" else None, readout, time.perf_counter() - started
    )


def forward_passes(method: str, input_shape: tuple[int, int, int]) -> int:
    """How many batched forwards `attribute` makes for one input of this shape (Grad-CAM's first call
    on a model makes one more, to learn where its units look)."""
    channels, height, width = input_shape
    chunk = images_per_batch(channels * height * width, MAX_BATCH)
    if method == "integrated_gradients":
        return math.ceil(IG_STEPS / max(2, chunk))
    if method == "occlusion":
        window, stride = occlusion_window(height, width)
        positions = math.prod(math.ceil((side - w) / s) + 1 for side, w, s in zip((height, width), window, stride))
        return 1 + math.ceil(positions / chunk)
    return 1


@contextmanager
def _counting_forwards(
    model: nn.Module, progress: Callable[[int, int], None] | None, total: int
) -> Iterator[None]:
    if progress is None:
        yield
        return
    done = 0

    def count(_module: nn.Module, _inputs) -> None:
        nonlocal done
        progress(min(done, total), total)
        done += 1

    handle = model.register_forward_pre_hook(count)
    try:
        yield
    finally:
        handle.remove()
    progress(total, total)
