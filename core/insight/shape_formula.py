"""Why each layer's output has its shape: the output-size formula filled in with the layer's own numbers.

`conv1: (28 − 5 + 2·0)/1 + 1 = 24` is the tutorials' (W − F + 2P)/S + 1; with dilation d the filter
spans d·(F−1) + 1 pixels, so the formula becomes (W − d·(F−1) − 1 + 2P)/S + 1. Facts come from the
architecture text without any tensor, or, for any other model, from one forward pass of zeros with
hooks on the leaf layers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import torch
from torch import nn

from core.architecture import Architecture, ConvNet, layer_table
from core.insight.model_input import InsightError, eval_mode, input_kind
from core.insight._window import conv_padding, pair
from core.inspect import leaf_layers

_WINDOWED = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
_ADAPTIVE = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


class ShapeRule(str, Enum):
    """Which formula gives a layer's output shape."""

    WINDOW = "window"  # conv and pooling: (W − d·(F−1) − 1 + P_before + P_after)/S + 1 per axis
    ADAPTIVE = "adaptive"  # adaptive pooling: the size is chosen, whatever the input
    FLATTEN = "flatten"  # C·H·W
    FC = "fc"  # as many outputs as units
    SAME = "same"  # elementwise layers keep the shape
    OTHER = "other"  # anything else: only before → after can be said


@dataclass(frozen=True)
class AxisWindow:
    """One axis of a sliding window: kernel F, stride S, padding before/after, dilation d."""

    kernel: int
    stride: int
    padding_before: int
    padding_after: int
    dilation: int = 1


@dataclass(frozen=True)
class LayerShape:
    """What a shape formula needs about one layer; `window` holds the (rows, cols) axes of a WINDOW layer."""

    name: str
    kind: str
    rule: ShapeRule
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    window: tuple[AxisWindow, AxisWindow] | None = None
    ceil_mode: bool = False


def shape_formula(layer: LayerShape) -> str:
    """One line, e.g. `conv1: (28 − 5 + 2·0)/1 + 1 = 24`; both axes are written when they differ."""
    name, rule = layer.name, layer.rule
    if rule is ShapeRule.WINDOW and layer.window is not None and len(layer.input_shape) == 3:
        axes = [
            _axis_formula(size, axis, out, layer.ceil_mode)
            for size, axis, out in zip(layer.input_shape[1:], layer.window, layer.output_shape[1:])
        ]
        if axes[0] == axes[1]:
            return f"{name}: {axes[0]}"
        return f"{name}: height {axes[0]}; width {axes[1]}"
    if rule is ShapeRule.ADAPTIVE and len(layer.output_shape) == 3:
        return f"{name}: adaptive pooling to {_dims(layer.output_shape[1:])}, whatever the input size ({_dims(layer.input_shape[1:])} here)"
    if rule is ShapeRule.FLATTEN:
        return f"{name}: {'·'.join(str(v) for v in layer.input_shape)} = {math.prod(layer.output_shape)}"
    if rule is ShapeRule.FC and layer.output_shape:
        return f"{name}: {math.prod(layer.input_shape)} inputs → {layer.output_shape[-1]} units, one output per unit"
    if rule is ShapeRule.SAME:
        return f"{name}: same shape as its input, {_dims(layer.output_shape)}"
    return f"{name}: {_dims(layer.input_shape)} → {_dims(layer.output_shape)}"


def layer_shapes(
    model: nn.Module | Architecture, input_shape: tuple[int, int, int] | None = None
) -> list[LayerShape]:
    """Facts for every leaf layer in forward order: analytic for an Architecture or a ConvNet, from one
    forward pass of zeros (with `input_shape`) for any other model. A leaf called twice appears twice."""
    if isinstance(model, ConvNet) and input_shape in (None, model.architecture.input_shape):
        model = model.architecture
    if isinstance(model, Architecture):
        return _from_architecture(model)
    if input_shape is None:
        raise InsightError("layer_shapes needs the input shape (channels, height, width) of a model that is not a ConvNet")
    return _from_hooks(model, input_shape)


def shape_formulas(
    model: nn.Module | Architecture, input_shape: tuple[int, int, int] | None = None
) -> dict[str, str]:
    """Layer name → its formula line; a leaf called twice keeps its last call, as the views do."""
    return {layer.name: shape_formula(layer) for layer in layer_shapes(model, input_shape)}


