"""Why one unit has the value it has: the numbers that add up to it, recomputed in float64.

Any ``nn.Module`` works, not only layer-pattern models: forward hooks on the leaf modules capture
what each layer received and returned, so a conv inside a residual block is explained from its own
input. A leaf that runs several times in one forward is explained at its last call, which is the
activation the app shows for it.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.insight.model_input import InsightError, batch_of_one, eval_mode, layer_named, shape_text
from core.insight._window import conv_padding, pair
from core.inspect import leaf_layers
from core.receptive_field import first_tensor

TOP_CONTRIBUTIONS = 10
"""How many of the largest positive (and negative) votes an FC explanation lists."""

_ELEMENTWISE: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus, nn.Softsign,
    nn.Tanhshrink, nn.Softshrink, nn.Hardshrink, nn.Threshold, nn.LogSigmoid,
)
_IDENTITY_IN_EVAL: tuple[type[nn.Module], ...] = (
    nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout,
)


class UnitKind(str, Enum):
    CONV = "conv"
    MAX_POOL = "maxpool"
    AVG_POOL = "avgpool"
    ACTIVATION = "activation"
    BATCH_NORM = "batchnorm"
    IDENTITY = "identity"
    FLATTEN = "flatten"
    FC = "fc"


@dataclass(frozen=True)
class Contribution:
    """One input's vote in an FC unit: weight × activation."""

    index: int
    source: tuple[int, int, int] | None  # (channel, row, col) when the input came from a flattened map
    activation: float
    weight: float
    product: float


@dataclass(frozen=True)
class BatchNormFacts:
    """The per-channel numbers of (x − mean) / sqrt(var + eps) · gamma + beta."""

    mean: float
    var: float
    eps: float
    gamma: float
    beta: float


@dataclass(frozen=True, eq=False)
class UnitExplanation:
    """How one unit's value is made.

    `terms` (float64) are what is summed (conv: patch × weights, shaped like `patch`; FC: weight ×
    activation per input; batch norm: x·s and −mean·s with s = gamma/sqrt(var+eps)), or the window
    values a pooling unit takes the max or mean of (1-D, the counted cells of `patch` in row-major
    order). `total` is terms.sum() + bias (conv, FC, batch norm), terms.max() (max pooling),
    terms.sum() / divisor (average pooling: terms.mean() unless the module has a divisor_override),
    the activation of `input_value` (activations) or `input_value` itself (identity, flatten).
    `value` is what the model computed; the two agree to float32 rounding.

    Windowed units (conv, pooling) describe their window in the layer's input: `input_channels`,
    `input_rows`, `input_cols` (rows/cols may lie outside the input: padding), `patch`
    (channels, rows, cols) of input values with padding cells filled as the layer fills them,
    `padding_mask` (rows, cols) True on padding, and `counted_mask` (rows, cols) True on the
    cells that enter the max/mean (all cells for conv).
    """

    kind: UnitKind
    layer: str
    module_type: str
    channel: int
    row: int
    col: int
    value: float
    terms: np.ndarray
    bias: float
    total: float
    patch: np.ndarray | None = None
    weights: np.ndarray | None = None
    padding_mask: np.ndarray | None = None
    counted_mask: np.ndarray | None = None
    input_channels: tuple[int, ...] = ()
    input_rows: tuple[int, ...] = ()
    input_cols: tuple[int, ...] = ()
    winner: tuple[int, int] | None = None  # max pooling: (row, col) of the winning cell in `patch`
    input_value: float | None = None  # activation, batch norm, identity, flatten: the one input
    normalization: BatchNormFacts | None = None
    source: tuple[int, ...] | None = None  # flatten: the (channel, row, col) this position came from
    source_shape: tuple[int, ...] | None = None  # flatten, FC: the shape that was flattened, if known
    activation: str | None = None  # the elementwise activation applied right after this layer
    after_activation: float | None = None  # ...and what it made of `value`
    top_positive: tuple[Contribution, ...] = ()
    top_negative: tuple[Contribution, ...] = ()
    logits: np.ndarray | None = None  # when this layer's output is the model's output
    probabilities: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None

    def source_of(self, index: int) -> tuple[int, ...] | None:
        """(channel, row, col) of an FC input position, when the input was a flattened map."""
        if self.source_shape is None:
            return None
        return tuple(int(v) for v in np.unravel_index(index, self.source_shape))


