"""Where a layer puts each test sample: its activations over a dataset projected to 2-D.

PCA (scikit-learn, randomized SVD) answers at once; t-SNE (scikit-learn) shows clusters better but
takes seconds. Points keep their sample index, true and predicted label, so a view can colour them,
mark the misclassified, and link a point back to its input.

Cancelling and progress: `progress(fraction, stage)` is called as the activations are computed and
before each projection step; `should_stop()` is checked between those steps, and when it returns
True `embed` raises EmbeddingCancelled. scikit-learn's TSNE has no callback, so its optimisation
(about 4 s for 1,000 samples on one core, see benchmarks/insight_cost.py) runs to its end once
started: a GUI that cancels then simply drops the result when it arrives.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.data import Dataset
from core.insight.model_input import (
    InsightError,
    eval_mode,
    images_per_batch,
    layer_named,
    logits_of,
    model_device,
)

METHODS = ("pca", "tsne")
MAX_FEATURES = 8192
"""Values per sample projected; a layer with larger maps is average-pooled spatially to fit (LeNet's
largest layer, conv1, holds 4,608), which keeps PCA within tens of milliseconds for 1,000 samples."""
MAX_VALUES = 16_000_000
"""Values over all samples (64 MB): more samples means coarser pooling of large maps."""
TSNE_INPUT_DIMS = 50
"""t-SNE runs on the first 50 principal components, as its authors recommend: faster, less noise."""
TSNE_ITERATIONS = 500
"""Half scikit-learn's default; the map of 1,000 test digits has settled by then."""
MAX_BATCH = 256

Progress = Callable[[float, str], None]


class EmbeddingCancelled(Exception):
    """should_stop() returned True; nothing was projected."""


@dataclass(frozen=True)
class Embedding:
    """One 2-D point per sample, with what a view needs to colour, mark and link it.

    `indices` are the samples' positions in the dataset; `explained_variance` is the fraction of the
    features' variance along each PCA axis (None for t-SNE); `features` the values per sample that
    were projected, `pooled_from` the layer's output shape when it had to be pooled to that size.
    """

    points: np.ndarray
    labels: np.ndarray
    predicted: np.ndarray
    indices: np.ndarray
    layer: str
    method: str
    explained_variance: tuple[float, float] | None
    features: int
    pooled_from: tuple[int, ...] | None = None

    @property
    def misclassified(self) -> np.ndarray:
        return self.labels != self.predicted

    def in_cell(self, true_label: int, predicted_label: int) -> np.ndarray:
        """Which points belong to one confusion-matrix cell (row = true, column = predicted)."""
        return (self.labels == true_label) & (self.predicted == predicted_label)


