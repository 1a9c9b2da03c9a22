"""Which images excite a channel most: the dataset's top-k per channel, at each image's strongest unit.

One batched, gradient-free, eval-mode pass over the dataset serves every requested layer, keeping
only a running top-k per channel (no activation map outlives its batch), so the window can refresh
all conv layers at each epoch end. Like core.inspect, a leaf called several times in one forward
counts at its last call. Hooks sit on the model while it runs: use a model no other thread runs
meanwhile (the window's scratch copy for test accuracy is one).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from core.data import Dataset
from core.insight.model_input import InsightError, eval_mode, input_kind, layer_named
from core.receptive_field import ReceptiveField, first_tensor, unit_box

DEFAULT_K = 9
BATCH_SIZE = 250


class TopExample(NamedTuple):
    """Image `index` of the dataset, its strongest unit (row, col) in the channel and that unit's value."""

    index: int
    row: int
    col: int
    value: float


class _RunningTop:
    """Per channel, the k best (value, index, position) so far, ties going to the lower index."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.values: np.ndarray | None = None  # (channels, kept)
        self.indices: np.ndarray | None = None
        self.positions: np.ndarray | None = None

    def add(self, values: np.ndarray, positions: np.ndarray, first_index: int) -> None:
        """Candidates of one batch, (batch, channels) each; batches must come in dataset order."""
        values, positions = values.T, positions.T
        indices = np.broadcast_to(np.arange(first_index, first_index + values.shape[1]), values.shape)
        if self.values is not None:
            values = np.concatenate([self.values, values], axis=1)
            indices = np.concatenate([self.indices, indices], axis=1)
            positions = np.concatenate([self.positions, positions], axis=1)
        # Stable sort: earlier candidates (lower indices, already ordered) win ties. NaN sorts last.
        order = np.argsort(-values, axis=1, kind="stable")[:, : self.k]
        self.values = np.take_along_axis(values, order, axis=1)
        self.indices = np.take_along_axis(indices, order, axis=1)
        self.positions = np.take_along_axis(positions, order, axis=1)

    def result(self, width: int) -> list[list[TopExample]]:
        if self.values is None:
            return []
        return [
            [
                TopExample(int(index), int(position) // width, int(position) % width, float(value))
                for value, index, position in zip(values, indices, positions)
            ]
            for values, indices, positions in zip(self.values, self.indices, self.positions)
        ]


def top_examples(
    model: nn.Module,
    dataset: Dataset | np.ndarray,
    layer: str,
    k: int = DEFAULT_K,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> list[list[TopExample]]:
    """For each channel (or unit of a flat layer) of `layer`, the k images whose strongest unit is
    highest, best first, each as (index, row, col, value); flat layers give row = col = 0."""
    return top_examples_all(model, dataset, [layer], k, batch_size=batch_size, progress=progress)[layer]


def top_examples_all(
    model: nn.Module,
    dataset: Dataset | np.ndarray,
    layers: Sequence[str],
    k: int = DEFAULT_K,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, list[list[TopExample]]]:
    """`top_examples` for several layers from one pass over the dataset. `progress(done, total)` is
    called after each batch with the images seen so far; an exception it raises (a worker's way to
    cancel) stops the pass and leaves the model's hooks and mode as they were."""
    images = dataset.images if isinstance(dataset, Dataset) else np.asarray(dataset)
    if images.ndim != 4 or len(images) == 0:
        raise InsightError(f"top examples need a non-empty (N, C, H, W) set of images, got shape {images.shape}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InsightError(f"batch_size must be a whole number of at least 1, got {batch_size!r}")
    dtype, device = input_kind(model)
    try:
        with TopExampleRecorder(model, layers, k) as recorder, torch.no_grad(), eval_mode(model):
            for start in range(0, len(images), batch_size):
                chunk = np.array(images[start : start + batch_size], dtype=np.float32)  # a writable copy
                model(torch.from_numpy(chunk).to(dtype=dtype, device=device))
                if progress is not None:
                    progress(start + len(chunk), len(images))
    except (RuntimeError, TypeError) as error:
        raise InsightError(f"the model cannot run on the {'x'.join(map(str, images.shape[1:]))} images: {error}") from error
    return recorder.result()


class TopExampleRecorder:
    """Collects top examples from forward passes someone else runs, e.g. the window's test pass:

        with TopExampleRecorder(model, ["conv1", "conv2"]) as recorder:
            accuracy, _ = evaluate(model, test_set)
        tops = recorder.result()

    The forwards must go through the dataset in order, each batch following the last (indices
    count the images seen); hooks stay on `model` only inside the `with`.
    """

    def __init__(self, model: nn.Module, layers: Sequence[str], k: int = DEFAULT_K) -> None:
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise InsightError(f"k must be a whole number of at least 1, got {k!r}")
        self.names = list(dict.fromkeys(layers))
        self.modules = {name: layer_named(model, name) for name in self.names}
        self.model = model
        self.tops = {name: _RunningTop(int(k)) for name in self.names}
        self.widths: dict[str, int] = {}
        self.seen = 0
        self._batch: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> "TopExampleRecorder":
        self._handles = [self.modules[name].register_forward_hook(self._recorder(name)) for name in self.names]
        self._handles.append(self.model.register_forward_hook(self._end_of_forward))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def result(self) -> dict[str, list[list[TopExample]]]:
        """Per layer, per channel, the best k so far, best first."""
        return {name: self.tops[name].result(self.widths.get(name, 1)) for name in self.names}

    def _recorder(self, name: str):
        def record(_module: nn.Module, _inputs: tuple, output: object) -> None:
            result = first_tensor(output)
            if result is None or result.dim() not in (2, 4):
                shape = tuple(result.shape) if result is not None else None
                raise InsightError(f"{name}: top examples need feature maps or flat units, got an output shaped {shape}")
            self.widths[name] = result.shape[-1] if result.dim() == 4 else 1
            # numpy's argmax is an order of magnitude faster than torch.max(dim) on CPU, and both
            # pick the first of equal maxima. A later call of the same leaf replaces an earlier one.
            maps = result.detach().to(device="cpu", dtype=torch.float32).numpy().reshape(result.shape[0], result.shape[1], -1)
            positions = maps.argmax(axis=2)
            self._batch[name] = (np.take_along_axis(maps, positions[..., None], axis=2)[..., 0], positions)

        return record

    def _end_of_forward(self, _module: nn.Module, inputs: tuple, _output: object) -> None:
        source = first_tensor(inputs)
        size = int(source.shape[0]) if source is not None else 0
        for name in self.names:
            if name not in self._batch:
                raise InsightError(f"layer {name!r} did not run in the model's forward pass")
            values, positions = self._batch[name]
            self.tops[name].add(values, positions, self.seen)
        self._batch.clear()
        self.seen += size


def crop_to_receptive_field(
    image: np.ndarray, rf: ReceptiveField, row: int, col: int, fill: float | None = None
) -> np.ndarray:
    """The (C, h, w) part of `image` that unit (row, col) of the layer described by `rf` sees.

    With `fill` None a box reaching over the border is clipped to the image; with a value it is
    padded with `fill` to the full receptive field, so every crop of a layer has the same size
    and the unit's centre stays in the middle.
    """
    pixels = np.asarray(image)
    if pixels.ndim != 3:
        raise InsightError(f"image must be (C, H, W), got shape {pixels.shape}")
    height, width = pixels.shape[1:]
    box = unit_box(rf, row, col, (height, width))
    crop = pixels[:, box.top : box.bottom, box.left : box.right]
    if fill is None:
        return crop.copy()
    full = np.full((pixels.shape[0], box.full_bottom - box.full_top, box.full_right - box.full_left), fill, dtype=pixels.dtype)
    top, left = box.top - box.full_top, box.left - box.full_left
    full[:, top : top + crop.shape[1], left : left + crop.shape[2]] = crop
    return full
