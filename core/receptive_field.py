"""Receptive fields: which input pixels each unit of a convnet can see, and how strongly.

The analytic part follows Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional
Neural Networks" (Distill 2019): every layer maps the (size, jump, start) of its input to those of
its output. Coordinates are input pixels; `start` is the input row (or column) of the first pixel
seen by unit 0 and is negative when that unit looks at zero-padding. The effective receptive field
follows Luo et al. 2016: the magnitude of the gradient of one unit with respect to the input.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

_KIND_OF_MODULE: dict[type, str] = {
    nn.Conv2d: "conv",
    nn.MaxPool2d: "maxpool",
    nn.AvgPool2d: "avgpool",
    nn.AdaptiveMaxPool2d: "maxpool",
    nn.AdaptiveAvgPool2d: "avgpool",
    nn.ReLU: "relu",
    nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid",
    nn.BatchNorm1d: "bn",
    nn.BatchNorm2d: "bn",
    nn.Dropout: "dropout",
    nn.Flatten: "flatten",
    nn.Linear: "fc",
}


class ReceptiveFieldError(ValueError):
    """A model, layer or unit that receptive fields cannot be computed for, in plain words."""


def rf_step(
    size: int, jump: int, start: int, kernel: int, stride: int, padding: int, dilation: int = 1
) -> tuple[int, int, int]:
    """One layer of the Distill recurrence, returning the output's (size, jump, start)."""
    return size + dilation * (kernel - 1) * jump, jump * stride, start - padding * jump


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of the units of one layer; `*_w` are the column values (equal when square).

    A non-spatial layer (flatten, FC and what follows) sees the whole input: size is the input's
    height (width for `size_w`), jump and start are 0, so every unit's box is the whole image.
    """

    name: str
    kind: str
    output_shape: tuple[int, ...]
    size: int
    jump: int
    start: int
    size_w: int
    jump_w: int
    start_w: int
    spatial: bool


@dataclass(frozen=True)
class UnitBox:
    """Input pixels seen by one unit: half-open [top, bottom) x [left, right), clipped to the image.

    The `full_*` values are the unclipped box, which reaches outside the image when the unit looks
    at zero-padding.
    """

    top: int
    left: int
    bottom: int
    right: int
    full_top: int
    full_left: int
    full_bottom: int
    full_right: int

    @property
    def on_padding(self) -> bool:
        """True when part of what the unit sees is zero-padding rather than image."""
        return (self.top, self.left, self.bottom, self.right) != (
            self.full_top,
            self.full_left,
            self.full_bottom,
            self.full_right,
        )


@dataclass(frozen=True)
class _Geometry:
    """Receptive field of one tensor, carried along the forward pass."""

    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[int, int]
    spatial: bool


def receptive_fields(model: nn.Module, input_shape: tuple[int, int, int]) -> list[ReceptiveField]:
    """One record per leaf layer, in forward order, from one forward pass of zeros.

    Any module works, not only nn.Sequential: each leaf's input is traced back through the autograd
    graph to the layer outputs it came from, so functional steps (F.relu, x.flatten) and branches
    are followed; where branches merge, the larger field is kept. Layers named in the list are the
    qualified names of `model.named_modules()`; a leaf called twice appears twice.
    """
    channels, height, width = _checked_input_shape(input_shape)
    reference = next((p for p in model.parameters() if p.is_floating_point()), None)
    zeros = torch.zeros(
        (1, channels, height, width),
        dtype=reference.dtype if reference is not None else torch.float32,
        device=reference.device if reference is not None else "cpu",
        requires_grad=True,
    )
    whole_input = _Geometry((height, width), (0, 0), (0, 0), spatial=False)
    # The forward runs with autograd so that each layer's input can be traced back through any
    # functional operations to the layer outputs it came from.
    image = zeros.clone()
    known: dict[object, tuple[torch.Size, _Geometry]] = {
        image.grad_fn: (image.shape, _Geometry((1, 1), (1, 1), (0, 0), spatial=True))
    }
    last = [known[image.grad_fn]]
    records: list[ReceptiveField] = []

    def record(name: str, module: nn.Module, inputs: tuple, output: object) -> None:
        source, result = first_tensor(inputs), first_tensor(output)
        if source is None or result is None:
            return
        shape, before = _producer(source, known) or last[-1]
        if before.spatial and source.dim() == 4 and source.shape[-2:] != shape[-2:]:
            raise ReceptiveFieldError(
                f"{name}: its input is {source.shape[-2]}x{source.shape[-1]} but the layer before "
                f"gave {shape[-2]}x{shape[-1]}; an operation that is not a module "
                "(e.g. F.max_pool2d) changed the size and cannot be traced"
            )
        geometry = _layer_geometry(name, module, before, source, result, whole_input)
        if result.grad_fn is not None:
            known[result.grad_fn] = (result.shape, geometry)
        last.append((result.shape, geometry))
        records.append(_record(name, module, result, geometry))

    leaves = [(name, m) for name, m in model.named_modules() if not any(True for _ in m.children())]
    handles = [
        module.register_forward_hook(lambda m, i, o, name=name: record(name, m, i, o))
        for name, module in leaves
    ]
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.enable_grad():
            model(image)
    except ReceptiveFieldError:
        raise
    except (RuntimeError, ValueError, TypeError) as error:
        raise ReceptiveFieldError(
            f"the model cannot run on a {channels}x{height}x{width} input: {error}"
        ) from error
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.train(training)
    return records


def _producer(
    tensor: torch.Tensor, known: dict[object, tuple[torch.Size, _Geometry]]
) -> tuple[torch.Size, _Geometry] | None:
    """The recorded output(s) nearest upstream of `tensor`, the widest when branches merge."""
    found: list[tuple[torch.Size, _Geometry]] = []
    pending, seen = [tensor.grad_fn], set()
    while pending:
        node = pending.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if node in known:
            found.append(known[node])
        else:
            pending.extend(parent for parent, _ in node.next_functions)
    if not found:
        return None
    return max(found, key=lambda item: (not item[1].spatial, item[1].size[0] * item[1].size[1]))


def unit_box(rf: ReceptiveField, row: int, col: int, input_hw: tuple[int, int]) -> UnitBox:
    """Box of input pixels seen by unit (row, col) of a layer; non-spatial layers see everything."""
    height, width = input_hw
    if height < 1 or width < 1:
        raise ReceptiveFieldError(f"the input must be at least 1x1, got {height}x{width}")
    if rf.spatial:
        rows, cols = rf.output_shape[-2], rf.output_shape[-1]
        if not (0 <= row < rows and 0 <= col < cols):
            raise ReceptiveFieldError(
                f"{rf.name}: unit ({row}, {col}) is outside its {rows}x{cols} feature map"
            )
    full_top = rf.start + row * rf.jump
    full_left = rf.start_w + col * rf.jump_w
    full_bottom = full_top + rf.size
    full_right = full_left + rf.size_w
    return UnitBox(
        top=min(max(full_top, 0), height),
        left=min(max(full_left, 0), width),
        bottom=min(max(full_bottom, 0), height),
        right=min(max(full_right, 0), width),
        full_top=full_top,
        full_left=full_left,
        full_bottom=full_bottom,
        full_right=full_right,
    )


class _Captured(Exception):
    """Stops the forward pass once the wanted layer has run; later layers are not needed."""

    def __init__(self, output: torch.Tensor) -> None:
        super().__init__()
        self.output = output


def effective_receptive_field(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    layer: str,
    channel: int,
    row: int,
    col: int,
) -> np.ndarray:
    """(H, W) map of |d unit / d input| summed over input channels, scaled so its maximum is 1.

    `x` is one image as (H, W), (C, H, W) or (1, C, H, W). For a non-spatial layer the unit is
    `channel` and row/col are ignored. The model runs in eval mode; its modes and parameter
    gradients are left as they were.
    """
    modules = dict(model.named_modules())
    if layer not in modules or layer == "":
        names = ", ".join(name for name in modules if name)
        raise ReceptiveFieldError(f"the model has no layer named {layer!r}; it has: {names}")
    image = _image_batch(model, x)

    def capture(_module: nn.Module, _inputs: tuple, output: object) -> None:
        raise _Captured(first_tensor(output))

    handle = modules[layer].register_forward_hook(capture)
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.enable_grad():
            model(image)
        raise ReceptiveFieldError(f"layer {layer!r} did not run in the model's forward pass")
    except _Captured as captured:
        output = captured.output
    finally:
        handle.remove()
        for module, training in modes.items():
            module.train(training)
    unit = _select_unit(output, layer, channel, row, col)
    if not unit.requires_grad:
        return np.zeros(image.shape[-2:], dtype=np.float32)
    (gradient,) = torch.autograd.grad(unit, image, allow_unused=True)
    if gradient is None:
        return np.zeros(image.shape[-2:], dtype=np.float32)
    strength = gradient.detach().abs().sum(dim=1)[0]
    peak = strength.max()
    if peak > 0:
        strength = strength / peak
    return strength.to(torch.float32).cpu().numpy()


def _checked_input_shape(input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    if len(input_shape) != 3 or any(not isinstance(v, int) or v < 1 for v in input_shape):
        raise ReceptiveFieldError(
            f"input_shape must be three positive whole numbers (channels, height, width), got {input_shape!r}"
        )
    return input_shape[0], input_shape[1], input_shape[2]


def first_tensor(value: object) -> torch.Tensor | None:
    """A layer's output as one tensor: itself, or the first tensor of a tuple or list."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        return next((v for v in value if isinstance(v, torch.Tensor)), None)
    return None


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _window(
    module: nn.Module, source: torch.Tensor, result: torch.Tensor
) -> tuple[tuple[int, int], ...] | None:
    """(kernel, stride, padding, dilation) per axis of a sliding-window layer, None for others."""
    if isinstance(module, nn.Conv2d):
        kernel, dilation = _pair(module.kernel_size), _pair(module.dilation)
        if module.padding == "valid":
            padding = (0, 0)
        elif module.padding == "same":
            # torch puts the odd pixel of 'same' padding on the bottom/right, so the top/left is the floor.
            padding = (dilation[0] * (kernel[0] - 1) // 2, dilation[1] * (kernel[1] - 1) // 2)
        else:
            padding = _pair(module.padding)
        return kernel, _pair(module.stride), padding, dilation
    if isinstance(module, nn.MaxPool2d):
        return _pair(module.kernel_size), _pair(module.stride), _pair(module.padding), _pair(module.dilation)
    if isinstance(module, nn.AvgPool2d):
        return _pair(module.kernel_size), _pair(module.stride), _pair(module.padding), (1, 1)
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        # Exact when the sizes divide evenly; otherwise torch's windows vary and this is the
        # uniform window that covers the same span.
        sizes_in, sizes_out = source.shape[-2:], result.shape[-2:]
        stride = tuple(i // o for i, o in zip(sizes_in, sizes_out))
        kernel = tuple(i - (o - 1) * s for i, o, s in zip(sizes_in, sizes_out, stride))
        return kernel, stride, (0, 0), (1, 1)
    return None


def _layer_geometry(
    name: str,
    module: nn.Module,
    before: _Geometry,
    source: torch.Tensor,
    result: torch.Tensor,
    whole_input: _Geometry,
) -> _Geometry:
    if not before.spatial or result.dim() != 4:
        return whole_input
    window = _window(module, source, result)
    if window is None:
        if tuple(result.shape[-2:]) != tuple(source.shape[-2:]):
            raise ReceptiveFieldError(
                f"{name}: a {type(module).__name__} changes the feature map size and its receptive "
                "field cannot be computed"
            )
        return before
    steps = [
        rf_step(before.size[axis], before.jump[axis], before.start[axis], *(part[axis] for part in window))
        for axis in (0, 1)
    ]
    return _Geometry(
        size=(steps[0][0], steps[1][0]),
        jump=(steps[0][1], steps[1][1]),
        start=(steps[0][2], steps[1][2]),
        spatial=True,
    )


def _record(name: str, module: nn.Module, result: torch.Tensor, geometry: _Geometry) -> ReceptiveField:
    return ReceptiveField(
        name=name,
        kind=_KIND_OF_MODULE.get(type(module), type(module).__name__.lower()),
        output_shape=tuple(result.shape[1:]),
        size=geometry.size[0],
        jump=geometry.jump[0],
        start=geometry.start[0],
        size_w=geometry.size[1],
        jump_w=geometry.jump[1],
        start_w=geometry.start[1],
        spatial=geometry.spatial,
    )


def _image_batch(model: nn.Module, x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A fresh (1, C, H, W) leaf tensor in the model's dtype, so gradients stop at the image."""
    image = (torch.tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x).detach()
    if image.dim() == 2:
        image = image[None, None]
    elif image.dim() == 3:
        image = image[None]
    if image.dim() != 4 or image.shape[0] != 1:
        raise ReceptiveFieldError(
            f"x must be one image shaped (H, W), (C, H, W) or (1, C, H, W), got {tuple(image.shape)}"
        )
    reference = next((p for p in model.parameters() if p.is_floating_point()), None)
    dtype = reference.dtype if reference is not None else torch.float32
    device = reference.device if reference is not None else image.device
    return image.to(dtype=dtype, device=device).clone().requires_grad_(True)


def _select_unit(output: torch.Tensor | None, layer: str, channel: int, row: int, col: int) -> torch.Tensor:
    if output is None:
        raise ReceptiveFieldError(f"layer {layer!r} did not return a tensor")
    if output.dim() == 4:
        channels, rows, cols = output.shape[1:]
        if not (0 <= channel < channels and 0 <= row < rows and 0 <= col < cols):
            raise ReceptiveFieldError(
                f"{layer}: unit (channel {channel}, row {row}, col {col}) is outside its "
                f"{channels}x{rows}x{cols} output"
            )
        return output[0, channel, row, col]
    if output.dim() == 2:
        if not 0 <= channel < output.shape[1]:
            raise ReceptiveFieldError(f"{layer}: unit {channel} is outside its {output.shape[1]} units")
        return output[0, channel]
    raise ReceptiveFieldError(f"{layer}: an output shaped {tuple(output.shape)} has no unit to pick")
