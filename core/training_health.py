"""Is training going anywhere? Divergence (NaN or an exploding loss) and failure to learn, in words.

Two ways a run goes wrong without an exception:
- the loss explodes (or becomes NaN): caught at once by the trainer, which puts the last good weights
  back; ``divergence_message`` explains it with the numbers and the likely cause.
- the loss stays finite but nothing is learnt: accuracy at chance while the loss does not fall, often
  because a too-large step killed every ReLU of a layer. ``judge_learning`` reports it with the cause,
  so such a model is never saved as if it had trained.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from core.run_status import RunStatus

EXPLOSION_FACTOR = 1e3  # a loss this many times its first value (at least 1) is an explosion ...
EXPLOSION_STEPS = 3  # ... when it stays there this many steps in a row (one wild batch is not)
SUSPICIOUS_FACTOR = 30.0  # weights are not kept as "last good" while the loss is this far up
FLAT_LOSS_RATIO = 0.97  # the loss "did not fall" if the recent mean is above this share of the early one


@dataclass(frozen=True)
class Verdict:
    """A run that is not fine: its status and a sentence for the user (run.json, CLI, window)."""

    status: RunStatus
    message: str


def explosion_limit(reference_loss: float) -> float:
    """The loss above which training counts as diverged, from the run's first loss."""
    return EXPLOSION_FACTOR * max(reference_loss, 1.0)


def suspicious(loss: float, reference_loss: float) -> bool:
    """Too far up to trust the weights as a point to come back to, though not yet an explosion."""
    return not math.isfinite(loss) or loss > SUSPICIOUS_FACTOR * max(reference_loss, 1.0)


class LossWatch:
    """Watches the loss step by step for divergence, against the first finite loss it saw.

    NaN or infinity is a divergence at once. A loss above ``explosion_limit`` must stay there for
    ``EXPLOSION_STEPS`` steps: with tiny batches one confidently wrong example can cost a loss of
    thousands in an otherwise healthy run; a real explosion keeps growing (or turns NaN).
    """

    def __init__(self) -> None:
        self.reference: float | None = None
        self.steps_over = 0

    def diverged(self, loss: float) -> bool:
        if not math.isfinite(loss):
            return True
        if self.reference is None:
            self.reference = loss
        self.steps_over = self.steps_over + 1 if loss > explosion_limit(self.reference) else 0
        return self.steps_over >= EXPLOSION_STEPS

    def trustworthy(self, loss: float) -> bool:
        """Whether weights that give this loss may serve as the point to come back to."""
        return self.reference is not None and not suspicious(loss, self.reference)


def divergence_message(loss_from: float, loss_to: float, steps: int, lr: float, restored_step: int) -> str:
    """E.g. 'training diverged: the loss went from 2.3 to 5e+22 in 12 steps: the learning rate 10 is too
    high; the last good weights from step 40 are back'."""
    went = "became NaN" if math.isnan(loss_to) else f"went from {loss_from:.2g} to {loss_to:.2g}"
    if math.isinf(loss_to):
        went = f"went from {loss_from:.2g} to infinity"
    return (
        f"training diverged: the loss {went} in {steps} step{'s' * (steps != 1)}: the learning rate {lr:g} "
        f"is too high; the last good weights from step {restored_step} are back"
    )


def chance_accuracy(num_classes: int) -> float:
    return 1.0 / max(num_classes, 1)


def at_chance(accuracy: float, num_classes: int) -> bool:
    """Within a small margin of guessing: 15% for 10 classes, 55% for 2."""
    chance = chance_accuracy(num_classes)
    return accuracy <= min(1.5 * chance, chance + 0.05)


def dead_relu_layers(model: nn.Module, images: torch.Tensor) -> list[str]:
    """Names of the ReLU layers whose every unit outputs 0 for every one of ``images``.

    Such a layer passes no signal and no gradient: nothing before it can learn, and the network's
    answer no longer depends on its input.
    """
    outputs: dict[str, bool] = {}

    def hook(name: str):
        def record(module, inputs, output) -> None:
            outputs[name] = outputs.get(name, False) or bool((output > 0).any())

        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, nn.ReLU)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(images)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return [name for name, alive in outputs.items() if not alive]


def judge_learning(
    losses: Sequence[float],
    accuracy: float,
    num_classes: int,
    lr: float,
    dead_layers: Sequence[str] = (),
) -> Verdict | None:
    """A failed-to-learn verdict, or None if the run learnt something (or may still be learning).

    ``losses`` are the per-step training losses so far, ``accuracy`` the latest test accuracy (or the
    recent training accuracy when there is no test set). A dead ReLU layer alone is enough: it cannot
    recover. Otherwise the accuracy must be at chance while the loss has not fallen.
    """
    if dead_layers:
        layers = ", ".join(dead_layers[:3])
        return Verdict(
            RunStatus.FAILED_TO_LEARN,
            f"training failed to learn: every ReLU in {layers} outputs 0 for every input, so the network "
            f"answers the same whatever it sees (accuracy {accuracy:.0%}, chance is "
            f"{chance_accuracy(num_classes):.0%}); the learning rate {lr:g} is likely too high",
        )
    finite = np.asarray([x for x in losses if math.isfinite(x)], dtype=float)
    if len(finite) < 8 or not at_chance(accuracy, num_classes):
        return None
    window = max(len(finite) // 4, 2)
    early, recent = float(finite[:window].mean()), float(finite[-window:].mean())
    if recent < FLAT_LOSS_RATIO * early:
        return None
    if recent > early:
        cause = f"the loss rose from {early:.3g} to {recent:.3g}: the learning rate {lr:g} is likely too high"
    else:
        cause = (
            f"the loss stayed at {recent:.3g}: the learning rate {lr:g} may be too small to learn in this "
            "many steps, or too large"
        )
    return Verdict(
        RunStatus.FAILED_TO_LEARN,
        f"training failed to learn: accuracy {accuracy:.0%} is at chance ({chance_accuracy(num_classes):.0%}); {cause}",
    )
