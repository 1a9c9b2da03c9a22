"""Is this input like anything the network was trained on? A hint shown beside the prediction.

Measure: the cosine distance between the input's features and those of its 5th nearest training
sample (deep nearest neighbours, Sun et al., ICML 2022), taken where the classifier reads them:
the input of the first fully connected layer (LeNet's flattened conv2 maps). Threshold: the 99th
percentile of that distance over the test split, so about 1 test sample in 100 is flagged.

Why not the distance to the nearest class mean of the penultimate layer: on the bundled LeNet it
flags 0% of uniform-noise images and of inverted digits (their penultimate features shrink
towards the class means' common origin), where nearest neighbours of the conv features flag
100% of both, and half of random pen scribbles, at the same 1% of test digits. The max softmax
probability is no better: a scribble typically reads 80%.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.data import Dataset
from core.insight.embedding import features_within, layer_features
from core.insight.model_input import InsightError, eval_mode, input_batch, layer_named, model_device
from core.inspect import leaf_layers

NEIGHBOURS = 5
QUANTILE = 0.99
MAX_SAMPLES = 5000
"""Training samples kept as the reference, and test samples used to calibrate (random subsets)."""
MAX_VALUES = 16_000_000
"""Feature values kept over all reference samples (64 MB); large conv maps are average-pooled."""


@dataclass(frozen=True)
class OodVerdict:
    """What to show beside the prediction: the verdict, its number, and how it was decided."""

    out_of_domain: bool
    score: float
    threshold: float
    measure: str
    calibration: str
    explanation: str


@dataclass(frozen=True, eq=False)
class OodDetector:
    """Calibrated once per set of weights (see `calibrate`), then cheap per input: one forward and a
    product with the reference features. Immutable, so a worker may build it for the GUI thread."""

    layer: str
    reference: np.ndarray
    threshold: float
    quantile: float
    neighbours: int
    feature_limit: int
    test_samples: int
    calibration_seconds: float

    @classmethod
    def calibrate(
        cls,
        model: nn.Module,
        train: Dataset,
        test: Dataset,
        layer: str | None = None,
        quantile: float = QUANTILE,
        neighbours: int = NEIGHBOURS,
        seed: int = 0,
    ) -> OodDetector:
        """Reference features from `train`, threshold from `test`; `layer` defaults to the input of
        the first fully connected layer (`classifier_input_layer`)."""
        started = time.perf_counter()
        if isinstance(neighbours, bool) or not isinstance(neighbours, int) or neighbours < 1:
            raise InsightError(f"the number of neighbours must be a whole number of at least 1, got {neighbours!r}")
        if not 0 < quantile < 1:
            raise InsightError(f"the quantile must be between 0 and 1, got {quantile}")
        if len(train) <= neighbours or len(test) < 2:
            raise InsightError(
                f"calibration needs more than {neighbours} training and 2 test samples, "
                f"got {len(train)} and {len(test)}"
            )
        if train.input_shape != test.input_shape:
            raise InsightError(f"train and test inputs differ: {train.input_shape} vs {test.input_shape}")
        chosen = classifier_input_layer(model, train.input_shape) if layer is None else layer
        rng = np.random.default_rng(seed)
        train_images = _sample(train.images, rng)
        limit = max(1, MAX_VALUES // len(train_images))
        reference = _unit_rows(layer_features(model, train_images, chosen, max_features=limit)[0])
        test_features = _unit_rows(layer_features(model, _sample(test.images, rng), chosen, max_features=limit)[0])
        threshold = float(np.quantile(_neighbour_distance(test_features, reference, neighbours), quantile))
        return cls(
            chosen, reference, threshold, float(quantile), int(neighbours), limit, len(test_features),
            time.perf_counter() - started,
        )

    @property
    def measure(self) -> str:
        return f"cosine distance to the {_ordinal(self.neighbours)} nearest training sample at {self.layer!r}"

    @property
    def calibration(self) -> str:
        return (
            f"threshold {self.threshold:.3f} = the {self.quantile:.0%} percentile over {self.test_samples:,} "
            f"test samples; {len(self.reference):,} training samples as reference"
        )

    def scores(self, features: np.ndarray) -> np.ndarray:
        """The distance of each row of (N, D) unit-length features to its k-th nearest reference row."""
        return _neighbour_distance(features, self.reference, self.neighbours)

    def check(self, model: nn.Module, x: np.ndarray | torch.Tensor) -> OodVerdict:
        """The verdict for one (C, H, W) input, from one forward of the model."""
        module = layer_named(model, self.layer)
        captured: list[torch.Tensor] = []
        handle = module.register_forward_hook(lambda _m, _i, output: captured.append(output))
        try:
            with eval_mode(model), torch.no_grad():
                model(input_batch(model, x))
        finally:
            handle.remove()
        return self.verdict(captured[0][0])

    def verdict(self, activation: np.ndarray | torch.Tensor) -> OodVerdict:
        """The verdict from the activation of `self.layer` for one input (e.g. an Inspection's), no forward."""
        tensor = torch.as_tensor(np.asarray(activation, dtype=np.float32)).unsqueeze(0)
        features = _unit_rows(features_within(tensor, self.feature_limit).numpy())
        if features.shape[1] != self.reference.shape[1]:
            raise InsightError(
                f"the activation of {self.layer!r} has {features.shape[1]} values, the calibration "
                f"{self.reference.shape[1]}: recalibrate for this model"
            )
        score = float(self.scores(features)[0])
        far = score > self.threshold
        if far:
            explanation = (
                f"Unlike the training data: distance {score:.3f} to its {_ordinal(self.neighbours)} nearest "
                f"training sample, more than {self.quantile:.0%} of test samples ({self.threshold:.3f})"
            )
        else:
            explanation = (
                f"Like the training data: distance {score:.3f} to its {_ordinal(self.neighbours)} nearest "
                f"training sample, within the {self.quantile:.0%} of test samples ({self.threshold:.3f})"
            )
        return OodVerdict(far, score, self.threshold, self.measure, self.calibration, explanation)


def classifier_input_layer(model: nn.Module, input_shape: tuple[int, int, int]) -> str:
    """The leaf layer whose output the first fully connected layer reads (the last one called
    before it); for a model without one, the layer before the last."""
    names = {module: name for name, module in leaf_layers(model)}
    called: list[tuple[str, nn.Module]] = []
    handles = [
        module.register_forward_hook(lambda m, _i, _o: called.append((names[m], m))) for module in names
    ]
    try:
        with eval_mode(model), torch.no_grad():
            model(torch.zeros((1, *input_shape), device=model_device(model)))
    except (RuntimeError, ValueError, TypeError) as error:
        raise InsightError(f"the model cannot run on a {input_shape} input: {error}") from None
    finally:
        for handle in handles:
            handle.remove()
    for position, (_name, module) in enumerate(called):
        if isinstance(module, nn.Linear):
            if position == 0:
                raise InsightError("the model starts with a fully connected layer; name the feature layer")
            return called[position - 1][0]
    if len(called) < 2:
        raise InsightError("the model has fewer than two layers; name the feature layer")
    return called[-2][0]


def _neighbour_distance(features: np.ndarray, reference: np.ndarray, neighbours: int) -> np.ndarray:
    """1 - cosine similarity to the k-th most similar reference row (all rows unit length)."""
    # torch, not numpy: OpenBLAS's threads fight torch's for the cores (14 ms instead of 2 ms per check)
    features = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    similarity = features @ torch.from_numpy(reference).T
    return (1.0 - similarity.topk(neighbours, dim=1).values[:, -1]).numpy()


def _sample(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if len(images) <= MAX_SAMPLES:
        return images
    return images[np.sort(rng.choice(len(images), MAX_SAMPLES, replace=False))]


def _unit_rows(features: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return (features / np.maximum(norms, 1e-12)).astype(np.float32)


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"
