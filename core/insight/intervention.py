"""Does a channel matter? Switch it off (or scale it) and watch the prediction and later layers change.

An intervention multiplies chosen channels of a layer's output by a factor (0 switches a channel
off) through a forward hook, for the duration of a `with` block: the weights are never touched,
so the model being trained or saved is unchanged, and everything run inside the block (a
prediction, `inspect`, `attribute`) sees the altered network. A "channel" is dimension 1 of the
layer's output: a feature map of a conv layer, a unit of a fully connected one.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from core.insight.model_input import (
    InsightError,
    checked_class,
    eval_mode,
    input_batch,
    layer_named,
    logits_of,
)
from core.inspect import Inspection, inspect

Interventions = Mapping[str, Mapping[int, float]]
"""Layer name -> {channel: factor}; factor 0 switches the channel off."""
RANK_BATCH_VALUES = 16_000_000
"""Layer-output values per batch of rank_channels (64 MB): LeNet's conv2 in one batch, VGG-16's
conv13 (512 maps of 14x14) in four, so the layers before it run four times, not 512."""


def as_interventions(off: Mapping[str, Iterable[int] | Mapping[int, float]]) -> dict[str, dict[int, float]]:
    """{layer: [channels]} (switched off) or {layer: {channel: factor}}, checked, as Interventions."""
    if not isinstance(off, Mapping):
        raise InsightError(f"interventions must map layer names to channels, got {type(off).__name__}")
    checked: dict[str, dict[int, float]] = {}
    for layer, channels in off.items():
        if isinstance(channels, Mapping):
            pairs = list(channels.items())
        elif isinstance(channels, Iterable) and not isinstance(channels, (str, bytes)):
            pairs = [(channel, 0.0) for channel in channels]
        else:
            raise InsightError(f"{layer}: give a list of channels or a {{channel: factor}} mapping, got {channels!r}")
        factors: dict[int, float] = {}
        for channel, factor in pairs:
            if isinstance(channel, (bool, np.bool_)) or not isinstance(channel, (int, np.integer)) or channel < 0:
                raise InsightError(f"{layer}: channel {channel!r} is not a channel number")
            if isinstance(factor, (bool, np.bool_)) or not isinstance(factor, (int, float, np.number)):
                raise InsightError(f"{layer}: the factor of channel {channel} must be a number, got {factor!r}")
            if not math.isfinite(factor):
                raise InsightError(f"{layer}: the factor of channel {channel} must be finite, got {factor}")
            factors[int(channel)] = float(factor)
        if factors:
            checked[str(layer)] = factors
    return checked


@contextmanager
def channel_intervention(model: nn.Module, interventions: Interventions) -> Iterator[nn.Module]:
    """Inside the block, each named layer's channels come out multiplied by their factors.

    A channel number beyond the layer's count is reported by the first forward pass.
    """
    chosen = as_interventions(interventions)
    modules = {layer: layer_named(model, layer) for layer in chosen}
    handles = [modules[layer].register_forward_hook(_scaling_hook(layer, factors)) for layer, factors in chosen.items()]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


def probabilities_with(
    model: nn.Module, x: np.ndarray | torch.Tensor, off: Mapping[str, Iterable[int] | Mapping[int, float]] | None = None
) -> np.ndarray:
    """Class probabilities of one (C, H, W) input with channels off: off={"conv2": [3, 7]} (or factors)."""
    batch = input_batch(model, x)
    with channel_intervention(model, as_interventions(off or {})), eval_mode(model), torch.no_grad():
        return torch.softmax(logits_of(model, batch)[0].float(), dim=0).cpu().numpy()


def inspect_with(
    model: nn.Module, x: np.ndarray | torch.Tensor, interventions: Interventions, with_filters: bool = True
) -> Inspection:
    """core.inspect.inspect under interventions: the altered layer and every later one, as the views show them."""
    with channel_intervention(model, interventions):
        return inspect(model, x, with_filters=with_filters)


def rank_channels(
    model: nn.Module, x: np.ndarray | torch.Tensor, layer: str, target: int | None = None
) -> list[tuple[int, float]]:
    """(channel, probability drop of `target` when that channel alone is off), largest drop first.

    `target` defaults to the predicted class. The channels are switched off in batches: the layer's
    output (computed once) is copied once per channel, each copy with its channel zeroed, so only
    the layers after it run per channel. A model whose later code cannot take that batch (one that
    mixes in an earlier tensor with a fixed batch size) gets one input copy per channel instead.
    """
    module = layer_named(model, layer)
    batch = input_batch(model, x)
    shapes: list[torch.Size] = []
    with eval_mode(model), torch.no_grad():
        handle = module.register_forward_hook(lambda _m, _i, output: shapes.append(getattr(output, "shape", ())))
        try:
            reference = torch.softmax(logits_of(model, batch)[0].float(), dim=0)
        finally:
            handle.remove()
        if not shapes or len(shapes[0]) < 2:
            raise InsightError(f"{layer} has no channels to switch off")
        channels = shapes[0][1]
        target = int(reference.argmax()) if target is None else checked_class(target, reference.numel())
        per_batch = max(1, RANK_BATCH_VALUES // math.prod(shapes[0][1:]))
        probabilities = []
        for first in range(0, channels, per_batch):
            group = range(first, min(channels, first + per_batch))
            probabilities.append(_with_each_channel_off(model, module, batch, channels, group)[:, target])
    drops = (reference[target] - torch.cat(probabilities)).cpu().numpy()
    return sorted(((channel, float(drop)) for channel, drop in enumerate(drops)), key=lambda item: -item[1])


def _with_each_channel_off(
    model: nn.Module, module: nn.Module, batch: torch.Tensor, channels: int, group: range
) -> torch.Tensor:
    """Probabilities, one row per channel of `group` switched off alone."""
    masks = torch.ones(len(group), channels, dtype=batch.dtype, device=batch.device)
    masks[torch.arange(len(group)), torch.tensor(list(group))] = 0.0

    def switch_off(_module: nn.Module, _inputs, output: torch.Tensor) -> torch.Tensor:
        return output * masks.reshape(len(group), channels, *([1] * (output.dim() - 2)))

    handle = module.register_forward_hook(switch_off)
    try:
        try:
            logits = logits_of(model, batch)
        except RuntimeError:
            logits = None
        if logits is None or logits.shape[0] != len(group):
            logits = logits_of(model, batch.expand(len(group), *batch.shape[1:]))
    finally:
        handle.remove()
    return torch.softmax(logits.float(), dim=1)


def _scaling_hook(layer: str, factors: dict[int, float]):
    def scale(_module: nn.Module, _inputs, output):
        if not isinstance(output, torch.Tensor) or output.dim() < 2:
            raise InsightError(f"{layer} has no channels to scale")
        channels = output.shape[1]
        beyond = [channel for channel in factors if channel >= channels]
        if beyond:
            raise InsightError(f"{layer} has {channels} channels; there is no channel {beyond[0]}")
        multiplier = torch.ones(channels, dtype=output.dtype, device=output.device)
        multiplier[list(factors)] = torch.tensor(list(factors.values()), dtype=output.dtype, device=output.device)
        return output * multiplier.reshape(1, channels, *([1] * (output.dim() - 2)))

    return scale