@dataclass
class _Call:
    """One call of a leaf: originals (for identity checks) and copies (safe from in-place ops)."""

    module: nn.Module
    input_ref: torch.Tensor
    output_ref: torch.Tensor
    input: torch.Tensor
    output: torch.Tensor
    source_shape: tuple[int, ...] | None = None


@dataclass
class _Capture:
    target: _Call | None = None
    following: _Call | None = None
    last_map: torch.Tensor | None = None


def explain_unit(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    layer: str,
    channel: int,
    row: int,
    col: int,
    *,
    class_names: tuple[str, ...] | list[str] | None = None,
    top: int = TOP_CONTRIBUTIONS,
) -> UnitExplanation:
    """Explain unit (channel, row, col) of leaf `layer` for one input `x` ((H, W), (C, H, W) or
    (1, C, H, W), in the model's normalised input space). For flat layers pass row = col = 0.

    The model runs once in eval mode without gradients; its modes are restored afterwards. Hooks
    sit on it during that forward, so call this on the thread that uses the model (or on a copy).
    """
    target = layer_named(model, layer)
    image = batch_of_one(model, x)
    capture = _Capture()
    handles = [
        module.register_forward_hook(_recorder(capture, module is target, module))
        for _, module in leaf_layers(model)
    ]
    try:
        with torch.no_grad(), eval_mode(model):
            model_output = model(image)
    except (RuntimeError, ValueError, TypeError) as error:
        raise InsightError(f"the model cannot run on a {shape_text(image.shape[1:])} input: {error}") from error
    finally:
        for handle in handles:
            handle.remove()
    call = capture.target
    if call is None:
        raise InsightError(f"layer {layer!r} did not run in the model's forward pass")
    index = _unit_index(call.output, layer, channel, row, col)
    value = float(call.output[(0, *index)])
    base = dict(layer=layer, module_type=type(target).__name__, channel=channel, row=row, col=col, value=value)
    explanation = _explain(call, index, base, max(int(top), 0))
    extras: dict[str, object] = {}
    following = capture.following
    if following is not None and following.input_ref is call.output_ref and isinstance(following.module, _ELEMENTWISE):
        extras["activation"] = type(following.module).__name__
        extras["after_activation"] = float(following.output[(0, *index)])
    if isinstance(model_output, torch.Tensor) and model_output is call.output_ref and call.output.dim() == 2:
        logits = call.output[0].to(torch.float64)
        extras["logits"] = logits.cpu().numpy()
        extras["probabilities"] = torch.softmax(logits, dim=0).cpu().numpy()
        if class_names is not None:
            extras["class_names"] = tuple(str(name) for name in class_names)
    return UnitExplanation(**explanation, **extras)


def _recorder(capture: _Capture, is_target: bool, module: nn.Module):
    def record(_module: nn.Module, inputs: tuple, output: object) -> None:
        source, result = first_tensor(inputs), first_tensor(output)
        if source is None or result is None:
            return
        waiting = capture.target is not None and capture.following is None
        if is_target or waiting:
            call = _Call(module, source, result, source.detach().clone(), result.detach().clone())
            if is_target:
                call.source_shape = _flattened_shape(source, capture.last_map)
                capture.target, capture.following = call, None
            else:
                capture.following = call
        for tensor in (source, result):
            if tensor.dim() == 4:
                capture.last_map = tensor

    return record


def _flattened_shape(source: torch.Tensor, last_map: torch.Tensor | None) -> tuple[int, ...] | None:
    """(C, H, W) of the map a flat input was made from: the latest 4-D tensor, if its values match."""
    if source.dim() != 2 or last_map is None or last_map[0].numel() != source.shape[1]:
        return None
    if not torch.equal(last_map[0].reshape(-1), source[0]):
        return None
    return tuple(int(v) for v in last_map.shape[1:])


def _unit_index(output: torch.Tensor, layer: str, channel: int, row: int, col: int) -> tuple[int, ...]:
    if output.dim() == 4:
        channels, rows, cols = output.shape[1:]
        if not (0 <= channel < channels and 0 <= row < rows and 0 <= col < cols):
            raise InsightError(
                f"{layer}: unit (channel {channel}, row {row}, col {col}) is outside its {channels}x{rows}x{cols} output"
            )
        return channel, row, col
    if output.dim() == 2:
        if not 0 <= channel < output.shape[1] or row != 0 or col != 0:
            raise InsightError(
                f"{layer}: unit (channel {channel}, row {row}, col {col}) is outside its {output.shape[1]} units "
                "(a flat layer's units have row = col = 0)"
            )
        return (channel,)
    raise InsightError(f"{layer}: an output shaped {tuple(output.shape)} has no unit to explain")