def embed(
    model: nn.Module,
    dataset: Dataset,
    layer: str,
    method: str = "pca",
    *,
    limit: int | None = None,
    seed: int = 0,
    reference: Embedding | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Embedding:
    """The `layer` activations of the dataset's first `limit` samples (all by default), in 2-D.

    With `reference` (an earlier embedding of the same samples, e.g. from previous weights) the
    new one is made to move as little as possible: PCA axes take the reference's orientation,
    t-SNE starts from the reference's points.
    """
    if method not in METHODS:
        raise InsightError(f"unknown embedding method {method!r}: use one of {', '.join(METHODS)}")
    count = len(dataset) if limit is None else min(int(limit), len(dataset))
    if count < 3:
        raise InsightError(f"an embedding needs at least 3 samples, got {count}")
    if reference is not None and len(reference.points) != count:
        raise InsightError(f"the reference embedding has {len(reference.points)} points, not {count}")
    report = progress or (lambda _fraction, _stage: None)
    stop = should_stop or (lambda: False)
    share = 0.9 if method == "pca" else 0.3
    features, predicted, pooled_from = layer_features(
        model,
        dataset.images[:count],
        layer,
        progress=lambda done: report(share * done, "activations"),
        should_stop=stop,
    )
    if features.shape[1] < 2:
        raise InsightError(f"{layer} has {features.shape[1]} value per sample; a 2-D embedding needs at least 2")
    _stop_if(stop)
    report(share, "PCA" if method == "pca" else "t-SNE")
    if method == "pca":
        points, explained = _pca(features, reference, seed)
    else:
        points, explained = _tsne(features, reference, seed), None
    report(1.0, "done")
    return Embedding(
        points=points.astype(np.float32),
        labels=np.asarray(dataset.labels[:count], dtype=np.int64).copy(),
        predicted=predicted,
        indices=np.arange(count),
        layer=layer,
        method=method,
        explained_variance=explained,
        features=features.shape[1],
        pooled_from=pooled_from,
    )


def layer_features(
    model: nn.Module,
    images: np.ndarray,
    layer: str,
    *,
    max_features: int | None = None,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...] | None]:
    """(N, D) float32 activations of `layer`, the predicted classes, and the layer's output shape
    when its maps were average-pooled to keep D within `max_features` (by default MAX_FEATURES,
    less when N * D would exceed MAX_VALUES)."""
    module = layer_named(model, layer)
    limit = max_features or max(1, min(MAX_FEATURES, MAX_VALUES // len(images)))
    per_batch = images_per_batch(int(np.prod(images.shape[1:])), MAX_BATCH)
    device = model_device(model)
    captured: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _m, _i, output: captured.append(output))
    chunks, predictions, shape = [], [], None
    try:
        with eval_mode(model), torch.no_grad():
            for start in range(0, len(images), per_batch):
                _stop_if(should_stop)
                captured.clear()
                batch = torch.from_numpy(np.array(images[start : start + per_batch], dtype=np.float32))
                predictions.append(logits_of(model, batch.to(device)).argmax(dim=1).cpu())
                if not captured or not isinstance(captured[0], torch.Tensor):
                    raise InsightError(f"{layer} gives no tensor output to embed")
                shape = tuple(captured[0].shape[1:])
                chunks.append(features_within(captured[0].float(), limit).cpu())
                if progress:
                    progress(min(1.0, (start + per_batch) / len(images)))
    finally:
        handle.remove()
    features = torch.cat(chunks).numpy()
    pooled = shape if features.shape[1] != math.prod(shape) else None
    return features, torch.cat(predictions).numpy().astype(np.int64), pooled


def features_within(output: torch.Tensor, limit: int) -> torch.Tensor:
    """(N, ...) activations flattened to (N, D), (N, C, H, W) maps average-pooled so D <= limit
    (down to one value per channel)."""
    values = math.prod(output.shape[1:])
    if values <= limit or output.dim() != 4:
        return output.reshape(len(output), -1)
    channels, height, width = output.shape[1:]
    factor = math.sqrt(values / limit)
    size = (max(1, math.floor(height / factor)), max(1, math.floor(width / factor)))
    while channels * size[0] * size[1] > limit and max(size) > 1:
        size = (max(1, size[0] - 1), max(1, size[1] - 1))
    return F.adaptive_avg_pool2d(output, size).reshape(len(output), -1)


def _pca(features: np.ndarray, reference: Embedding | None, seed: int) -> tuple[np.ndarray, tuple[float, float]]:
    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        pca = PCA(n_components=2, svd_solver="randomized", random_state=seed)
        points = pca.fit_transform(features)
    if reference is not None:
        signs = np.sign(np.sum(points * reference.points, axis=0))
        points = points * np.where(signs == 0, 1.0, signs)
    explained = np.nan_to_num(pca.explained_variance_ratio_)  # 0/0 when every sample gives the same values
    return points, (float(explained[0]), float(explained[1]))


def _tsne(features: np.ndarray, reference: Embedding | None, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    count = len(features)
    with threadpool_limits(limits=1):
        dims = min(TSNE_INPUT_DIMS, count - 1, features.shape[1])
        reduced = PCA(n_components=dims, svd_solver="randomized", random_state=seed).fit_transform(features)
        if reference is None:
            start = "pca"
        else:  # scikit-learn's own PCA start is scaled to a standard deviation of 1e-4
            start = (reference.points - reference.points.mean(axis=0)).astype(np.float64)
            start *= 1e-4 / max(float(start[:, 0].std()), 1e-12)
        tsne = TSNE(
            n_components=2,
            perplexity=min(30.0, (count - 1) / 3),
            init=start,
            max_iter=TSNE_ITERATIONS,
            random_state=seed,
            n_jobs=1,
        )
        return tsne.fit_transform(reduced)


def _stop_if(should_stop: Callable[[], bool] | None) -> None:
    if should_stop is not None and should_stop():
        raise EmbeddingCancelled("embedding cancelled")
