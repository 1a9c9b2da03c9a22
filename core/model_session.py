"""The model being looked at: its layers, the current input, and the newest weights.

Everything the viewer shows derives from one ``ModelSession``; it caches the one forward pass per
(input, weights) pair so stepping through layers or hovering units costs no extra forward.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.architecture import Architecture, build_model
from core.checkpoint import Checkpoint
from core.data import Dataset
from core.inspect import Inspection, conv_filters, inspect, leaf_layers
from core.preprocess import Normalization
from core.receptive_field import ReceptiveField, UnitBox, effective_receptive_field, receptive_fields, unit_box
from core.trainer import evaluate


@dataclass(frozen=True)
class LayerRow:
    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    rf: ReceptiveField


class ModelSession:
    def __init__(
        self,
        model: nn.Module,
        input_shape: tuple[int, int, int],
        classes: tuple[str, ...],
        normalization: Normalization,
        architecture: Architecture | None = None,
    ) -> None:
        self.model = model.eval()
        self.input_shape = tuple(input_shape)
        self.classes = tuple(classes)
        self.normalization = normalization
        self.architecture = architecture
        self.step = 0
        self._input: np.ndarray | None = None
        self._inspection: Inspection | None = None
        self._scratch: nn.Module | None = None
        self._filters: dict[str, np.ndarray] | None = None
        params = {name: sum(p.numel() for p in m.parameters()) for name, m in leaf_layers(model)}
        self.layers = [
            LayerRow(rf.name, rf.kind, rf.output_shape, params.get(rf.name, 0), rf)
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
        self._inspection = None

    def load_weights(self, weights: dict[str, np.ndarray], step: int | None = None) -> None:
        self.model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()})
        if step is not None:
            self.step = step
        self._inspection = None
        self._filters = None

    def accuracy_with(self, weights: dict[str, np.ndarray], dataset: Dataset) -> float:
        """Accuracy of other weights (e.g. a worker's epoch end) without touching the model on show."""
        if self._scratch is None:
            self._scratch = copy.deepcopy(self.model)
        self._scratch.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()})
        return evaluate(self._scratch, dataset)[0]

    def weights(self) -> dict[str, np.ndarray]:
        return {k: v.detach().numpy().copy() for k, v in self.model.state_dict().items()}

    @property
    def inspection(self) -> Inspection | None:
        """The forward pass for the current input and weights; None when there is no input."""
        if self._input is None:
            return None
        if self._inspection is None:
            self._inspection = inspect(self.model, self._input, with_filters=False)
        return self._inspection

    def probabilities(self) -> np.ndarray | None:
        inspection = self.inspection
        return None if inspection is None else inspection.probabilities

    def filters(self) -> dict[str, np.ndarray]:
        """Conv weights, copied once per weights version (not per input: VGG-16's are 59 MB)."""
        if self._filters is None:
            self._filters = conv_filters(self.model)
        return self._filters

    def layer_index(self, name: str) -> int:
        return [row.name for row in self.layers].index(name)

    def unit_box(self, layer: str, row: int, col: int) -> UnitBox:
        return unit_box(self.layers[self.layer_index(layer)].rf, row, col, self.input_shape[1:])

    def effective_receptive_field(self, layer: str, channel: int, row: int, col: int) -> np.ndarray | None:
        if self._input is None:
            return None
        return effective_receptive_field(self.model, self._input, layer, channel, row, col)

    def display_input(self) -> np.ndarray | None:
        """The current input un-normalized to [0, 1] for display, (C, H, W)."""
        if self._input is None:
            return None
        return np.clip(self.normalization.invert(self._input), 0.0, 1.0).astype(np.float32)