def _explain(call: _Call, index: tuple[int, ...], base: dict, top: int) -> dict:
    module = call.module
    if isinstance(module, nn.Conv2d):
        return _conv(module, call, index, base)
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d)):
        return _pool(module, call, index, base)
    if isinstance(module, nn.Linear):
        return _linear(module, call, index, base, top)
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return _batch_norm(module, call, index, base)
    if isinstance(module, nn.Flatten):
        return _flatten(call, index, base)
    if call.input.shape == call.output.shape and isinstance(module, _ELEMENTWISE):
        x = float(call.input[(0, *index)])
        applied = copy.deepcopy(module).to(torch.float64)(call.input.to(torch.float64))
        total = float(applied[(0, *index)])
        return dict(base, kind=UnitKind.ACTIVATION, terms=np.array([x]), bias=0.0, total=total, input_value=x)
    if call.input.shape == call.output.shape and isinstance(module, _IDENTITY_IN_EVAL):
        x = float(call.input[(0, *index)])
        return dict(base, kind=UnitKind.IDENTITY, terms=np.array([x]), bias=0.0, total=x, input_value=x)
    raise InsightError(f"{base['layer']}: a {type(module).__name__} unit cannot be explained yet")


def _conv(module: nn.Conv2d, call: _Call, index: tuple[int, ...], base: dict) -> dict:
    channel, row, col = index
    top, bottom, left, right = conv_padding(module)
    mode = "constant" if module.padding_mode == "zeros" else module.padding_mode
    x = call.input.to(torch.float64)
    padded = F.pad(x, (left, right, top, bottom), mode=mode)
    (kh, kw), (sh, sw), (dh, dw) = pair(module.kernel_size), pair(module.stride), pair(module.dilation)
    per_group = module.in_channels // module.groups
    group = channel // (module.out_channels // module.groups)
    channels = range(group * per_group, (group + 1) * per_group)
    rows = [row * sh + i * dh for i in range(kh)]
    cols = [col * sw + j * dw for j in range(kw)]
    patch = padded[0][list(channels)][:, rows][:, :, cols].cpu().numpy()
    weights = module.weight[channel].detach().to(torch.float64).cpu().numpy()
    terms = patch * weights
    bias = float(module.bias.detach()[channel]) if module.bias is not None else 0.0
    height, width = x.shape[-2:]
    input_rows = tuple(r - top for r in rows)
    input_cols = tuple(c - left for c in cols)
    return dict(
        base,
        kind=UnitKind.CONV,
        terms=terms,
        bias=bias,
        total=float(terms.sum()) + bias,
        patch=patch,
        weights=weights,
        padding_mask=_outside(input_rows, input_cols, height, width),
        counted_mask=np.ones((kh, kw), dtype=bool),
        input_channels=tuple(channels),
        input_rows=input_rows,
        input_cols=input_cols,
    )


def _outside(rows: tuple[int, ...], cols: tuple[int, ...], height: int, width: int) -> np.ndarray:
    inside_rows = np.array([0 <= r < height for r in rows])
    inside_cols = np.array([0 <= c < width for c in cols])
    return ~(inside_rows[:, None] & inside_cols[None, :])


