"""What every insight needs from a model: its leaf layers, its input dtype, and eval mode that is undone."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from core.insight.model_input import InsightError


def leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules without children by qualified name, as core.inspect.leaf_layers names them."""
    return [(name, m) for name, m in model.named_modules() if name and not any(True for _ in m.children())]


def leaf(model: nn.Module, layer: str) -> nn.Module:
    modules = dict(model.named_modules())
    if layer not in modules or layer == "":
        names = ", ".join(name for name, _ in leaves(model))
        raise InsightError(f"the model has no layer named {layer!r}; its layers are: {names}")
    if any(True for _ in modules[layer].children()):
        raise InsightError(f"{layer!r} is a block of layers, not one layer; pick one of its layers")
    return modules[layer]


def first_tensor(value: object) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        return next((v for v in value if isinstance(v, torch.Tensor)), None)
    return None


def input_kind(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    """The dtype and device the model's parameters live in, which its input must match."""
    reference = next((p for p in model.parameters() if p.is_floating_point()), None)
    if reference is None:
        return torch.float32, torch.device("cpu")
    return reference.dtype, reference.device


def batch_of_one(model: nn.Module, x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(H, W), (C, H, W) or (1, C, H, W) -> a detached (1, C, H, W) copy in the model's dtype."""
    image = (x if isinstance(x, torch.Tensor) else torch.tensor(np.array(x))).detach()
    if image.dim() == 2:
        image = image[None, None]
    elif image.dim() == 3:
        image = image[None]
    if image.dim() != 4 or image.shape[0] != 1:
        raise InsightError(f"x must be one image shaped (H, W), (C, H, W) or (1, C, H, W), got {tuple(image.shape)}")
    dtype, device = input_kind(model)
    return image.to(dtype=dtype, device=device).clone()


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode for the duration, then every module's own mode back, as if nothing happened."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes.items():
            module.train(training)


def shape_text(shape: tuple[int, ...] | torch.Size) -> str:
    return "x".join(str(int(v)) for v in shape)
