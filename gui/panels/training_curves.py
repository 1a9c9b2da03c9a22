"""Loss and accuracy over the run, other runs laid over them, and the look-back slider over the kept
weights with a play button and a fork button.

Above the plots: a status line (what the run says: diverged, failed to learn, followed...), a smoothing
slider and a log-scale switch for the loss; the current numbers are the plots' titles. The panel draws
what it is given; smoothing is computed by whoever feeds it.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from gui.concepts import TOOLTIPS
from gui.two_lines_label import TwoLinesLabel

MAX_DRAWN_POINTS = 2000
PLAY_INTERVAL_MS = 350  # one look-back step per tick: slow enough to see the filters change
SMOOTHING_STEPS = 100  # the slider's resolution: strengths 0.00 .. 0.99
TITLE_SIZE = "9pt"  # a title wider than its plot would widen the plot past the window's edge
_ERROR_STYLE = "color: #c62828;"


@dataclass(frozen=True)
class Overlay:
    """Another run's curves, drawn in ``color`` over the ones on show and named ``label`` in the legend."""

    label: str
    color: str
    steps: np.ndarray
    loss: np.ndarray
    accuracy_steps: np.ndarray
    accuracy: np.ndarray


class TrainingCurves(QWidget):
    timelineMoved = Signal(int)  # index into the kept steps, -1 for live
    smoothingChanged = Signal(float)
    forkRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingCurves")
        self._loss_plot = pg.PlotWidget()
        self._loss_plot.setToolTip(TOOLTIPS["loss"])
        self._loss_plot.setLabel("bottom", "step")
        self._loss_legend = self._loss_plot.addLegend(offset=(-10, 10))
        self._accuracy_plot = pg.PlotWidget()
        self._accuracy_plot.setToolTip(TOOLTIPS["accuracy"])
        self._accuracy_plot.setLabel("bottom", "step")
        self._accuracy_plot.addLegend(offset=(-10, -10))
        for plot in (self._loss_plot, self._accuracy_plot):
            # Ranges are set from the data in set_history: pyqtgraph's auto-range with clip-to-view
            # fed back into itself and repainted forever during long runs, freezing the window.
            plot.disableAutoRange()
        self._accuracy_plot.setYRange(0.0, 1.02, padding=0)
        self._loss_curve = self._loss_plot.plot(pen=pg.mkPen("#ef6c00", width=1.5), connect="finite")
        self._accuracy_curve = self._accuracy_plot.plot(
            pen=pg.mkPen("#1e88e5", width=1.5), connect="finite", name="train (batch)"
        )
        self._test_points = self._accuracy_plot.plot(
            pen=None, symbol="o", symbolSize=8, symbolBrush="#43a047", name="test (epoch)"
        )
        self._overlays: list[Overlay] = []
        self._overlay_items: list[tuple[pg.PlotWidget, pg.PlotDataItem]] = []
        self._drawn_steps = np.zeros(0)
        self._drawn_loss = np.zeros(0)
        self.set_latest(None, None, None)

        plots = QHBoxLayout()
        plots.setContentsMargins(0, 0, 0, 0)
        plots.addWidget(self._loss_plot)
        plots.addWidget(self._accuracy_plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._build_status())
        layout.addLayout(self._build_options())
        layout.addLayout(plots, 1)
        layout.addLayout(self._build_timeline())

    # --- construction -------------------------------------------------------------------------

    def _build_status(self) -> QLabel:
        # Always two lines high: a line that appeared on Start ("recording this run in …") shrank both
        # plots, and their re-layout and repaint held the GUI thread while a worker was starting.
        self._status = TwoLinesLabel("")
        self._status.setObjectName("curveStatus")
        self._status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return self._status

    def _build_options(self) -> QHBoxLayout:
        self._smoothing = QSlider(Qt.Orientation.Horizontal)
        self._smoothing.setObjectName("smoothingSlider")
        self._smoothing.setRange(0, SMOOTHING_STEPS - 1)
        self._smoothing.setMaximumWidth(110)
        self._smoothing.setToolTip(
            "Smoothing: each point becomes a moving average of the steps before it (0 = raw), so the trend "
            "shows through the noise of single batches"
        )
        self._smoothing_label = QLabel("smoothing off")
        self._smoothing.valueChanged.connect(self._on_smoothing)
        self._log_scale = QCheckBox("log scale")
        self._log_scale.setObjectName("logScaleBox")
        self._log_scale.setToolTip("Loss on a logarithmic axis: a loss that explodes and one near zero both stay readable")
        self._log_scale.toggled.connect(self._on_log_scale)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self._smoothing_label)
        row.addWidget(self._smoothing)
        row.addSpacing(8)
        row.addWidget(self._log_scale)
        return row

    def _build_timeline(self) -> QHBoxLayout:
        self._timeline_steps: list[int] = []
        self._timeline = QSlider(Qt.Orientation.Horizontal)
        self._timeline.setObjectName("lookBackSlider")
        self._timeline.setRange(0, 0)
        self._timeline.setEnabled(False)
        self._timeline.setToolTip(
            "Look back: drag left to see the filters, maps and prediction with the weights of an earlier "
            "step; the right end is live"
        )
        self._timeline.valueChanged.connect(self._on_timeline_moved)
        self._timeline_label = QLabel("live")
        self._timeline_label.setMinimumWidth(70)
        self._play = QPushButton("▶")
        self._play.setObjectName("playButton")
        self._play.setToolTip("Play: step the look-back slider through the kept weights, from the first to live")
        self._play.setCheckable(True)
        self._play.setFixedWidth(34)
        self._play.toggled.connect(self._on_play_toggled)
        self._play_timer = QTimer(self)
        self._play_timer.setInterval(PLAY_INTERVAL_MS)
        self._play_timer.timeout.connect(self._play_one_step)
        self._fork = QPushButton("Fork")
        self._fork.setObjectName("forkButton")
        self._fork.setToolTip(
            "Start a new run from the weights on show (drag the slider back to fork from an earlier step), "
            "with the settings of the training panel"
        )
        self._fork.clicked.connect(self.forkRequested)
        timeline = QHBoxLayout()
        timeline.addWidget(QLabel("Look back"))
        timeline.addWidget(self._timeline, 1)
        timeline.addWidget(self._timeline_label)
        timeline.addWidget(self._play)
        timeline.addWidget(self._fork)
        self._set_timeline_enabled(False)
        return timeline

    # --- curves -----------------------------------------------------------------------------------

    def set_history(
        self,
        steps: np.ndarray,
        loss: np.ndarray,
        accuracy: np.ndarray,
        test_steps: np.ndarray,
        test_accuracy: np.ndarray,
    ) -> None:
        """Redraw the curves from the whole history (long ones as a min/max envelope)."""
        steps, loss, accuracy = (np.asarray(a, dtype=np.float64) for a in (steps, loss, accuracy))
        test_steps, test_accuracy = (np.asarray(a, dtype=np.float64) for a in (test_steps, test_accuracy))
        if not (steps.shape == loss.shape == accuracy.shape) or steps.ndim != 1:
            raise ValueError(
                "steps, loss and accuracy must be 1-D and equally long, "
                f"got {steps.shape}, {loss.shape}, {accuracy.shape}"
            )
        if test_steps.shape != test_accuracy.shape or test_steps.ndim != 1:
            raise ValueError(
                "test_steps and test_accuracy must be 1-D and equally long, "
                f"got {test_steps.shape}, {test_accuracy.shape}"
            )
        if len(steps) > 1 and np.any(np.diff(steps) < 0):
            order = np.argsort(steps, kind="stable")
            steps, loss, accuracy = steps[order], loss[order], accuracy[order]
        self._loss_curve.setData(*_envelope(steps, loss))
        self._accuracy_curve.setData(*_envelope(steps, accuracy))
        self._test_points.setData(test_steps, test_accuracy)
        self._drawn_steps, self._drawn_loss = np.concatenate([steps, test_steps]), loss
        self._fit_ranges()

    def set_overlays(self, overlays: Sequence[Overlay]) -> None:
        """Lay other runs' curves over the ones on show, each in its colour; the loss plot's legend names
        them (and the curve on show) while there are any."""
        for plot, item in self._overlay_items:
            plot.removeItem(item)
        self._overlay_items = []
        self._loss_legend.clear()
        self._overlays = list(overlays)
        for overlay in self._overlays:
            pen = pg.mkPen(overlay.color, width=1.5)
            loss = pg.PlotDataItem(*_envelope(*_sorted(overlay.steps, overlay.loss)), pen=pen, connect="finite")
            accuracy = pg.PlotDataItem(
                overlay.accuracy_steps, overlay.accuracy, pen=pen, connect="finite", symbol="o", symbolSize=5,
                symbolBrush=overlay.color, symbolPen=None,
            )
            self._loss_plot.addItem(loss)
            self._accuracy_plot.addItem(accuracy)
            self._loss_legend.addItem(loss, overlay.label)
            self._overlay_items += [(self._loss_plot, loss), (self._accuracy_plot, accuracy)]
        if self._overlays:
            self._loss_legend.addItem(self._loss_curve, "on show")
        self._fit_ranges()

    def overlays(self) -> list[Overlay]:
        return list(self._overlays)

    def legend_labels(self) -> list[str]:
        return [label.text for _, label in self._loss_legend.items]

    def overlay_items(self) -> list[pg.PlotDataItem]:
        """The loss curves of the overlaid runs, in order."""
        return [item for plot, item in self._overlay_items if plot is self._loss_plot]

    def _fit_ranges(self) -> None:
        steps = [self._drawn_steps] + [o.steps for o in self._overlays] + [o.accuracy_steps for o in self._overlays]
        losses = [self._drawn_loss] + [o.loss for o in self._overlays]
        all_steps = np.concatenate([np.asarray(s, float) for s in steps])
        all_steps = all_steps[np.isfinite(all_steps)]
        if len(all_steps):
            low, high = float(all_steps.min()), float(all_steps.max())
            for plot in (self._loss_plot, self._accuracy_plot):
                plot.setXRange(low, max(high, low + 1), padding=0.02)
        loss = np.concatenate([np.asarray(v, float) for v in losses])
        if self.log_scale():
            positive = loss[np.isfinite(loss) & (loss > 0)]
            if len(positive):
                low, high = math.log10(float(positive.min())), math.log10(float(positive.max()))
                self._loss_plot.setYRange(low - 0.1, max(high, low + 0.5) + 0.1, padding=0)
            return
        finite = loss[np.isfinite(loss)]
        if len(finite):
            self._loss_plot.setYRange(0.0, max(float(finite.max()), 1e-6) * 1.05, padding=0)

    def loss_curve(self) -> pg.PlotDataItem:
        return self._loss_curve

    def accuracy_curve(self) -> pg.PlotDataItem:
        return self._accuracy_curve

    def test_accuracy_points(self) -> pg.PlotDataItem:
        return self._test_points

    # --- what the run says, the numbers, smoothing, log scale ------------------------------------

    def set_status(self, text: str, error: bool = False) -> None:
        """Two lines above the plots for what the run says (e.g. why it diverged; all of it in the tooltip)."""
        self._status.setText(text)
        self._status.setToolTip(text)
        self._status.setStyleSheet(_ERROR_STYLE if error else "")

    def status(self) -> str:
        return self._status.text()

    def set_latest(self, loss: float | None, accuracy: float | None, test_accuracy: float | None) -> None:
        """The current numbers, shown in the plots' titles (None: not known)."""
        self._latest = (loss, accuracy, test_accuracy)
        self._loss_plot.setTitle("loss" if loss is None else f"loss {loss:.3g}", size=TITLE_SIZE)
        words = [f"{name} {value:.1%}" for name, value in (("acc", accuracy), ("test", test_accuracy)) if value is not None]
        self._accuracy_plot.setTitle(" · ".join(words) or "accuracy", size=TITLE_SIZE)

    def readout(self) -> str:
        """The current numbers as the titles show them: "loss 0.312 · accuracy 91.0% · test 97.1%"."""
        loss, accuracy, test = self._latest
        words = [] if loss is None else [f"loss {loss:.3g}"]
        words += [f"{name} {value:.1%}" for name, value in (("accuracy", accuracy), ("test", test)) if value is not None]
        return " · ".join(words)

    def smoothing(self) -> float:
        """The smoothing strength chosen, 0 (raw) to 0.99."""
        return self._smoothing.value() / SMOOTHING_STEPS

    def set_smoothing(self, strength: float) -> None:
        """As a user would drag the slider: emits smoothingChanged."""
        self._smoothing.setValue(round(min(max(strength, 0.0), 0.99) * SMOOTHING_STEPS))

    def _on_smoothing(self, _value: int) -> None:
        strength = self.smoothing()
        self._smoothing_label.setText(f"smoothing {strength:.2f}" if strength else "smoothing off")
        self.smoothingChanged.emit(strength)

    def log_scale(self) -> bool:
        return self._log_scale.isChecked()

    def _on_log_scale(self, on: bool) -> None:
        self._loss_plot.setLogMode(x=False, y=on)
        self._fit_ranges()

    # --- looking back -------------------------------------------------------------------------

    def set_timeline(self, steps: Sequence[int], position: int = -1) -> None:
        """Offer these kept steps with one chosen (-1: the right end, live), without emitting."""
        self._timeline_steps = list(steps)
        self._timeline.blockSignals(True)
        self._timeline.setRange(0, len(self._timeline_steps))
        self._timeline.setValue(len(self._timeline_steps) if position < 0 else position)
        self._timeline.blockSignals(False)
        self._set_timeline_enabled(bool(self._timeline_steps))
        self._update_timeline_label()

    def timeline_position(self) -> int:
        """The chosen kept step's index, or -1 for live."""
        value = self._timeline.value()
        return -1 if value >= len(self._timeline_steps) else value

    def set_timeline_position(self, index: int) -> None:
        """Move the slider as a user would: emits timelineMoved."""
        self._timeline.setValue(len(self._timeline_steps) if index < 0 else index)

    def is_playing(self) -> bool:
        return self._play_timer.isActive()

    def stop_playing(self) -> None:
        self._play.setChecked(False)

    def _set_timeline_enabled(self, enabled: bool) -> None:
        for widget in (self._timeline, self._play, self._fork):
            widget.setEnabled(enabled)
        if not enabled:
            self.stop_playing()

    def _on_play_toggled(self, playing: bool) -> None:
        self._play.setText("⏸" if playing else "▶")
        if not playing:
            self._play_timer.stop()
            return
        if self.timeline_position() < 0:
            self.set_timeline_position(0)  # from live: start at the beginning
        self._play_timer.start()

    def _play_one_step(self) -> None:
        position = self.timeline_position()
        if position < 0:
            self.stop_playing()  # reached live
            return
        self.set_timeline_position(position + 1 if position + 1 < len(self._timeline_steps) else -1)

    def _on_timeline_moved(self, _value: int) -> None:
        self._update_timeline_label()
        self.timelineMoved.emit(self.timeline_position())

    def _update_timeline_label(self) -> None:
        index = self.timeline_position()
        self._timeline_label.setText("live" if index < 0 else f"step {self._timeline_steps[index]:,}")


def _sorted(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) > 1 and np.any(np.diff(x) < 0):
        order = np.argsort(x, kind="stable")
        return x[order], y[order]
    return x, y


def _envelope(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most MAX_DRAWN_POINTS points that keep every spike: the min and max of each bin of steps."""
    if len(x) <= MAX_DRAWN_POINTS:
        return x, y
    size = math.ceil(len(x) / (MAX_DRAWN_POINTS // 2))
    bins = len(x) // size
    cut = bins * size
    blocks = y[:cut].reshape(bins, size)
    x_mid = x[:cut].reshape(bins, size)[:, size // 2]
    xs = np.repeat(x_mid, 2)
    ys = np.column_stack([np.fmin.reduce(blocks, axis=1), np.fmax.reduce(blocks, axis=1)]).ravel()
    return np.concatenate([xs, x[cut:]]), np.concatenate([ys, y[cut:]])
