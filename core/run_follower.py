"""Following a run folder that another program is still writing: poll it, get only what is new.

The window calls ``poll()`` a few times a second (a QTimer or a QFileSystemWatcher's signal). Each poll
costs a few ``stat`` calls and a directory listing; a snapshot is read only when a newer one has appeared,
and never half-written (the writer renames complete files into place). When something is wrong (the
folder is missing, empty, from another program, or a snapshot does not fit the architecture) the update
carries a one-line ``error`` and nothing else changes, so the window keeps what it showed; polling
again later picks the run up once it is there.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.run_status import RunStatus
from core.runs import Run, RunError, open_run


@dataclass(frozen=True)
class FollowUpdate:
    """What one poll found. ``weights`` is set only when a newer snapshot than the last one handed out
    was read (and fits the model); ``new_metrics`` are the metrics lines added since the last poll (all
    of them on the first successful poll)."""

    run: Run | None
    new_metrics: list[dict] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)  # every snapshot step: what the look-back slider covers
    weights_step: int | None = None
    weights: dict[str, torch.Tensor] | None = None
    opened: bool = False  # this poll (re)opened the run: new_metrics is the whole history, start the curves afresh
    status: RunStatus | None = None
    message: str = ""  # the run's own explanation (e.g. why it diverged)
    error: str | None = None  # why this poll could not read the run; what was shown stays


class RunFollower:
    """Polls one run folder. Not thread-safe: use it from one thread."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.run: Run | None = None
        self.shown_step: int | None = None  # the snapshot whose weights were last handed out
        self._rejected_step: int | None = None  # a snapshot that did not fit: not read again
        self._expected: dict[str, tuple[int, ...]] | None = None

    def poll(self) -> FollowUpdate:
        opened = False
        try:
            if self.run is None:
                self.run = open_run(self.folder)
                new_metrics, opened = list(self.run.metrics), True
            else:
                new_metrics = self.run.refresh().new_metrics
        except RunError as exc:
            self._forget()  # the folder went away or changed: open it afresh when it is back
            return self._update(error=str(exc))
        steps = self.run.steps()
        newest = steps[-1] if steps else None
        if newest is None or newest in (self.shown_step, self._rejected_step):
            return self._update(new_metrics=new_metrics, steps=steps, opened=opened)
        try:
            weights = self._load_fitting(newest)
        except RunError as exc:
            return self._update(new_metrics=new_metrics, steps=steps, opened=opened, error=str(exc))
        self.shown_step = newest
        return self._update(new_metrics=new_metrics, steps=steps, opened=opened, weights_step=newest, weights=weights)

    def _load_fitting(self, step: int) -> dict[str, torch.Tensor]:
        """The snapshot's weights, checked against the run's architecture (built once)."""
        state = self.run.load(step)  # a snapshot removed meanwhile (a divergence) raises; the next poll retries
        if self._expected is None:
            try:
                model = self.run.build_model()
            except ValueError as exc:  # a FILE.py:FUNCTION that no longer builds
                raise RunError(f"{self.folder.name}: the run's model cannot be built: {exc}") from None
            self._expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        shapes = {k: tuple(v.shape) for k, v in state.items()}
        if shapes != self._expected:
            self._rejected_step = step
            raise RunError(f"{self.folder.name}: the snapshot of step {step} does not fit the run's architecture: "
                           f"{_first_difference(shapes, self._expected)}")
        return state

    def _forget(self) -> None:
        self.run = None
        self.shown_step = self._rejected_step = None
        self._expected = None

    def _update(self, **fields) -> FollowUpdate:
        run = self.run
        return FollowUpdate(
            run=run,
            status=run.status if run is not None else None,
            message=run.message if run is not None else "",
            **fields,
        )


def _first_difference(found: dict[str, tuple], expected: dict[str, tuple]) -> str:
    missing = sorted(set(expected) - set(found))
    if missing:
        return f"it has no weights for {missing[0]}"
    extra = sorted(set(found) - set(expected))
    if extra:
        return f"it has weights the model does not, such as {extra[0]}"
    key = next(k for k in expected if found[k] != expected[k])
    return f"{key} has shape {found[key]}, the model needs {expected[key]}"
