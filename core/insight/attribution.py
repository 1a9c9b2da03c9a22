"""Which input pixels make the network say a class: Saliency, Integrated Gradients, Occlusion, Grad-CAM.

The methods come from captum (imported on first use: it pulls in matplotlib, and start-up time
matters). Every method explains the class *logit* (the score before softmax): a probability near 1
has vanishing gradients, while the logit keeps the evidence visible, and the difference of two
logits is the log-odds of one class against the other, which is what "why 4 and not 9" asks.

Maps are (H, W) float32 arrays matching the input's spatial size. Signed maps (Integrated
Gradients, Occlusion) say "for" (positive) and "against" (negative) and want a diverging colour
scale centred on 0; unsigned maps (Saliency, Grad-CAM) are >= 0 and want a sequential one.
`METHODS[name].signed` tells the view which.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.insight.model_input import (
    InsightError,
    baseline_image,
    checked_class,
    eval_mode,
    images_per_batch,
    input_array,
    last_conv_name,
    layer_named,
    logits_of,
    model_device,
)
from core.receptive_field import ReceptiveField, ReceptiveFieldError, receptive_fields

IG_STEPS = 32
"""Integrated Gradients' integration points (Gauss-Legendre): captum's default is 50; 32 keeps the
completeness gap (sum of the map vs the logit change) small on our models at two thirds the cost."""
MAX_BATCH = 64
"""Most perturbed copies of the input in one forward (IG steps, occlusion windows)."""
OCCLUSION_FRACTION = 7
"""The occlusion window is 1/7 of the input side: about a stroke's width on a 28x28 digit."""
OCCLUSION_FINE_PIXELS = 64 * 64
"""Up to this many pixels windows overlap by half (13x13 = 169 positions); larger inputs use
non-overlapping windows (7x7 = 49 positions), since each position is one forward of the model."""


@dataclass(frozen=True)
class AttributionMethod:
    """What a view needs to know about a method: its label, its colour scale, what it measures."""

    name: str
    title: str
    signed: bool
    note: str


METHODS: dict[str, AttributionMethod] = {
    method.name: method
    for method in (
        AttributionMethod(
            "saliency",
            "Saliency",
            signed=False,
            note="size of the logit's gradient (largest over colour channels): where a small change matters most",
        ),
        AttributionMethod(
            "integrated_gradients",
            "Integrated Gradients",
            signed=True,
            note=f"gradients integrated from the baseline image ({IG_STEPS} steps), summed over channels; "
            "the map adds up to the logit's change from the baseline",
        ),
        AttributionMethod(
            "occlusion",
            "Occlusion",
            signed=True,
            note="logit drop when a window (1/7 of the side) is set to the baseline, averaged over the "
            "windows covering each pixel",
        ),
        AttributionMethod(
            "gradcam",
            "Grad-CAM",
            signed=False,
            note="a conv layer's maps weighted by the logit's mean gradient, positive part, "
            "upsampled (bilinear) with each unit at the centre of its receptive field",
        ),
    )
}
DEFAULT_METHOD = "gradcam"
"""The method that follows the pen: its backward pass stops at the conv layer, so it costs about one
forward on VGG-16 (1.1x) and 5x a forward (~2 ms) on LeNet; benchmarks/attribution_cost.py."""


class _ClassScore(nn.Module):
    """The model's logit for `target`, minus the logit of `other` when given, as an (N, 1) output."""

    def __init__(self, model: nn.Module, target: int, other: int | None) -> None:
        super().__init__()
        self.model = model
        self.target = target
        self.other = other

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        logits = logits_of(self.model, batch)
        classes = logits.shape[1]
        score = logits[:, checked_class(self.target, classes) : self.target + 1]
        if self.other is None:
            return score
        return score - logits[:, checked_class(self.other, classes, "compared") : self.other + 1]


def attribute(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    target: int,
    method: str,
    layer: str | None = None,
    *,
    baseline: float | np.ndarray | None = None,
) -> np.ndarray:
    """The (H, W) attribution of class `target` for one (C, H, W) input in the model's normalised space.

    `method` is one of METHODS; `layer` names the Grad-CAM layer (a leaf-module name as in
    core.inspect.leaf_layers, default the last Conv2d) and is ignored by the other methods.
    `baseline` is the "absent" pixel of Integrated Gradients and Occlusion, per channel or one
    value: pass `black_baseline(normalization)`; by default each channel's darkest value in `x`.
    The model is put in eval mode for the call and its mode restored; no parameter changes.
    """
    return _attribution(model, x, _checked_method(method), target, None, layer, baseline)


def compare(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    target: int,
    other: int,
    method: str,
    layer: str | None = None,
    *,
    baseline: float | np.ndarray | None = None,
) -> np.ndarray:
    """Why `target` and not `other`: the attribution of the logit margin target - other.

    For the signed methods (Integrated Gradients, Occlusion) this equals
    attribute(target) - attribute(other) exactly, since both are linear in the explained score.
    Saliency and Grad-CAM are not (absolute value, positive part), and the difference of their
    maps means nothing; for them this gives the margin's own map: where a change moves the
    margin most (Saliency), the layer's evidence for target over other (Grad-CAM).
    """
    return _attribution(model, x, _checked_method(method), target, other, layer, baseline)