def _pool_window(
    module: nn.Module, row: int, col: int, height: int, width: int, out_hw: tuple[int, int]
) -> tuple[list[int], list[int], int, int]:
    """Input rows and cols of the window, and the padded extent (bottom, right) torch counts up to."""
    if isinstance(module, (nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d)):
        spans = [
            (position * size // out, -(-(position + 1) * size // out))
            for position, size, out in ((row, height, out_hw[0]), (col, width, out_hw[1]))
        ]
        return list(range(*spans[0])), list(range(*spans[1])), height, width
    (kh, kw), (sh, sw), (ph, pw) = pair(module.kernel_size), pair(module.stride), pair(module.padding)
    dh, dw = pair(module.dilation) if isinstance(module, nn.MaxPool2d) else (1, 1)
    rows = [row * sh - ph + i * dh for i in range(kh)]
    cols = [col * sw - pw + j * dw for j in range(kw)]
    return rows, cols, height + ph, width + pw


def _pool(module: nn.Module, call: _Call, index: tuple[int, ...], base: dict) -> dict:
    channel, row, col = index
    x = call.input[0, channel].to(torch.float64).cpu().numpy()
    height, width = x.shape
    rows, cols, padded_bottom, padded_right = _pool_window(module, row, col, height, width, call.output.shape[-2:])
    padding = _outside(tuple(rows), tuple(cols), height, width)
    is_max = isinstance(module, (nn.MaxPool2d, nn.AdaptiveMaxPool2d))
    patch = np.full((len(rows), len(cols)), -np.inf if is_max else 0.0)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            if not padding[i, j]:
                patch[i, j] = x[r, c]
    if is_max or not getattr(module, "count_include_pad", True):
        counted = ~padding
    else:
        counted = np.array([r < padded_bottom for r in rows])[:, None] & np.array([c < padded_right for c in cols])[None, :]
    terms = patch[counted]
    result = dict(
        base,
        bias=0.0,
        terms=terms,
        patch=patch[None],
        padding_mask=padding,
        counted_mask=counted,
        input_channels=(channel,),
        input_rows=tuple(rows),
        input_cols=tuple(cols),
    )
    if is_max:
        winner = np.flatnonzero(counted)[int(np.argmax(terms))]
        return dict(
            result, kind=UnitKind.MAX_POOL, total=float(terms.max()), winner=tuple(int(v) for v in np.unravel_index(winner, counted.shape))
        )
    divisor = getattr(module, "divisor_override", None) or terms.size
    return dict(result, kind=UnitKind.AVG_POOL, total=float(terms.sum()) / divisor)


def _linear(module: nn.Linear, call: _Call, index: tuple[int, ...], base: dict, top: int) -> dict:
    (unit,) = index
    if call.input.dim() != 2:
        raise InsightError(f"{base['layer']}: a Linear applied to a {call.input.dim()}-D input cannot be explained")
    activations = call.input[0].to(torch.float64).cpu().numpy()
    weights = module.weight[unit].detach().to(torch.float64).cpu().numpy()
    terms = weights * activations
    bias = float(module.bias.detach()[unit]) if module.bias is not None else 0.0
    shape = call.source_shape

    def contribution(i: int) -> Contribution:
        source = tuple(int(v) for v in np.unravel_index(i, shape)) if shape is not None else None
        return Contribution(int(i), source, float(activations[i]), float(weights[i]), float(terms[i]))

    order = np.argsort(-terms, kind="stable")
    positive = [int(i) for i in order[:top] if terms[i] > 0]
    negative = [int(i) for i in order[::-1][:top] if terms[i] < 0]
    return dict(
        base,
        kind=UnitKind.FC,
        terms=terms,
        bias=bias,
        total=float(terms.sum()) + bias,
        patch=activations,
        weights=weights,
        source_shape=shape,
        top_positive=tuple(contribution(i) for i in positive),
        top_negative=tuple(contribution(i) for i in negative),
    )


def _batch_norm(module: nn.Module, call: _Call, index: tuple[int, ...], base: dict) -> dict:
    channel = index[0]
    x = float(call.input[(0, *index)])
    if module.running_mean is not None and module.running_var is not None:
        mean, var = float(module.running_mean[channel]), float(module.running_var[channel])
    else:  # no running statistics: eval mode normalises with the statistics of this input
        values = call.input[:, channel].to(torch.float64)
        mean, var = float(values.mean()), float(values.var(unbiased=False))
    gamma = float(module.weight.detach()[channel]) if module.weight is not None else 1.0
    beta = float(module.bias.detach()[channel]) if module.bias is not None else 0.0
    scale = gamma / np.sqrt(var + module.eps)
    terms = np.array([x * scale, -mean * scale])
    return dict(
        base,
        kind=UnitKind.BATCH_NORM,
        terms=terms,
        bias=beta,
        total=float(terms.sum()) + beta,
        input_value=x,
        normalization=BatchNormFacts(mean, var, float(module.eps), gamma, beta),
    )


def _flatten(call: _Call, index: tuple[int, ...], base: dict) -> dict:
    if call.output.dim() != 2:
        raise InsightError(f"{base['layer']}: only a Flatten to one vector per image can be explained")
    shape = tuple(int(v) for v in call.input.shape[1:])
    source = tuple(int(v) for v in np.unravel_index(index[0], shape))
    x = float(call.input[(0, *source)])
    return dict(
        base, kind=UnitKind.FLATTEN, terms=np.array([x]), bias=0.0, total=x, input_value=x, source=source, source_shape=shape
    )
