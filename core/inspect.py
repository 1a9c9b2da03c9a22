"""One forward pass that shows everything: every leaf layer's activation, the probabilities, the filters.

Works on any ``nn.Module`` (not only Sequential): layers are found with forward hooks on the leaf
modules, so a user's own model shows up the same way as ours.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Inspection:
    """Detached numpy copies of one forward pass, safe to hand to another thread."""

    activations: dict[str, np.ndarray]
    probabilities: np.ndarray
    filters: dict[str, np.ndarray]

    @property
    def layer_names(self) -> list[str]:
        return list(self.activations)


def leaf_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules without children, by qualified name, in registration order."""
    return [(name, m) for name, m in model.named_modules() if name and not any(m.children())]


def conv_filters(model: nn.Module) -> dict[str, np.ndarray]:
    """Each Conv2d's weights (out, in, kh, kw) as a detached float32 copy."""
    return {
        name: m.weight.detach().to(torch.float32).cpu().numpy().copy()
        for name, m in leaf_layers(model)
        if isinstance(m, nn.Conv2d)
    }


class ActivationRecorder:
    """Forward hooks on every leaf layer that keep a copy of each output of the latest forward, in call
    order. A copy, not a view: a later in-place layer (``nn.ReLU(inplace=True)``, ``x += y``) would
    otherwise overwrite the kept output of the layer before it."""

    def __init__(self, model: nn.Module) -> None:
        self.outputs: dict[str, torch.Tensor] = {}
        self._handles = [m.register_forward_hook(self._hook(name)) for name, m in leaf_layers(model)]

    def _hook(self, name: str):
        def record(_module: nn.Module, _inputs, output) -> None:
            if isinstance(output, torch.Tensor):
                self.outputs[name] = output.detach().clone()

        return record

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __enter__(self) -> "ActivationRecorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def inspect(model: nn.Module, x: np.ndarray | torch.Tensor, with_filters: bool = True) -> Inspection:
    """Run one eval-mode forward of a single input (C, H, W) and collect what the views show.

    The model's train/eval mode is restored afterwards, so inspecting during training is harmless.
    """
    tensor = torch.from_numpy(np.array(x, dtype=np.float32)).unsqueeze(0)  # a copy: x may be read-only
    was_training = model.training
    if was_training:  # switching modes walks every module: skip it for a model already in eval mode
        model.eval()
    try:
        with torch.no_grad():
            if _is_chain(model):
                logits, outputs = _run_chain(model, tensor)
            else:
                with ActivationRecorder(model) as recorder:
                    logits = model(tensor)
                    outputs = dict(recorder.outputs)
    finally:
        if was_training:
            model.train()
    probabilities = torch.softmax(logits.reshape(-1).float(), dim=0).numpy().copy()
    # fresh tensors, nothing else writes to them: the hooks copied theirs, the chain's are its own
    activations = {name: out[0].float().numpy() for name, out in outputs.items()}
    return Inspection(
        activations=activations,
        probabilities=probabilities,
        filters=conv_filters(model) if with_filters else {},
    )


def _is_chain(model: nn.Module) -> bool:
    """A plain nn.Sequential of leaf layers (every layer-pattern model): its activations are simply
    each child's output, so no hooks are needed to collect them (hooks made a forward twice as slow).
    Hooks on the children (channel interventions) still run; hooks on the model itself would not."""
    return (
        type(model).forward is nn.Sequential.forward
        and not (model._forward_hooks or model._forward_pre_hooks)
        and all(not any(True for _ in child.children()) for child in model.children())
    )


def _run_chain(model: nn.Sequential, tensor: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    outputs: dict[str, torch.Tensor] = {}
    previous = None
    for name, child in model.named_children():
        if previous is not None and getattr(child, "inplace", False):
            outputs[previous] = tensor.clone()  # an in-place ReLU would overwrite the map before it
        tensor = child(tensor)
        outputs[name] = tensor
        previous = name
    return tensor, outputs