def occlusion_window(height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """((window h, w), (stride h, w)) of the occlusion method for an input of this size."""
    window = (math.ceil(height / OCCLUSION_FRACTION), math.ceil(width / OCCLUSION_FRACTION))
    if height * width > OCCLUSION_FINE_PIXELS:
        return window, window
    return window, (max(1, window[0] // 2), max(1, window[1] // 2))


def _checked_method(method: str) -> str:
    if method not in METHODS:
        raise InsightError(f"unknown attribution method {method!r}: use one of {', '.join(METHODS)}")
    return method


def _attribution(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    method: str,
    target: int,
    other: int | None,
    layer: str | None,
    baseline: float | np.ndarray | None,
) -> np.ndarray:
    array = input_array(x)
    device = model_device(model)
    batch = torch.from_numpy(array).unsqueeze(0).to(device).requires_grad_(True)
    score = _ClassScore(model, target, other)
    with eval_mode(model):
        if method == "saliency":
            result = _saliency(score, batch)
        elif method == "gradcam":
            result = _gradcam(score, model, batch, layer)
        else:
            reference = torch.from_numpy(baseline_image(array, baseline)).unsqueeze(0).to(device)
            chunk = images_per_batch(array.size, MAX_BATCH)
            if method == "integrated_gradients":
                result = _integrated_gradients(score, batch, reference, chunk)
            else:
                result = _occlusion(score, batch, reference, chunk)
    attribution = result.detach().float().cpu().numpy().astype(np.float32)
    if not np.isfinite(attribution).all():
        raise InsightError(f"{METHODS[method].title} gave non-finite values: the model's output overflows")
    return attribution


def _saliency(score: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    from captum.attr import Saliency

    return Saliency(score).attribute(batch, target=0, abs=True)[0].amax(dim=0)


def _integrated_gradients(score: nn.Module, batch: torch.Tensor, reference: torch.Tensor, chunk: int) -> torch.Tensor:
    from captum.attr import IntegratedGradients

    attributions = IntegratedGradients(score).attribute(
        batch, baselines=reference, target=0, n_steps=IG_STEPS, internal_batch_size=chunk
    )
    return attributions[0].sum(dim=0)


def _occlusion(score: nn.Module, batch: torch.Tensor, reference: torch.Tensor, chunk: int) -> torch.Tensor:
    from captum.attr import Occlusion

    channels, height, width = batch.shape[1:]
    window, stride = occlusion_window(height, width)
    with torch.no_grad():
        attributions = Occlusion(score).attribute(
            batch.detach(),
            sliding_window_shapes=(channels, *window),
            strides=(channels, *stride),
            baselines=reference,
            target=0,
            perturbations_per_eval=chunk,
        )
    return attributions[0].mean(dim=0)


def _gradcam(score: nn.Module, model: nn.Module, batch: torch.Tensor, layer: str | None) -> torch.Tensor:
    from captum.attr import LayerGradCam

    name = last_conv_name(model) if layer is None else layer
    module = layer_named(model, name)
    cam = LayerGradCam(score, module).attribute(batch, target=0, relu_attributions=True)
    if not isinstance(cam, torch.Tensor) or cam.dim() != 4:
        raise InsightError(f"Grad-CAM needs a layer with (channels, height, width) maps; {name!r} has none")
    return _placed_on_input(cam, _field_of(model, name, tuple(batch.shape[1:])), tuple(batch.shape[2:]))


def _placed_on_input(
    cam: torch.Tensor, field: ReceptiveField | None, input_hw: tuple[int, int]
) -> torch.Tensor:
    """The (1, 1, h, w) map as (H, W), each unit's value at the centre of its receptive field.

    Stretching the map over the whole input (the usual Grad-CAM upsampling) misplaces it when
    convolutions shrink the maps: LeNet's conv2 units are centred on input rows 6.5 ... 20.5, not
    0 ... 27. So the map is upsampled by the layer's jump (captum's LayerAttribution.interpolate)
    and put where its units look; pixels no unit is centred on get 0. Where the geometry is
    unknown (a module core.receptive_field cannot follow) the map is stretched after all.
    """
    from captum.attr import LayerAttribution

    if field is None or not field.spatial or min(field.jump, field.jump_w) < 1:
        return LayerAttribution.interpolate(cam, input_hw, interpolate_mode="bilinear")[0, 0]
    rows, cols = cam.shape[2:]
    upsampled = LayerAttribution.interpolate(
        cam, (rows * field.jump, cols * field.jump_w), interpolate_mode="bilinear"
    )[0, 0]
    placed = torch.zeros(input_hw, dtype=upsampled.dtype, device=upsampled.device)
    top = math.floor(field.start + field.size / 2 + 0.5 - field.jump / 2)
    left = math.floor(field.start_w + field.size_w / 2 + 0.5 - field.jump_w / 2)
    source_rows = slice(max(0, -top), max(0, min(upsampled.shape[0], input_hw[0] - top)))
    source_cols = slice(max(0, -left), max(0, min(upsampled.shape[1], input_hw[1] - left)))
    target_rows = slice(max(0, top), max(0, top) + source_rows.stop - source_rows.start)
    target_cols = slice(max(0, left), max(0, left) + source_cols.stop - source_cols.start)
    placed[target_rows, target_cols] = upsampled[source_rows, source_cols]
    return placed


_FIELDS: weakref.WeakKeyDictionary[nn.Module, dict[tuple[int, int, int], dict[str, ReceptiveField]]] = (
    weakref.WeakKeyDictionary()
)


def _field_of(model: nn.Module, layer: str, input_shape: tuple[int, int, int]) -> ReceptiveField | None:
    """The layer's receptive-field geometry, remembered per model and input shape (it costs a forward)."""
    by_shape = _FIELDS.setdefault(model, {})
    if input_shape not in by_shape:
        try:
            fields = receptive_fields(model, input_shape)
        except ReceptiveFieldError:
            fields = []
        by_shape[input_shape] = {}
        for field in fields:
            by_shape[input_shape].setdefault(field.name, field)
    return by_shape[input_shape].get(layer)