def _axis_formula(size: int, axis: AxisWindow, out: int, ceil_mode: bool) -> str:
    span = f"{axis.kernel}" if axis.dilation == 1 else f"{axis.dilation}·({axis.kernel}−1) − 1"
    if axis.padding_before == axis.padding_after:
        padding = f"2·{axis.padding_before}"
    else:
        padding = f"{axis.padding_before} + {axis.padding_after}"
    numerator = size - (axis.dilation * (axis.kernel - 1) + 1) + axis.padding_before + axis.padding_after
    fraction = f"({size} − {span} + {padding})/{axis.stride}"
    if numerator % axis.stride:
        fraction = f"⌈{fraction}⌉" if ceil_mode else f"⌊{fraction}⌋"
    text = f"{fraction} + 1 = {out}"
    computed = (-(-numerator // axis.stride) if ceil_mode else numerator // axis.stride) + 1
    if ceil_mode and computed == out + 1:
        text += " (the last window would start in the padding, so it is dropped)"
    return text


def _dims(shape: tuple[int, ...]) -> str:
    return "×".join(str(v) for v in shape)


def _from_architecture(architecture: Architecture) -> list[LayerShape]:
    shapes: list[LayerShape] = []
    before: tuple[int, ...] = architecture.input_shape
    for spec, info in zip(architecture.layers, layer_table(architecture)):
        params = dict(spec.params)
        window = None
        if spec.kind in ("conv", "maxpool", "avgpool"):
            axis = AxisWindow(
                params["kernel"], params["stride"], params["padding"], params["padding"], params.get("dilation", 1)
            )
            window, rule = (axis, axis), ShapeRule.WINDOW
        else:
            rule = {"flatten": ShapeRule.FLATTEN, "fc": ShapeRule.FC}.get(spec.kind, ShapeRule.SAME)
        shapes.append(LayerShape(spec.name, spec.kind, rule, tuple(before), tuple(info.output_shape), window))
        before = info.output_shape
    return shapes


def _from_hooks(model: nn.Module, input_shape: tuple[int, int, int]) -> list[LayerShape]:
    shapes: list[LayerShape] = []

    def recorder(name: str):
        def record(module: nn.Module, inputs: tuple, output: object) -> None:
            source = next((v for v in inputs if isinstance(v, torch.Tensor)), None)
            if source is not None and isinstance(output, torch.Tensor):
                shapes.append(_from_module(name, module, tuple(source.shape[1:]), tuple(output.shape[1:])))

        return record

    dtype, device = input_kind(model)
    handles = [module.register_forward_hook(recorder(name)) for name, module in leaf_layers(model)]
    try:
        with torch.no_grad(), eval_mode(model):
            model(torch.zeros((1, *input_shape), dtype=dtype, device=device))
    except (RuntimeError, ValueError, TypeError) as error:
        raise InsightError(f"the model cannot run on a {_dims(input_shape)} input: {error}") from error
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def _from_module(name: str, module: nn.Module, before: tuple[int, ...], after: tuple[int, ...]) -> LayerShape:
    kind = {nn.Conv2d: "conv", nn.MaxPool2d: "maxpool", nn.AvgPool2d: "avgpool", nn.Linear: "fc", nn.Flatten: "flatten"}
    label = next((text for cls, text in kind.items() if isinstance(module, cls)), type(module).__name__.lower())
    if isinstance(module, _WINDOWED) and len(before) == 3:
        kernel, stride = pair(module.kernel_size), pair(module.stride)
        dilation = pair(getattr(module, "dilation", 1))
        if isinstance(module, nn.Conv2d):
            top, bottom, left, right = conv_padding(module)
        else:
            (top, left) = pair(module.padding)
            bottom, right = top, left
        window = (
            AxisWindow(kernel[0], stride[0], top, bottom, dilation[0]),
            AxisWindow(kernel[1], stride[1], left, right, dilation[1]),
        )
        return LayerShape(name, label, ShapeRule.WINDOW, before, after, window, bool(getattr(module, "ceil_mode", False)))
    if isinstance(module, _ADAPTIVE) and len(before) == 3:
        return LayerShape(name, "adaptive " + ("maxpool" if isinstance(module, nn.AdaptiveMaxPool2d) else "avgpool"), ShapeRule.ADAPTIVE, before, after)
    if isinstance(module, nn.Flatten) and len(after) == 1:
        return LayerShape(name, label, ShapeRule.FLATTEN, before, after)
    if isinstance(module, nn.Linear):
        return LayerShape(name, label, ShapeRule.FC, before, after)
    return LayerShape(name, label, ShapeRule.SAME if before == after else ShapeRule.OTHER, before, after)
