"""The Channel tab follows the current layer and the picked channel: its filter, what input excites it
(feature visualisation, on request), and its top test examples, kept live while training.

Top examples come from two places. At each epoch end the window's own test pass finds them for the
conv layers and the layer on show (``ViewerState.top_examples``, a recorder riding on the pass:
no extra pass over the test set). For any other layer, and when the user presses Refresh, a
BackgroundTask runs a pass of its own over the test set with a copy of the model carrying the
weights on show, while the tab is on show (a hidden tab catches up when shown).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal

from core.data import Dataset
from core.insight import TopExample, crop_to_receptive_field, top_examples, value_range_of, visualize_channel
from core.insight.feature_visualization import DEFAULT_STEPS
from core.insight.top_examples import DEFAULT_K
from core.preprocess import Normalization
from core.viewer_state import ViewerState
from gui.background import BackgroundTask
from gui.mosaic import tile
from gui.panels.channel_view import CENTRE_UNIT, WHOLE_MAP, ChannelView, Thumbnail
from gui.panels.feature_map_view import FeatureMapView


@dataclass(frozen=True)
class _Examples:
    layer: str
    step: int
    samples: Dataset
    tops: list[list[TopExample]]


@dataclass(frozen=True)
class _Visual:
    picture: np.ndarray
    step: int


class ChannelBinder(QObject):
    error = Signal(str)
    message = Signal(str)

    def __init__(self, state: ViewerState, feature_maps: FeatureMapView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.view = ChannelView()
        self._channel = 0
        self._examples: dict[str, _Examples] = {}
        self._visuals: dict[tuple[str, int, str], _Visual] = {}
        self._ranking_for: tuple[str, int] | None = None
        self._visualizing_for: tuple[tuple[str, int, str], int] | None = None
        self._ranking = BackgroundTask("top-examples", self)
        self._ranking.progressed.connect(self.view.set_examples_progress)
        self._ranking.finished.connect(self._on_ranked)
        self._ranking.failed.connect(self._on_ranking_failed)
        self._visualizing = BackgroundTask("feature-visualization", self)
        self._visualizing.progressed.connect(self.view.set_visualization_progress)
        self._visualizing.finished.connect(self._on_visualized)
        self._visualizing.failed.connect(self._on_visualizing_failed)
        state.layer_changed.connect(self._on_layer_changed)
        state.session_replaced.connect(self._on_session_replaced)
        state.weights_changed.connect(lambda: self.view.isVisible() and self._draw_filter())
        state.top_examples_changed.connect(self._on_epoch_examples)
        state.input_changed.connect(self._on_input_changed)
        feature_maps.unitClicked.connect(lambda channel, _row, _col: self.view.set_channel(channel))
        view = self.view
        view.channelChosen.connect(self._on_channel_chosen)
        view.objectiveChanged.connect(lambda _text: self._draw_visualization())
        view.visualizeRequested.connect(self.visualize)
        view.cancelRequested.connect(self.cancel_visualization)
        view.refreshRequested.connect(self.refresh_examples)
        view.exampleChosen.connect(self._show_example)
        view.shown.connect(self._on_shown)
        self._on_session_replaced()

    # ----------------------------------------------------------------- intents

    def visualize(self) -> None:
        """Synthesise an input that excites the channel, on a copy of the model, off the GUI thread."""
        session, key = self.state.session, self._visual_key()
        layer, channel, objective = key
        shape = session.layer(layer).output_shape
        unit = (shape[1] // 2, shape[2] // 2) if objective == CENTRE_UNIT else None
        self._visualizing_for = (key, session.step)
        self.view.set_visualizing(True)
        self.view.show_visualization(None, f"synthesising from noise: {DEFAULT_STEPS} steps of gradient ascent…")
        self._visualizing.start(
            _visualize_job, copy.deepcopy(session.model), layer, channel, session.input_shape, unit, session.normalization
        )

    def cancel_visualization(self) -> None:
        self._visualizing.cancel()
        self._visualizing_for = None
        self.view.set_visualizing(False)
        self.view.show_visualization(None, "cancelled")

    def refresh_examples(self) -> None:
        """Find the current layer's top examples again with the weights on show."""
        self._rank(self.state.layer)

    def close(self) -> None:
        self._ranking.close()
        self._visualizing.close()

    # ----------------------------------------------------------------- state events

    def _on_session_replaced(self) -> None:
        self._ranking.cancel()
        self._visualizing.cancel()
        self._ranking_for = self._visualizing_for = None
        self._examples.clear()
        self._visuals.clear()
        self.view.set_refreshing(False)
        self.view.set_visualizing(False)
        self._on_layer_changed()

    def _on_layer_changed(self) -> None:
        count, word = self._channels()
        self._channel = min(self._channel, max(count - 1, 0))
        self.view.set_layer(self._title(), count, word, self._channel)
        self._draw_all()
        self._ensure_examples()

    def _on_shown(self) -> None:
        self._draw_filter()  # the weights may have changed while hidden
        self._ensure_examples()

    def _on_channel_chosen(self, channel: int) -> None:
        self._channel = channel
        self.view.set_layer(self._title(), *self._channels(), channel)
        self._draw_all()

    def _on_epoch_examples(self) -> None:
        found = self.state.top_examples
        for layer, tops in found.layers.items():
            self._examples[layer] = _Examples(layer, found.step, found.samples, tops)
        if self.state.layer in found.layers:
            if self._ranking_for is not None and self._ranking_for[0] == self.state.layer:
                self._ranking.cancel()  # the epoch's answer is newer than the one under way
                self._ranking_for = None
                self.view.set_refreshing(False)
            self._draw_examples()

    def _on_input_changed(self) -> None:
        shown = next(iter(self._examples.values()), None)
        if shown is not None and shown.samples is not self.state.samples():  # another data set
            self._examples.clear()
            self._draw_examples()
            self._ensure_examples()

    def _show_example(self, index: int) -> None:
        try:
            self.state.show_test_example(index)
        except ValueError as exc:
            self.error.emit(str(exc))

    # ----------------------------------------------------------------- top examples

    def _ensure_examples(self) -> None:
        """While the tab is on show, a layer without top examples gets them for the weights on show."""
        if self.view.isVisible() and self.state.layer not in self._examples:
            self._rank(self.state.layer)

    def _rank(self, layer: str) -> None:
        step = self.state.session.step
        if self._ranking.busy and self._ranking_for == (layer, step):
            return
        try:
            samples = self.state.samples()
        except ValueError as exc:
            self.error.emit(f"top examples: {exc}")
            return
        self._ranking_for = (layer, step)
        self.view.set_refreshing(True)
        self._ranking.start(_rank_job, copy.deepcopy(self.state.session.model), samples, layer, step)

    def _on_ranked(self, found: _Examples) -> None:
        self._ranking_for = None
        self.view.set_refreshing(False)
        self._examples[found.layer] = found
        if found.layer == self.state.layer:
            self._draw_examples()

    def _on_ranking_failed(self, text: str) -> None:
        self._ranking_for = None
        self.view.set_refreshing(False)
        self.error.emit(f"top examples: {text}")

    # ----------------------------------------------------------------- feature visualisation

    def _on_visualized(self, picture: np.ndarray) -> None:
        key, step = self._visualizing_for
        self._visualizing_for = None
        self._visuals[key] = _Visual(picture, step)
        self.view.set_visualizing(False)
        self._draw_visualization()

    def _on_visualizing_failed(self, text: str) -> None:
        self._visualizing_for = None
        self.view.set_visualizing(False)
        self.view.show_visualization(None, "")
        self.error.emit(f"feature visualisation: {text}")

    # ----------------------------------------------------------------- drawing

    def _draw_all(self) -> None:
        self._draw_filter()
        self._draw_visualization()
        self._draw_examples()

    def _draw_filter(self) -> None:
        session, layer, channel = self.state.session, self.state.layer, self._channel
        source = session.filter_source(layer)
        if source is None:
            info = session.layer(layer)
            reason = "each of its units weighs every input, not a small patch" if info.params else "it has no weights"
            self.view.show_filter(None, f"{layer} has no filter: {reason}.")
            return
        weights = session.filters()[source]
        if channel >= len(weights):
            self.view.show_filter(None, "")
            return
        kernel = weights[channel]
        inputs, height, width = kernel.shape
        caption = f"{source} filter {channel}: {inputs} × {height} × {width} weights"
        caption += f", one {height}×{width} slice per input channel" if inputs > 1 else ""
        if source != layer:
            caption += f" (its map feeds {layer})"
        if source == session.first_conv() and inputs == 3:  # colour: zero weight is mid-grey
            bound = float(np.abs(kernel).max()) or 1.0
            self.view.show_filter(0.5 + kernel / (2 * bound), caption + "; zero is grey", picture=True)
        else:
            self.view.show_filter(tile(kernel, columns=math.ceil(math.sqrt(inputs))), caption + "; red +, blue −")

    def _draw_visualization(self) -> None:
        key = self._visual_key()
        if self._visualizing_for is not None and self._visualizing_for[0] == key:
            return  # its progress is on show
        found = self._visuals.get(key)
        layer, channel, objective = key
        word = self._channels()[1]
        if found is None:
            self.view.show_visualization(
                None, f"Visualize synthesises an input that excites {layer} {word} {channel}: gradient ascent from noise."
            )
            return
        what = "its centre unit" if objective == CENTRE_UNIT else "its mean over the map" if word == "channel" else "it"
        self.view.show_visualization(
            found.picture,
            f"an input that excites {what}: {DEFAULT_STEPS} steps of gradient ascent from noise, "
            f"weights of step {found.step:,}",
        )

    def _draw_examples(self) -> None:
        state = self.state
        found = self._examples.get(state.layer)
        if found is None or self._channel >= len(found.tops):
            busy = self._ranking.busy
            self.view.show_examples([], "looking through the test set…" if busy else "Refresh finds them in the test set.")
            return
        session = state.session
        rf = session.layer(found.layer).rf
        samples = found.samples
        thumbnails = []
        for top in found.tops[self._channel]:
            crop = crop_to_receptive_field(samples.images[top.index], rf, top.row, top.col, fill=0.0)
            label = samples.classes[samples.labels[top.index]]
            where = f"its strongest unit ({top.row}, {top.col})" if rf.spatial else "this unit"
            thumbnails.append(
                Thumbnail(
                    samples.normalization.invert(crop),
                    top.index,
                    f"{top.value:.3g}".replace("-", "−"),
                    f"test sample {top.index + 1} (a {label}): {where} = {top.value:.4g}. Click to make it the input.",
                )
            )
        crop = f", each cropped to the {rf.size}×{rf.size_w} receptive field of its strongest unit" if rf.spatial else ""
        self.view.show_examples(
            thumbnails,
            f"Top {len(thumbnails)} of {len(samples):,} test images{crop}; weights of step {found.step:,}. "
            "Click one to make it the input.",
        )

    # ----------------------------------------------------------------- helpers

    def _channels(self) -> tuple[int, str]:
        shape = self.state.session.layer(self.state.layer).output_shape
        return (shape[0], "channel") if len(shape) == 3 else (int(np.prod(shape)), "unit")

    def _title(self) -> str:
        session, layer = self.state.session, self.state.layer
        info = session.layer(layer)
        title = f"{layer} ({info.kind}, {'×'.join(map(str, info.output_shape))})"
        if layer == session.layers[-1].name and self._channel < len(session.classes):
            title += f" · unit {self._channel} is the score of class {session.classes[self._channel]}"
        return title

    def _visual_key(self) -> tuple[str, int, str]:
        spatial = len(self.state.session.layer(self.state.layer).output_shape) == 3
        return self.state.layer, self._channel, self.view.objective() if spatial else WHOLE_MAP


def _rank_job(progress, model: torch.nn.Module, samples: Dataset, layer: str, step: int) -> _Examples:
    return _Examples(layer, step, samples, top_examples(model, samples, layer, DEFAULT_K, progress=progress))


def _visualize_job(progress, model, layer: str, channel: int, input_shape, unit, normalization: Normalization) -> np.ndarray:
    image = visualize_channel(
        model, layer, channel, input_shape, DEFAULT_STEPS, seed=0,
        value_range=value_range_of(normalization), unit=unit, progress=progress,
        should_stop=lambda: progress.cancelled,
    )
    return normalization.invert(image)
