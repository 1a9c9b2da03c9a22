"""A run folder as the window shows it: the run's model at one snapshot, and look-back over every
snapshot, each read from disk only when it is looked at (a long run keeps hundreds)."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
import torch

from core.model_session import ModelSession
from core.preprocess import identity_normalization
from core.runs import Run, RunError
from core.weights import WeightsSnapshot

CACHED_SNAPSHOTS = 4  # dragging the slider back and forth over a few steps reads each once


def session_from_run(run: Run, weights: Mapping[str, torch.Tensor] | None = None, step: int | None = None) -> ModelSession:
    """The run's model with ``weights`` (those of ``step``), or as built when the run has no snapshot yet.
    RunError when the model cannot be built or the weights do not fit it."""
    try:
        model = run.build_model()
    except ValueError as exc:
        raise RunError(f"{run.folder.name}: the run's model cannot be built: {exc}") from None
    if weights is not None:
        run.check_fits(weights, model, step if step is not None else 0)
        model.load_state_dict(dict(weights))
    model.eval()
    classes = run.classes
    if classes is None:  # a FILE.py:FUNCTION model logged without class names: number its outputs
        with torch.no_grad():
            outputs = model(torch.zeros(1, *run.input_shape)).reshape(-1).numel()
        classes = tuple(str(i) for i in range(outputs))
    normalization = run.normalization or identity_normalization(run.input_shape[0])
    session = ModelSession(model, run.input_shape, classes, normalization, run.spec)
    session.step = step if step is not None else 0
    return session


def as_numpy(weights: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in weights.items()}


class RunTimeline:
    """The look-back steps of a run folder: its snapshots, read when looked at and a few kept.

    Offers what the viewer reads of a WeightTimeline (``steps``, ``at``, ``nbytes``, ``clear``), with
    ``set_steps`` for a run that grows; what is kept is the run writer's choice, so nothing is added here.
    """

    def __init__(self, run: Run, session: int, steps: list[int] | None = None) -> None:
        self.run = run
        self.session = session
        self._steps = list(run.steps() if steps is None else steps)
        self._cache: OrderedDict[int, WeightsSnapshot] = OrderedDict()

    def __len__(self) -> int:
        return len(self._steps)

    @property
    def nbytes(self) -> int:
        return sum(snapshot.nbytes for snapshot in self._cache.values())

    def steps(self) -> list[int]:
        return list(self._steps)

    def set_steps(self, steps: list[int]) -> bool:
        """The run's snapshot steps now; True when they changed."""
        steps = sorted(steps)
        if steps == self._steps:
            return False
        self._steps = steps
        for step in [s for s in self._cache if s not in steps]:
            del self._cache[step]
        return True

    def at(self, index: int) -> WeightsSnapshot:
        """The weights of the index-th snapshot; RunError if it is gone or unreadable."""
        step = self._steps[index]
        if step in self._cache:
            self._cache.move_to_end(step)
            return self._cache[step]
        snapshot = WeightsSnapshot(step, as_numpy(self.run.load(step)), self.session)
        self._cache[step] = snapshot
        while len(self._cache) > CACHED_SNAPSHOTS:
            self._cache.popitem(last=False)
        return snapshot

    def clear(self) -> None:
        self._steps.clear()
        self._cache.clear()
