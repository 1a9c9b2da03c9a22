"""The one value that carries weights around: a step number, the state dict as numpy, and its owner."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Weights = dict[str, np.ndarray]


@dataclass(frozen=True)
class WeightsSnapshot:
    """Every parameter and buffer at one training step, detached from the optimizer that made them.

    ``session`` is the id of the ModelSession these weights belong to (0: none in particular), so
    weights that arrive late from a training run of an earlier model are recognised and dropped.
    """

    step: int
    weights: Weights
    session: int = 0

    @property
    def nbytes(self) -> int:
        return sum(v.nbytes for v in self.weights.values())
