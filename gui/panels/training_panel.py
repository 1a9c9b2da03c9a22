"""Training controls and live curves: plain data in, user intent out as signals; the controller trains."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.concepts import TOOLTIPS

DATASETS = {"Bundled MNIST": "mnist", "X's and O's": "xo", "Image folder…": None}
OPTIMIZERS = {"SGD + momentum": "sgd", "Adam": "adam"}
STATES = ("idle", "running", "paused", "finished")
TABLE_HEADERS = ("layer", "kind", "output shape", "params", "receptive field")
EDIT_DEBOUNCE_MS = 250
_ERROR_STYLE = "color: #c62828;"
_EDITOR_ERROR_STYLE = "QPlainTextEdit { border: 2px solid #c62828; }"


@dataclass(frozen=True)
class TrainSettings:
    """Everything the controller needs to start a run, as chosen in the panel."""

    dataset: str
    architecture: str
    optimizer: str
    lr: float
    batch_size: int
    epochs: int


class TrainingPanel(QWidget):
    """Dataset, architecture and optimiser choices, run buttons, progress and loss/accuracy plots."""

    datasetChanged = Signal(str)
    architectureEdited = Signal(str)
    startRequested = Signal()
    pauseRequested = Signal()
    stepRequested = Signal()
    stopRequested = Signal()
    resetRequested = Signal()
    timelineMoved = Signal(int)  # index into the kept steps, -1 for live

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = "idle"
        self._folder = ""
        self._presets: dict[str, str] = {}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._build_data_group())
        layout.addWidget(self._build_architecture_group(), 2)
        layout.addWidget(self._build_optimizer_group())
        layout.addLayout(self._build_buttons())
        layout.addLayout(self._build_progress())
        layout.addWidget(self._build_plots(), 3)
        layout.addLayout(self._build_timeline())
        self.set_state("idle")

    # --- construction -------------------------------------------------------------------------

    def _build_data_group(self) -> QGroupBox:
        group = QGroupBox("Data")
        self._dataset = QComboBox()
        self._dataset.addItems(list(DATASETS))
        self._dataset.setToolTip(
            "Bundled MNIST: 28x28 handwritten digits. X's and O's: tiny drawn crosses and circles. "
            "Image folder: one sub-folder per class."
        )
        self._dataset.activated.connect(self._on_dataset_activated)
        self._dataset_index = 0
        self._folder_label = QLabel("")
        self._folder_label.setWordWrap(True)
        box = QVBoxLayout(group)
        box.addWidget(self._dataset)
        box.addWidget(self._folder_label)
        return group

    def _build_architecture_group(self) -> QGroupBox:
        group = QGroupBox("Architecture")
        self._presets_box = QComboBox()
        self._presets_box.setToolTip("Start from a known network, then edit its layer pattern below.")
        self._presets_box.activated.connect(self._on_preset_activated)
        self._editor = QPlainTextEdit()
        self._editor.setPlaceholderText("INPUT(1x28x28) -> CONV(8,5) -> RELU -> POOL(2) -> FC(10)")
        self._editor.setToolTip("\n".join(TOOLTIPS[key] for key in ("conv", "relu", "pooling", "fc")))
        self._editor.textChanged.connect(self._on_text_changed)
        self._edit_timer = QTimer(self)
        self._edit_timer.setSingleShot(True)
        self._edit_timer.setInterval(EDIT_DEBOUNCE_MS)
        self._edit_timer.timeout.connect(self._emit_architecture)
        self._architecture_error = QLabel("")
        self._architecture_error.setStyleSheet(_ERROR_STYLE)
        self._architecture_error.setWordWrap(True)
        self._architecture_error.hide()
        self._table = QTableWidget(0, len(TABLE_HEADERS))
        self._table.setHorizontalHeaderLabels(list(TABLE_HEADERS))
        self._table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self._table.verticalHeader().hide()
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._table.setToolTip(TOOLTIPS["receptive field"])
        box = QVBoxLayout(group)
        box.addWidget(self._presets_box)
        box.addWidget(self._editor, 1)
        box.addWidget(self._architecture_error)
        box.addWidget(self._table, 2)
        return group

    def _build_optimizer_group(self) -> QGroupBox:
        group = QGroupBox("Optimiser")
        self._optimizer = QComboBox()
        self._optimizer.addItems(list(OPTIMIZERS))
        self._optimizer.setToolTip(TOOLTIPS["momentum"])
        self._lr = QDoubleSpinBox()
        self._lr.setDecimals(5)
        self._lr.setRange(1e-5, 10.0)
        self._lr.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self._lr.setValue(0.01)
        self._lr.setToolTip(TOOLTIPS["learning rate"])
        self._batch_size = QSpinBox()
        self._batch_size.setRange(1, 4096)
        self._batch_size.setValue(64)
        self._batch_size.setToolTip(TOOLTIPS["batch size"])
        self._epochs = QSpinBox()
        self._epochs.setRange(1, 1000)
        self._epochs.setValue(5)
        self._epochs.setToolTip(TOOLTIPS["epoch"])
        form = QFormLayout(group)
        form.addRow("optimiser", self._optimizer)
        form.addRow("learning rate", self._lr)
        form.addRow("batch size", self._batch_size)
        form.addRow("epochs", self._epochs)
        return group

    def _build_buttons(self) -> QHBoxLayout:
        self._start = QPushButton("Start")
        self._start.setToolTip("Train with the settings above; " + TOOLTIPS["epoch"])
        self._pause = QPushButton("Pause")
        self._pause.setToolTip("Pause after the current batch; the layer views then show the paused network.")
        self._step = QPushButton("Step")
        self._step.setToolTip("Train on one batch: forward pass, backprop, one weight update. " + TOOLTIPS["backprop"])
        self._stop = QPushButton("Stop")
        self._stop.setToolTip("End the run and keep the weights learned so far.")
        self._reset = QPushButton("Reset weights")
        self._reset.setToolTip("Start again from fresh random weights.")
        for button, signal in [
            (self._start, self.startRequested),
            (self._pause, self.pauseRequested),
            (self._step, self.stepRequested),
            (self._stop, self.stopRequested),
            (self._reset, self.resetRequested),
        ]:
            button.clicked.connect(signal)
        row = QHBoxLayout()
        for button in (self._start, self._pause, self._step, self._stop, self._reset):
            row.addWidget(button)
        return row

    def _build_progress(self) -> QVBoxLayout:
        self._progress = QProgressBar()
        self._progress.setRange(0, 1000)
        self._progress.setTextVisible(False)
        self._progress_label = QLabel("")
        self._status = QLabel("")
        self._status.setWordWrap(True)
        box = QVBoxLayout()
        box.addWidget(self._progress)
        box.addWidget(self._progress_label)
        box.addWidget(self._status)
        return box

    def _build_timeline(self) -> QHBoxLayout:
        self._timeline_steps: list[int] = []
        self._timeline = QSlider(Qt.Orientation.Horizontal)
        self._timeline.setRange(0, 0)
        self._timeline.setEnabled(False)
        self._timeline.setToolTip(
            "Look back: drag left to see the filters, maps and prediction with the weights of an earlier "
            "epoch; the right end is live"
        )
        self._timeline.valueChanged.connect(self._on_timeline_moved)
        self._timeline_label = QLabel("live")
        self._timeline_label.setMinimumWidth(110)
        row = QHBoxLayout()
        row.addWidget(QLabel("Look back"))
        row.addWidget(self._timeline, 1)
        row.addWidget(self._timeline_label)
        return row

    def _build_plots(self) -> QWidget:
        plots = QWidget()
        self._loss_plot = pg.PlotWidget(title="loss")
        self._loss_plot.setToolTip(TOOLTIPS["loss"])
        self._loss_plot.setLabel("bottom", "step")
        self._accuracy_plot = pg.PlotWidget(title="accuracy")
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
        box = QHBoxLayout(plots)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self._loss_plot)
        box.addWidget(self._accuracy_plot)
        return plots

    # --- data set --------------------------------------------------------------------------------

    def dataset_source(self) -> str:
        """'mnist', 'xo', or the chosen image folder's path."""
        source = DATASETS[self._dataset.currentText()]
        return self._folder if source is None else source

    def _on_dataset_activated(self, index: int) -> None:
        if DATASETS[self._dataset.itemText(index)] is None:
            folder = QFileDialog.getExistingDirectory(self, "Image folder: one sub-folder per class")
            if not folder:
                self._dataset.setCurrentIndex(self._dataset_index)
                return
            self._folder = folder
            self._folder_label.setText(folder)
        else:
            self._folder_label.setText("")
            if index == self._dataset_index:
                return
        self._dataset_index = index
        self.datasetChanged.emit(self.dataset_source())

    # --- architecture -----------------------------------------------------------------------------

    def set_presets(self, presets: dict[str, str], current: str) -> None:
        """Offer these named architectures and show `current`'s text without announcing it as an edit."""
        if current not in presets:
            raise KeyError(f"preset {current!r} is not among the presets: {', '.join(presets) or 'none given'}")
        self._presets = dict(presets)
        self._presets_box.clear()
        self._presets_box.addItems(list(presets))
        self._presets_box.setCurrentText(current)
        self.set_architecture_text(presets[current])

    def set_architecture_text(self, text: str) -> None:
        """Show an architecture the app loaded itself (a preset, a checkpoint) without reporting it as an edit."""
        self._edit_timer.stop()
        self._editor.blockSignals(True)
        self._editor.setPlainText(text)
        self._editor.blockSignals(False)

    def architecture_text(self) -> str:
        return self._editor.toPlainText()

    def show_architecture_table(self, rows: Sequence[tuple[str, str, str, str, str]]) -> None:
        """List the parsed layers; a valid architecture also clears any earlier error."""
        self._table.setRowCount(len(rows))
        for row_index, row in enumerate(rows):
            if len(row) != len(TABLE_HEADERS):
                raise ValueError(
                    f"architecture table row {row_index} has {len(row)} cells, expected {len(TABLE_HEADERS)}"
                )
            for column, text in enumerate(row):
                self._table.setItem(row_index, column, QTableWidgetItem(str(text)))
        self._architecture_error.hide()
        self._architecture_error.setText("")
        self._editor.setStyleSheet("")

    def table_rows(self) -> list[tuple[str, ...]]:
        """The table's text, row by row, as it is shown."""
        return [
            tuple(self._table.item(row, column).text() for column in range(self._table.columnCount()))
            for row in range(self._table.rowCount())
        ]

    def show_architecture_error(self, message: str) -> None:
        self._architecture_error.setText(message)
        self._architecture_error.show()
        self._editor.setStyleSheet(_EDITOR_ERROR_STYLE)

    def architecture_error(self) -> str:
        """The error shown under the editor, or '' when the architecture is valid."""
        return self._architecture_error.text()

    def _on_preset_activated(self, index: int) -> None:
        self._editor.setPlainText(self._presets[self._presets_box.itemText(index)])

    def _on_text_changed(self) -> None:
        self._edit_timer.start()

    def _emit_architecture(self) -> None:
        self.architectureEdited.emit(self.architecture_text())

    # --- settings and run state ---------------------------------------------------------------

    def settings(self) -> TrainSettings:
        return TrainSettings(
            dataset=self.dataset_source(),
            architecture=self.architecture_text(),
            optimizer=OPTIMIZERS[self._optimizer.currentText()],
            lr=self._lr.value(),
            batch_size=self._batch_size.value(),
            epochs=self._epochs.value(),
        )

    def set_settings(self, settings: TrainSettings) -> None:
        """Show saved choices (a restored session) without announcing them as edits."""
        names = {source: name for name, source in DATASETS.items() if source is not None}
        if settings.dataset in names:
            self._dataset.setCurrentText(names[settings.dataset])
            self._folder_label.setText("")
        else:
            self._folder = settings.dataset
            self._folder_label.setText(settings.dataset)
            self._dataset.setCurrentText(next(name for name, source in DATASETS.items() if source is None))
        self._dataset_index = self._dataset.currentIndex()
        self.set_architecture_text(settings.architecture)
        self._optimizer.setCurrentText(next(name for name, key in OPTIMIZERS.items() if key == settings.optimizer))
        self._lr.setValue(settings.lr)
        self._batch_size.setValue(settings.batch_size)
        self._epochs.setValue(settings.epochs)

    def state(self) -> str:
        return self._state

    def set_state(self, state: str) -> None:
        """Enable only the buttons that make sense now; the set-up is locked while a run is under way."""
        if state not in STATES:
            raise ValueError(f"unknown training state {state!r}; expected one of {', '.join(STATES)}")
        self._state = state
        running, paused = state == "running", state == "paused"
        self._start.setEnabled(not running)
        self._start.setText("Resume" if paused else "Start")
        self._pause.setEnabled(running)
        self._step.setEnabled(not running)
        self._stop.setEnabled(running or paused)
        self._reset.setEnabled(not running)
        in_run = running or paused
        for widget in (self._dataset, self._presets_box, self._editor, self._batch_size):
            widget.setEnabled(not in_run)
        for widget in (self._optimizer, self._lr, self._epochs):
            widget.setEnabled(not running)

    # --- looking back -----------------------------------------------------------------------------

    def set_timeline(self, steps: Sequence[int]) -> None:
        """Offer these kept steps; the slider's right end (one past them) is live and stays live."""
        live = self.timeline_position() == -1
        self._timeline_steps = list(steps)
        self._timeline.blockSignals(True)
        self._timeline.setRange(0, len(self._timeline_steps))
        if live:
            self._timeline.setValue(len(self._timeline_steps))
        self._timeline.blockSignals(False)
        self._timeline.setEnabled(bool(self._timeline_steps))
        self._update_timeline_label()

    def timeline_position(self) -> int:
        """The chosen kept step's index, or -1 for live."""
        value = self._timeline.value()
        return -1 if value >= len(self._timeline_steps) else value

    def set_timeline_position(self, index: int) -> None:
        self._timeline.setValue(len(self._timeline_steps) if index < 0 else index)

    def _on_timeline_moved(self, _value: int) -> None:
        self._update_timeline_label()
        self.timelineMoved.emit(self.timeline_position())

    def _update_timeline_label(self) -> None:
        index = self.timeline_position()
        self._timeline_label.setText("live" if index < 0 else f"step {self._timeline_steps[index]:,}")

    # --- live feedback ---------------------------------------------------------------------------

    def set_history(
        self,
        steps: np.ndarray,
        loss: np.ndarray,
        accuracy: np.ndarray,
        test_steps: np.ndarray,
        test_accuracy: np.ndarray,
    ) -> None:
        """Redraw the curves from the whole history (pyqtgraph clips and downsamples what it draws)."""
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
        all_steps = np.concatenate([steps, test_steps])
        if len(all_steps):
            low, high = float(all_steps.min()), float(all_steps.max())
            for plot in (self._loss_plot, self._accuracy_plot):
                plot.setXRange(low, max(high, low + 1), padding=0.02)
        finite = loss[np.isfinite(loss)]
        if len(finite):
            self._loss_plot.setYRange(0.0, max(float(finite.max()), 1e-6) * 1.05, padding=0)

    def loss_curve(self) -> pg.PlotDataItem:
        return self._loss_curve

    def accuracy_curve(self) -> pg.PlotDataItem:
        return self._accuracy_curve

    def test_accuracy_points(self) -> pg.PlotDataItem:
        return self._test_points

    def set_progress(self, fraction: float, text: str) -> None:
        fraction = min(max(fraction, 0.0), 1.0) if math.isfinite(fraction) else 0.0
        self._progress.setValue(round(fraction * self._progress.maximum()))
        self._progress_label.setText(text)

    def progress_text(self) -> str:
        return self._progress_label.text()

    def show_message(self, text: str, error: bool = False) -> None:
        self._status.setText(text)
        self._status.setStyleSheet(_ERROR_STYLE if error else "")

    def message(self) -> str:
        return self._status.text()


MAX_DRAWN_POINTS = 2000


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
