"""The model being looked at: its layers, the current input, and the weights on show.

It caches the one forward pass per (input, weights) pair so stepping through layers or hovering units
costs no extra forward, and it knows the rules that say what a layer shows: which filters stand behind
a pool or ReLU, and what a unit of a layer without a spatial layout sees.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.architecture import Architecture, LayerInfo, build_model
from core.checkpoint import Checkpoint
from core.insight.intervention import (
    Interventions,
    as_interventions,
    channel_intervention,
    inspect_with,
    probabilities_with,
)
from core.inspect import Inspection, conv_filters, inspect, leaf_layers
from core.preprocess import Normalization
from core.receptive_field import effective_receptive_field, receptive_fields, unit_box
from core.weights import Weights

_ids = itertools.count(1)
Box = tuple[int, int, int, int]  # top, left, bottom, right: half-open, in input pixels


@dataclass(frozen=True)
class UnitReceptiveField:
    """What one unit sees: ``box`` clipped to the input, ``full_box`` reaching over the padding, and
    the effective receptive field (|d unit / d input|, scaled to [0, 1]) or None without an input."""

    box: Box
    full_box: Box
    erf: np.ndarray | None


class ModelSession:
    def __init__(
        self,
        model: nn.Module,
        input_shape: tuple[int, int, int],
        classes: tuple[str, ...],
        normalization: Normalization,
        architecture: Architecture | None = None,
    ) -> None:
        self.id = next(_ids)  # snapshots name the session they belong to; a new model never takes old weights
        self.model = model.eval()
        self.input_shape = tuple(input_shape)
        self.classes = tuple(classes)
        self.normalization = normalization
        self.architecture = architecture
        self.step = 0
        self._input: np.ndarray | None = None
        self._inspection: Inspection | None = None
        self._interventions: dict[str, dict[int, float]] = {}
        self._plain_probabilities: np.ndarray | None = None
        self._filters: dict[str, np.ndarray] | None = None
        params = {name: sum(p.numel() for p in m.parameters()) for name, m in leaf_layers(model)}
        self.layers = [
            LayerInfo(rf.name, rf.kind, rf.output_shape, params.get(rf.name, 0), rf)
            for rf in receptive_fields(model, self.input_shape)
        ]

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint) -> "ModelSession":
        session = cls(
            checkpoint.build(),
            checkpoint.architecture.input_shape,
            checkpoint.classes,
            checkpoint.normalization,
            checkpoint.architecture,
        )
        session.step = checkpoint.history.steps[-1] if checkpoint.history.steps else 0
        return session

    @classmethod
    def from_architecture(
        cls, architecture: Architecture, classes: tuple[str, ...], normalization: Normalization, seed: int = 0
    ) -> "ModelSession":
        torch.manual_seed(seed)
        return cls(build_model(architecture), architecture.input_shape, classes, normalization, architecture)

    @property
    def input(self) -> np.ndarray | None:
        return self._input

    def set_input(self, x: np.ndarray | None) -> None:
        if x is not None:
            x = np.ascontiguousarray(x, dtype=np.float32)
            if x.shape != self.input_shape:
                raise ValueError(f"the model takes {self.input_shape} inputs, not {x.shape}")
        self._input = x
        self._forget_forward()

    def load_weights(self, weights: Weights, step: int | None = None) -> None:
        self.model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()})
        if step is not None:
            self.step = step
        self._forget_forward()
        self._filters = None

    def weights(self) -> Weights:
        return {k: v.detach().numpy().copy() for k, v in self.model.state_dict().items()}

    @property
    def interventions(self) -> dict[str, dict[int, float]]:
        """Channels scaled in what is shown, {layer: {channel: factor}} (a copy)."""
        return {layer: dict(factors) for layer, factors in self._interventions.items()}

    def set_interventions(self, interventions: Interventions) -> None:
        """Scale channels in every forward the views show (0 switches a channel off). A forward hook
        does it, so the weights (and what training, checkpoints and autosave see) never change."""
        self._interventions = as_interventions(interventions)
        self._forget_forward()

    @property
    def inspection(self) -> Inspection | None:
        """The forward pass for the current input, weights and interventions; None when there is no input."""
        if self._input is None:
            return None
        if self._inspection is None:
            if self._interventions:
                self._inspection = inspect_with(self.model, self._input, self._interventions, with_filters=False)
            else:
                self._inspection = inspect(self.model, self._input, with_filters=False)
        return self._inspection

    def probabilities(self) -> np.ndarray | None:
        inspection = self.inspection
        return None if inspection is None else inspection.probabilities

    def plain_probabilities(self) -> np.ndarray | None:
        """The probabilities without the interventions, to show what they changed."""
        if not self._interventions:
            return self.probabilities()
        if self._input is None:
            return None
        if self._plain_probabilities is None:
            self._plain_probabilities = probabilities_with(self.model, self._input)
        return self._plain_probabilities

    def activation(self, layer: str) -> np.ndarray | None:
        inspection = self.inspection
        return None if inspection is None else inspection.activations.get(layer)

    def filters(self) -> dict[str, np.ndarray]:
        """Conv weights, copied once per weights version (not per input: VGG-16's are 59 MB)."""
        if self._filters is None:
            self._filters = conv_filters(self.model)
        return self._filters

    def filter_source(self, layer: str) -> str | None:
        """The conv whose filters a layer shows: its own, or for a pool, ReLU or other layer that keeps
        the spatial layout, the nearest conv before it; None past the flatten or before any conv."""
        filters = self.filters()
        for row in reversed(self.layers[: self.layer_index(layer) + 1]):
            if row.name in filters:
                return row.name
            if not row.rf.spatial:
                return None
        return None

    def first_conv(self) -> str | None:
        return next((row.name for row in self.layers if row.name in self.filters()), None)

    def layer(self, name: str) -> LayerInfo:
        return self.layers[self.layer_index(name)]

    def layer_index(self, name: str) -> int:
        for index, row in enumerate(self.layers):
            if row.name == name:
                return index
        raise KeyError(f"the model has no layer {name!r}")

    def unit_receptive_field(self, layer: str, channel: int, row: int, col: int) -> UnitReceptiveField:
        """A unit of a spatial layer sees its box; a unit after the flatten sees the whole input."""
        info = self.layer(layer)
        if info.rf.spatial:
            b = unit_box(info.rf, row, col, self.input_shape[1:])
            box, full = (b.top, b.left, b.bottom, b.right), (b.full_top, b.full_left, b.full_bottom, b.full_right)
        else:
            _, height, width = self.input_shape
            box = full = (0, 0, height, width)
            row = col = 0
        erf = None
        if self._input is not None:
            with channel_intervention(self.model, self._interventions):
                erf = effective_receptive_field(self.model, self._input, layer, channel, row, col)
        return UnitReceptiveField(box, full, erf)

    def _forget_forward(self) -> None:
        self._inspection = None
        self._plain_probabilities = None
