"""The app's own training, written as a run folder and judged at the end.

``train_and_record`` is the whole loop for ``main.py train`` and each search trial. A loop of its own
(the window's training process, which reads commands between steps) uses the parts:

    recorder = RunRecorder(writer, trainer)           # after RunWriter(...) and Trainer(...)
    result = trainer.step()   -> recorder.record(result)          every step
    DivergedError as error    -> recorder.diverged(error)         (closes the run "diverged")
    trainer.end_of_epoch      -> epoch_verdict(trainer, probe)    a Verdict means: stop, failed to learn
    at the end                -> recorder.finish(*final_status(trainer, probe))
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from core.pacing import Pacer
from core.run_status import RunStatus
from core.runs import RunWriter
from core.trainer import DivergedError, StepResult, Stopwatch, Trainer
from core.training_health import Verdict, dead_relu_layers, judge_learning

SNAPSHOTS_PER_DOUBLING = 50  # past the first minute, snapshots thin out: ~50 more each time the run's age doubles
PROBE_IMAGES = 256


@dataclass(frozen=True)
class RunOutcome:
    """How a recorded run ended, for the command line and the search table."""

    folder: Path
    status: RunStatus
    message: str
    steps: int
    final_loss: float | None
    test_accuracy: float | None  # the last measured
    best_test_accuracy: float | None
    seconds: float
    samples_per_s: float


class RunRecorder:
    """Logs every step of a Trainer to a RunWriter and snapshots its weights as the run goes.

    Snapshots: the start, every ``snapshot_every_s`` seconds at first (a follower sees the run move
    within a second), spaced wider as the run ages so a long run keeps a few hundred files, plus every
    epoch end and the last step.
    """

    def __init__(
        self,
        writer: RunWriter,
        trainer: Trainer,
        snapshot_every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.writer = writer
        self.trainer = trainer
        self.snapshot_every_s = snapshot_every_s
        self.clock = clock
        self.stopwatch = Stopwatch()
        self.started = clock()
        self.next_snapshot = self.started
        self.snapshot_step: int | None = None

    @property
    def step(self) -> int:
        return self.trainer.first_step + self.trainer.step_count

    def record(self, result: StepResult) -> None:
        """Log the step just trained (with test accuracy if the trainer measured it) and snapshot if due."""
        self.stopwatch.add(result.samples)
        step = self.trainer.first_step + result.step
        history = self.trainer.history
        fields = {
            "epoch": (result.step - 1) // result.batches_per_epoch + 1,
            "loss": result.loss,
            "accuracy": result.accuracy,
            "lr": self.trainer.optimizer.param_groups[0]["lr"],
            "samples_per_s": round(self.stopwatch.rate(), 1),
        }
        if history.test_steps and history.test_steps[-1] == step:
            fields["test_accuracy"] = history.test_accuracy[-1]
        self.writer.log(step, **fields)
        if self.clock() >= self.next_snapshot or self.trainer.end_of_epoch or result.finished:
            self.snapshot()

    def record_test_accuracy(self, step: int, accuracy: float) -> None:
        """For test accuracy measured elsewhere (the window measures it in the parent process)."""
        self.writer.log(step, test_accuracy=accuracy)

    def snapshot(self) -> None:
        self.writer.snapshot(self.step, self.trainer.model.state_dict())
        self.snapshot_step = self.step
        now = self.clock()
        self.next_snapshot = now + max(self.snapshot_every_s, (now - self.started) / SNAPSHOTS_PER_DOUBLING)

    def diverged(self, error: DivergedError) -> None:
        """Log the loss that blew up, keep only snapshots up to the restored step, save the restored
        weights, and close the run as diverged with the explanation."""
        self.writer.log(error.step, loss=error.loss)
        self.writer.discard_snapshots_after(error.restored_step)
        self.snapshot()
        self.writer.close(RunStatus.DIVERGED, str(error))

    def finish(self, status: RunStatus, message: str = "") -> None:
        """Snapshot the last step if it has none yet, and close the run with its status (as "stopped"
        if that snapshot fails). A closed run is left as it is."""
        if self.writer.closed:
            return
        try:
            if self.snapshot_step != self.step:
                self.snapshot()
        except BaseException as error:
            with contextlib.suppress(OSError):
                self.writer.close(RunStatus.STOPPED, f"stopped by an error: {type(error).__name__}: {error}")
            raise
        self.writer.close(status, message)


def probe_images(trainer: Trainer, count: int = PROBE_IMAGES) -> torch.Tensor:
    """A fixed batch (test images if there are any) for the dead-ReLU check, on the trainer's device."""
    dataset = trainer.test_set if trainer.test_set is not None else trainer.train_set
    return torch.from_numpy(np.array(dataset.images[:count], dtype=np.float32)).to(trainer.device)


