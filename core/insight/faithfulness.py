"""Does a heatmap point at what the network uses? Mask its top pixels and see the class probability fall.

Masking a pixel sets it, in every channel, to the baseline: the normalised value of a black pixel,
which is the background of an MNIST digit (pass `black_baseline(normalization)`; by default each
channel's darkest value in the input). A faithful map loses more probability when its top pixels
are masked than when as many random pixels are.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.insight.model_input import (
    InsightError,
    baseline_image,
    checked_class,
    eval_mode,
    input_array,
    logits_of,
    model_device,
)


@dataclass(frozen=True)
class Faithfulness:
    """Probability of the explained class before and after masking `pixels` pixels (a `fraction`
    of the input) chosen by the attribution (`top`) or at random."""

    prob_original: float
    prob_top_masked: float
    prob_random_masked: float
    fraction: float
    pixels: int

    @property
    def top_drop(self) -> float:
        return self.prob_original - self.prob_top_masked

    @property
    def random_drop(self) -> float:
        return self.prob_original - self.prob_random_masked


def faithfulness(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    attribution: np.ndarray,
    target: int,
    fraction: float = 0.1,
    seed: int = 0,
    *,
    baseline: float | np.ndarray | None = None,
) -> Faithfulness:
    """Class-`target` probability of `x`, of `x` with the `fraction` highest-attributed pixels masked,
    and of `x` with as many random pixels masked (drawn with `seed`); one batched forward.

    "Highest" is by value: for a signed map the strongest evidence *for* the class, for an
    unsigned map the largest magnitude.
    """
    array = input_array(x)
    height, width = array.shape[1:]
    scores = np.asarray(attribution, dtype=np.float64)
    if scores.shape != (height, width):
        raise InsightError(f"the attribution must be ({height}, {width}) like the input, got {scores.shape}")
    if not np.isfinite(scores).all():
        raise InsightError("the attribution holds NaN or infinite values")
    if not 0 < fraction <= 1:
        raise InsightError(f"the fraction of pixels to mask must be in (0, 1], got {fraction}")
    count = max(1, round(fraction * height * width))
    top = np.argsort(-scores.reshape(-1), kind="stable")[:count]
    random = np.random.default_rng(seed).choice(height * width, size=count, replace=False)
    background = baseline_image(array, baseline).reshape(array.shape[0], -1)
    batch = np.repeat(array.reshape(1, array.shape[0], -1), 3, axis=0)
    batch[1][:, top] = background[:, top]
    batch[2][:, random] = background[:, random]
    tensor = torch.from_numpy(batch.reshape(3, *array.shape)).to(model_device(model))
    with eval_mode(model), torch.no_grad():
        probabilities = torch.softmax(logits_of(model, tensor).float(), dim=1).cpu().numpy()
    target = checked_class(target, probabilities.shape[1])
    original, top_masked, random_masked = (float(p) for p in probabilities[:, target])
    return Faithfulness(original, top_masked, random_masked, float(fraction), count)
