"""Training one batch at a time, so a caller can run, pause, single-step or stop at any batch boundary."""
from __future__ import annotations

import bisect
import math
import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from core.data import Dataset
from core.device import pick_device
from core.training_health import LossWatch, divergence_message
from core.weights import WeightsSnapshot


class DivergedError(RuntimeError):
    """The loss became NaN or exploded; the weights were put back to the last good step.

    ``step`` is the step that blew up, ``loss`` its loss, ``restored_step`` the step whose weights are back.
    """

    def __init__(self, message: str, step: int = 0, loss: float = math.nan, restored_step: int = 0) -> None:
        super().__init__(message)
        self.step = step
        self.loss = loss
        self.restored_step = restored_step


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = "sgd"
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 5
    seed: int = 0
    augment: bool = False
    schedule: str = "constant"

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"unknown optimizer '{self.optimizer}': choose 'sgd' or 'adam'")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"the learning rate must be a positive number, not {self.lr}")
        if self.batch_size < 1:
            raise ValueError(f"the batch size must be at least 1, not {self.batch_size}")
        if self.epochs < 1:
            raise ValueError(f"the number of epochs must be at least 1, not {self.epochs}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"unknown learning-rate schedule '{self.schedule}': choose 'constant' or 'cosine'")
        if self.weight_decay < 0:
            raise ValueError(f"weight decay cannot be negative ({self.weight_decay})")


@dataclass
class MetricsHistory:
    """Per-step loss and batch accuracy, test accuracy per epoch (or on demand), as plain lists."""

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    test_steps: list[int] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, list]:
        return {k: list(v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict) -> "MetricsHistory":
        return cls(**{k: [type_(x) for x in data.get(k, [])] for k, type_ in _HISTORY_TYPES.items()})

    def extend(self, other: "MetricsHistory") -> None:
        for key in _HISTORY_TYPES:
            getattr(self, key).extend(getattr(other, key))

    def thin(self, max_points: int) -> None:
        """Keep memory bounded on long runs: past ``max_points`` per-step entries, every other one of the
        older half is dropped (the newest half is untouched), so old stretches get coarser, never lost."""
        if len(self.steps) <= max_points:
            return
        half = len(self.steps) // 2
        for key in ("steps", "loss", "accuracy"):
            values = getattr(self, key)
            setattr(self, key, values[:half:2] + values[half:])

    def drop_after(self, step: int) -> None:
        """Forget per-step entries after ``step`` (the weights were put back to that step)."""
        keep = bisect.bisect_right(self.steps, step)
        for key in ("steps", "loss", "accuracy"):
            del getattr(self, key)[keep:]

    def copy(self) -> "MetricsHistory":
        return MetricsHistory.from_dict(self.to_dict())

    def since(self, step: int, drop_after: int | None = None) -> "HistoryDelta":
        """The per-step entries after ``step``, as a report to another copy of this history."""
        start = bisect.bisect_right(self.steps, step)
        return HistoryDelta(
            tuple(self.steps[start:]), tuple(self.loss[start:]), tuple(self.accuracy[start:]), drop_after
        )

    def apply(self, delta: "HistoryDelta") -> None:
        if delta.drop_after is not None:
            self.drop_after(delta.drop_after)
        self.steps.extend(delta.steps)
        self.loss.extend(delta.loss)
        self.accuracy.extend(delta.accuracy)


@dataclass(frozen=True)
class HistoryDelta:
    """What a history gained since the last report; ``drop_after``: the weights were put back to that
    step (e.g. after a divergence), so entries after it are gone."""

    steps: tuple[int, ...] = ()
    loss: tuple[float, ...] = ()
    accuracy: tuple[float, ...] = ()
    drop_after: int | None = None


_HISTORY_TYPES = {"steps": int, "loss": float, "accuracy": float, "test_steps": int, "test_accuracy": float}


@dataclass(frozen=True)
class StepResult:
    step: int
    epoch: int
    batch: int
    batches_per_epoch: int
    loss: float
    accuracy: float
    finished: bool
    samples: int  # examples in this batch (the last batch of an epoch may be short)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


def _shift_batch(images: torch.Tensor, generator: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random translations by up to ``max_shift`` pixels: cheap augmentation that helps small data sets."""
    n, _, h, w = images.shape
    pad = nn.functional.pad(images, (max_shift,) * 4, value=float(images.amin()))
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2,), generator=generator).tolist()
    return pad[:, :, dy : dy + h, dx : dx + w].contiguous()


class Trainer:
    """Owns the model, optimizer and history; every change to the weights happens inside ``step()``.

    The model moves to ``device`` (default: CUDA if there is one, else MPS, else the CPU); batches are
    copied there one at a time. A batch size above the training set's size is lowered to it, and
    ``notices`` says so in words for the caller to show.
    """

    def __init__(
        self,
        model: nn.Module,
        train: Dataset,
        test: Dataset | None,
        config: TrainConfig,
        test_each_epoch: bool = True,
        device: str | torch.device | None = None,
    ) -> None:
        if len(train) == 0:
            raise ValueError("the training set is empty")
        self.notices: list[str] = []
        if config.batch_size > len(train):
            self.notices.append(
                f"the batch size {config.batch_size} is larger than the {len(train)} training examples: "
                f"using batches of {len(train)}"
            )
            config = replace(config, batch_size=len(train))
        self.device = pick_device(device)
        self.model = model.to(self.device)
        self.train_set = train
        self.test_set = test
        self.test_each_epoch = test_each_epoch
        self.config = config
        self.history = MetricsHistory()
        self.optimizer = make_optimizer(model, config)
        self._images = torch.from_numpy(np.array(train.images, dtype=np.float32))
        self._labels = torch.from_numpy(np.array(train.labels, dtype=np.int64))
        self._generator = torch.Generator().manual_seed(config.seed)
        self._order = torch.randperm(len(train), generator=self._generator)
        self._lock = threading.Lock()
        self._loss_watch = LossWatch()
        self._last_good_loss: float | None = None
        self._last_good = self._copy_state()
        self.step_count = 0
        self.first_step = 0  # history numbers steps from here, so a resumed run continues its curves
        self.loss_fn = nn.CrossEntropyLoss()

    @property
    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.train_set) / self.config.batch_size)

    @property
    def total_steps(self) -> int:
        return self.batches_per_epoch * self.config.epochs

    @property
    def epoch(self) -> int:
        return self.step_count // self.batches_per_epoch

    @property
    def end_of_epoch(self) -> bool:
        return self.step_count > 0 and self.step_count % self.batches_per_epoch == 0

    @property
    def finished(self) -> bool:
        return self.step_count >= self.total_steps

    def set_lr(self, lr: float) -> None:
        self.config = replace(self.config, lr=lr)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def step(self) -> StepResult:
        """One batch: forward, backward, optimizer step. Raises DivergedError (weights restored) when the
        loss is NaN or infinite or explodes (see core.training_health.LossWatch)."""
        batch_index = self.step_count % self.batches_per_epoch
        if batch_index == 0 and self.step_count > 0:
            self._order = torch.randperm(len(self.train_set), generator=self._generator)
        start = batch_index * self.config.batch_size
        idx = self._order[start : start + self.config.batch_size]
        images = self._images[idx].to(self.device, non_blocking=True)
        labels = self._labels[idx].to(self.device, non_blocking=True)
        if self.config.augment:
            images = _shift_batch(images, self._generator)
        if self.config.schedule == "cosine":
            self._apply_cosine_lr()
        self.model.train()
        with self._lock:
            self.optimizer.zero_grad(set_to_none=True)
            logits = self.model(images)
            loss = self.loss_fn(logits, labels)
            loss_value = float(loss.detach())
            if self._loss_watch.diverged(loss_value):
                raise self._diverged(loss_value, self.step_count + 1)
            loss.backward()
            self.optimizer.step()
            self.step_count += 1
            if self.step_count % 20 == 0 or self.step_count == self.total_steps:
                # Checked only here (20 syncs cost ~3% a step): a bad step shows in the next loss anyway.
                if not self._weights_finite():
                    raise self._diverged(math.nan, self.step_count, weights=True)
                if self._loss_watch.trustworthy(loss_value):
                    self._last_good = self._copy_state()
                    self._last_good_loss = loss_value
        accuracy = float((logits.argmax(1) == labels).float().mean())
        samples = len(idx)
        self.history.steps.append(self.first_step + self.step_count)
        self.history.loss.append(loss_value)
        self.history.accuracy.append(accuracy)
        if self.end_of_epoch and self.test_each_epoch and self.test_set is not None:
            self.record_test_accuracy()
        return StepResult(
            step=self.step_count,
            epoch=self.epoch,
            batch=batch_index + 1,
            batches_per_epoch=self.batches_per_epoch,
            loss=loss_value,
            accuracy=accuracy,
            finished=self.finished,
            samples=samples,
        )

    def _apply_cosine_lr(self) -> None:
        """Anneal from the configured rate to zero over the run, which settles the final weights."""
        lr = 0.5 * self.config.lr * (1 + math.cos(math.pi * self.step_count / self.total_steps))
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _diverged(self, loss: float, step: int, weights: bool = False) -> DivergedError:
        """Put the last good weights back and describe what happened."""
        restored = self.first_step + self._last_good_step
        if weights:
            message = (
                f"training diverged: the weights became NaN or infinite by step {self.first_step + step}: the "
                f"learning rate {self.config.lr:g} is too high; the last good weights from step {restored} are back"
            )
        else:
            loss_from = self._last_good_loss if self._last_good_loss is not None else self._loss_watch.reference
            message = divergence_message(
                math.nan if loss_from is None else loss_from, loss, step - self._last_good_step, self.config.lr, restored
            )
        self._restore_last_good()
        return DivergedError(message, step=self.first_step + step, loss=loss, restored_step=restored)

    def _weights_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.model.parameters())

    def _copy_state(self) -> dict:
        self._last_good_step = getattr(self, "step_count", 0)
        return {
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "optimizer": _clone_tree(self.optimizer.state_dict()),
        }

    def _restore_last_good(self) -> None:
        self.model.load_state_dict(self._last_good["model"])
        self.optimizer.load_state_dict(_clone_tree(self._last_good["optimizer"]))
        self.step_count = self._last_good_step
        self.history.drop_after(self.first_step + self.step_count)
        self._loss_watch.steps_over = 0

    def evaluate(self, dataset: Dataset | None = None, batch_size: int = 500) -> tuple[float, np.ndarray]:
        """Accuracy and predicted labels on a data set (the test set by default), in eval mode."""
        dataset = dataset or self.test_set
        if dataset is None:
            raise ValueError("there is no test set to evaluate on")
        return evaluate(self.model, dataset, batch_size)

    def record_test_accuracy(self) -> float:
        accuracy, _ = self.evaluate()
        self.history.test_steps.append(self.first_step + self.step_count)
        self.history.test_accuracy.append(accuracy)
        return accuracy

    def snapshot(self, session: int = 0) -> WeightsSnapshot:
        """A consistent, detached copy taken between two optimizer steps; safe to call from another
        thread: it waits for the current step to finish."""
        with self._lock:
            state = {k: v.detach().cpu().numpy().copy() for k, v in self.model.state_dict().items()}
            return WeightsSnapshot(self.first_step + self.step_count, state, session)


def evaluate(model: nn.Module, dataset: Dataset, batch_size: int = 500) -> tuple[float, np.ndarray]:
    was_training = model.training
    device = next(model.parameters(), torch.empty(0)).device
    model.eval()
    predictions = []
    try:
        with torch.no_grad():
            for start in range(0, len(dataset), batch_size):
                batch = torch.from_numpy(np.array(dataset.images[start : start + batch_size], dtype=np.float32))
                predictions.append(model(batch.to(device)).argmax(1).cpu().numpy())
    finally:
        model.train(was_training)
    predicted = np.concatenate(predictions) if predictions else np.zeros(0, dtype=np.int64)
    accuracy = float((predicted == dataset.labels).mean()) if len(predicted) else 0.0
    return accuracy, predicted


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predicted)), 1)
    return matrix


def _clone_tree(value):
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _clone_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone_tree(v) for v in value]
    return value


class Stopwatch:
    """Samples per second and time left, smoothed over the run so far."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.samples = 0

    def add(self, samples: int) -> None:
        self.samples += samples

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.samples / elapsed if elapsed > 0 else 0.0

    def eta(self, samples_left: int) -> float:
        rate = self.rate()
        return samples_left / rate if rate > 0 else float("inf")