def epoch_verdict(trainer: Trainer, probe: torch.Tensor) -> Verdict | None:
    """At an epoch end: failed to learn when a whole ReLU layer is dead (it cannot recover)."""
    dead = dead_relu_layers(trainer.model, probe)
    if not dead:
        return None
    return judge_learning(trainer.history.loss, _latest_accuracy(trainer), _classes(trainer), trainer.config.lr, dead)


def final_status(trainer: Trainer, probe: torch.Tensor) -> tuple[RunStatus, str]:
    """At the end: finished, or failed to learn with the likely cause."""
    verdict = judge_learning(
        trainer.history.loss, _latest_accuracy(trainer), _classes(trainer), trainer.config.lr,
        dead_relu_layers(trainer.model, probe),
    )
    return (verdict.status, verdict.message) if verdict else (RunStatus.FINISHED, "")


def train_and_record(
    trainer: Trainer,
    writer: RunWriter,
    *,
    max_steps: int | None = None,
    pace: float | None = None,
    on_step: Callable[[StepResult, RunRecorder], None] | None = None,
    snapshot_every_s: float = 1.0,
) -> RunOutcome:
    """Train to the end of the configured epochs (or ``max_steps``), writing the run as it goes.

    Divergence and failure to learn end the run with that status (never an exception); Ctrl+C or an
    error (an OSError when the run folder cannot be written, say) closes the run as "stopped" as far as
    it can and is raised again; the model keeps its weights for the caller to save elsewhere. Test accuracy is measured at every epoch end
    and at the last step.
    """
    recorder = RunRecorder(writer, trainer, snapshot_every_s)
    pacer = Pacer(pace)
    probe = probe_images(trainer)
    limit = trainer.total_steps if max_steps is None else min(trainer.total_steps, max_steps)
    recorder.snapshot()  # the starting weights
    try:
        status, message = RunStatus.FINISHED, ""
        while trainer.step_count < limit:
            pacer.wait()
            try:
                result = trainer.step()
            except DivergedError as error:
                recorder.diverged(error)
                return _outcome(writer, trainer, recorder, RunStatus.DIVERGED, str(error))
            last = trainer.step_count >= limit
            if last and trainer.test_set is not None and not trainer.end_of_epoch:
                trainer.record_test_accuracy()  # a run cut short by max_steps still gets a test accuracy
            recorder.record(result)
            if on_step is not None:
                on_step(result, recorder)
            if trainer.end_of_epoch and not last:
                verdict = epoch_verdict(trainer, probe)
                if verdict is not None:
                    status, message = verdict.status, verdict.message
                    break
        if status is RunStatus.FINISHED:
            status, message = final_status(trainer, probe)
        recorder.finish(status, message)
        return _outcome(writer, trainer, recorder, status, message)
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt):
            reason = "stopped by the user"
        else:
            reason = f"stopped by an error: {type(error).__name__}: {error}"
        with contextlib.suppress(OSError):  # a full disk may be why we are here: the first error is the one to see
            recorder.finish(RunStatus.STOPPED, reason)
        raise


def _outcome(writer: RunWriter, trainer: Trainer, recorder: RunRecorder, status: RunStatus, message: str) -> RunOutcome:
    history = trainer.history
    finite = [x for x in history.loss if math.isfinite(x)]
    return RunOutcome(
        folder=writer.folder,
        status=status,
        message=message,
        steps=recorder.step,
        final_loss=finite[-1] if finite else None,
        test_accuracy=history.test_accuracy[-1] if history.test_accuracy else None,
        best_test_accuracy=max(history.test_accuracy) if history.test_accuracy else None,
        seconds=time.perf_counter() - recorder.stopwatch.start,
        samples_per_s=recorder.stopwatch.rate(),
    )


def _latest_accuracy(trainer: Trainer) -> float:
    """The last test accuracy, or the mean training accuracy of the last epoch's worth of steps."""
    history = trainer.history
    if history.test_accuracy:
        return history.test_accuracy[-1]
    recent = history.accuracy[-trainer.batches_per_epoch :]
    return float(np.mean(recent)) if recent else 0.0


def _classes(trainer: Trainer) -> int:
    return len(trainer.train_set.classes)

