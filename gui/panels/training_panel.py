"""Training controls: run buttons and progress on top, then data set and optimiser settings; user intent
out as signals.

The buttons, progress and status lines have fixed heights at the top, so the buttons stay under the
mouse whatever message or progress text appears (a panel whose height followed its content moved
Start/Stop by 200 px during one session); the settings below scroll when the window is short.
"""
from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.concepts import TOOLTIPS

DATASETS = {"Bundled MNIST": "mnist", "X's and O's": "xo", "Image folder…": None}
OPTIMIZERS = {"SGD + momentum": "sgd", "Adam": "adam"}
SCHEDULES = {"constant": "constant", "cosine (anneal to 0)": "cosine"}
STATES = ("idle", "starting", "running", "paused", "finished")
_ERROR_STYLE = "color: #c62828;"


class TrainingPanel(QWidget):
    """Data set and optimiser choices, run buttons, progress. ``architecture``: the editor widget shown
    between the data set and the optimiser (the panel only places it)."""

    datasetChanged = Signal(str)
    startRequested = Signal()
    pauseRequested = Signal()
    stepRequested = Signal()
    stopRequested = Signal()
    resetRequested = Signal()
    paceChanged = Signal(float)  # slow motion, steps per second (0 = full speed): may change mid-run

    def __init__(self, architecture: QWidget | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingPanel")
        self._state = "idle"
        self._folder = ""
        settings = QWidget()
        settings_layout = QVBoxLayout(settings)
        settings_layout.setContentsMargins(0, 0, 0, 0)
        settings_layout.addWidget(self._build_data_group())
        if architecture is not None:
            settings_layout.addWidget(architecture)
        settings_layout.addWidget(self._build_optimizer_group())
        settings_layout.addStretch(1)
        scroll = QScrollArea()  # a short window scrolls the settings; the run controls stay put
        scroll.setWidget(settings)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self._build_buttons())
        layout.addLayout(self._build_progress())
        layout.addWidget(scroll, 1)
        self.set_state("idle")

    # --- construction -------------------------------------------------------------------------

    def _build_data_group(self) -> QGroupBox:
        group = QGroupBox("Data")
        self._dataset = QComboBox()
        self._dataset.setObjectName("datasetBox")
        self._dataset.addItems(list(DATASETS))
        self._dataset.setToolTip(
            "Bundled MNIST: 28x28 handwritten digits. X's and O's: tiny drawn crosses and circles. "
            "Image folder: one sub-folder per class."
        )
        self._dataset.activated.connect(self._on_dataset_activated)
        self._dataset_index = 0
        self._folder_label = _one_line_label("folderLabel")
        box = QVBoxLayout(group)
        box.addWidget(self._dataset)
        box.addWidget(self._folder_label)
        return group

    def _build_optimizer_group(self) -> QGroupBox:
        group = QGroupBox("Optimiser")
        self._optimizer = QComboBox()
        self._optimizer.setObjectName("optimizerBox")
        self._optimizer.addItems(list(OPTIMIZERS))
        self._optimizer.setToolTip(TOOLTIPS["momentum"])
        self._lr = QDoubleSpinBox()
        self._lr.setObjectName("learningRate")
        self._lr.setDecimals(5)
        self._lr.setRange(1e-5, 10.0)
        self._lr.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self._lr.setValue(0.01)
        self._lr.setToolTip(TOOLTIPS["learning rate"])
        self._batch_size = QSpinBox()
        self._batch_size.setObjectName("batchSize")
        self._batch_size.setRange(1, 4096)
        self._batch_size.setValue(64)
        self._batch_size.setToolTip(TOOLTIPS["batch size"])
        self._epochs = QSpinBox()
        self._epochs.setObjectName("epochs")
        self._epochs.setRange(1, 1000)
        self._epochs.setValue(5)
        self._epochs.setToolTip(TOOLTIPS["epoch"])
        self._weight_decay = QDoubleSpinBox()
        self._weight_decay.setObjectName("weightDecay")
        self._weight_decay.setDecimals(5)
        self._weight_decay.setRange(0.0, 1.0)
        self._weight_decay.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self._weight_decay.setToolTip(TOOLTIPS["weight decay"])
        self._schedule = QComboBox()
        self._schedule.setObjectName("scheduleBox")
        self._schedule.addItems(list(SCHEDULES))
        self._schedule.setToolTip("Cosine lowers the learning rate smoothly to zero by the last batch, which settles the weights.")
        self._augment = QCheckBox("random shifts of up to 2 px")
        self._augment.setObjectName("augmentBox")
        self._augment.setToolTip("Augmentation: each batch is shifted a little, so the network cannot memorise positions.")
        form = QFormLayout(group)
        form.addRow("optimiser", self._optimizer)
        form.addRow("learning rate", self._lr)
        form.addRow("batch size", self._batch_size)
        form.addRow("epochs", self._epochs)
        form.addRow("weight decay", self._weight_decay)
        form.addRow("schedule", self._schedule)
        form.addRow("augment", self._augment)
        form.addRow("slow motion", self._build_pace())
        return group

    def _build_pace(self) -> QDoubleSpinBox:
        self._pace = QDoubleSpinBox()
        self._pace.setObjectName("slowMotion")
        self._pace.setRange(0.0, 100.0)
        self._pace.setDecimals(1)
        self._pace.setSuffix(" steps/s")
        self._pace.setSpecialValueText("off (full speed)")
        self._pace.setToolTip(
            "Slow motion: train at most this many batches a second, so you can watch the filters form; "
            "it can be changed while training runs. Off trains at full speed."
        )
        self._pace.valueChanged.connect(self.paceChanged)
        return self._pace

    def _build_buttons(self) -> QHBoxLayout:
        self._start = self._button("Start", "startButton", "Train with the settings above; " + TOOLTIPS["epoch"])
        self._pause = self._button(
            "Pause", "pauseButton", "Pause after the current batch; the layer views then show the paused network."
        )
        self._step = self._button(
            "Step", "stepButton", "Train on one batch: forward pass, backprop, one weight update. " + TOOLTIPS["backprop"]
        )
        self._stop = self._button("Stop", "stopButton", "End the run and keep the weights learned so far.")
        self._reset = self._button("Reset weights", "resetButton", "Start again from fresh random weights.")
        row = QHBoxLayout()
        for button, signal in [
            (self._start, self.startRequested),
            (self._pause, self.pauseRequested),
            (self._step, self.stepRequested),
            (self._stop, self.stopRequested),
            (self._reset, self.resetRequested),
        ]:
            button.clicked.connect(signal)
            row.addWidget(button)
        return row

    def _button(self, text: str, name: str, tooltip: str) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setToolTip(tooltip)
        return button

    def _build_progress(self) -> QVBoxLayout:
        self._progress = QProgressBar()
        self._progress.setObjectName("trainingProgress")
        self._progress.setRange(0, 1000)
        self._progress.setTextVisible(False)
        self._progress_label = _one_line_label("progressLabel")
        self._status = QLabel("")
        self._status.setObjectName("trainingStatus")
        self._status.setWordWrap(True)
        self._status.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self._status.setFixedHeight(self._status.fontMetrics().lineSpacing() * 3 + 4)
        box = QVBoxLayout()
        box.addWidget(self._progress)
        box.addWidget(self._progress_label)
        box.addWidget(self._status)
        return box

    # --- data set --------------------------------------------------------------------------------

    def dataset_source(self) -> str:
        """'mnist', 'xo', or the chosen image folder's path."""
        source = DATASETS[self._dataset.currentText()]
        return self._folder if source is None else source

    def set_dataset_source(self, source: str) -> None:
        """Show a data set the app chose (a restored session) without announcing it."""
        names = {value: name for name, value in DATASETS.items() if value is not None}
        if source in names:
            self._dataset.setCurrentText(names[source])
            self._folder_label.setText("")
        else:
            self._folder = source
            self._folder_label.setText(source)
            self._dataset.setCurrentText(next(name for name, value in DATASETS.items() if value is None))
        self._dataset_index = self._dataset.currentIndex()

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

    # --- optimiser settings -------------------------------------------------------------------------

    def optimizer(self) -> str:
        return OPTIMIZERS[self._optimizer.currentText()]

    def learning_rate(self) -> float:
        return self._lr.value()

    def batch_size(self) -> int:
        return self._batch_size.value()

    def epochs(self) -> int:
        return self._epochs.value()

    def weight_decay(self) -> float:
        return self._weight_decay.value()

    def schedule(self) -> str:
        return SCHEDULES[self._schedule.currentText()]

    def augment(self) -> bool:
        return self._augment.isChecked()

    def pace(self) -> float:
        """Slow motion in steps per second; 0 is full speed."""
        return self._pace.value()

    def set_pace(self, steps_per_second: float) -> None:
        self._pace.setValue(steps_per_second)

    def set_optimizer_settings(
        self,
        optimizer: str,
        lr: float,
        batch_size: int,
        epochs: int,
        weight_decay: float = 0.0,
        schedule: str = "constant",
        augment: bool = False,
    ) -> None:
        """Show saved choices; raises ValueError (and changes nothing) for a value the controls cannot show."""
        optimizers = {key: name for name, key in OPTIMIZERS.items()}
        schedules = {key: name for name, key in SCHEDULES.items()}
        if optimizer not in optimizers or schedule not in schedules:
            raise ValueError(f"unknown optimiser {optimizer!r} or schedule {schedule!r}")
        spins = ((lr, self._lr), (batch_size, self._batch_size), (epochs, self._epochs), (weight_decay, self._weight_decay))
        for value, spin in spins:
            if not (math.isfinite(value) and spin.minimum() <= value <= spin.maximum()):
                raise ValueError(f"{value!r} is outside {spin.minimum():g} … {spin.maximum():g}")
        self._optimizer.setCurrentText(optimizers[optimizer])
        for value, spin in spins:
            spin.setValue(value)
        self._schedule.setCurrentText(schedules[schedule])
        self._augment.setChecked(bool(augment))

    # --- run state ---------------------------------------------------------------------------------

    def state(self) -> str:
        return self._state

    def set_state(self, state: str) -> None:
        """Enable only the buttons that make sense now; the set-up is locked while a run is under way."""
        if state not in STATES:
            raise ValueError(f"unknown training state {state!r}; expected one of {', '.join(STATES)}")
        self._state = state
        running = state in ("running", "starting")
        paused = state == "paused"
        self._start.setEnabled(not running)
        self._start.setText("Resume" if paused else "Start")
        self._pause.setEnabled(running)
        self._step.setEnabled(not running)
        self._stop.setEnabled(state != "idle")
        self._reset.setEnabled(not running)
        for widget in (self._dataset, self._batch_size):
            widget.setEnabled(not (running or paused))
        for widget in (self._optimizer, self._lr, self._epochs, self._weight_decay, self._schedule, self._augment):
            widget.setEnabled(not running)

    def set_progress(self, fraction: float, text: str) -> None:
        fraction = min(max(fraction, 0.0), 1.0) if math.isfinite(fraction) else 0.0
        self._progress.setValue(round(fraction * self._progress.maximum()))
        self._progress_label.setText(text)

    def progress_text(self) -> str:
        return self._progress_label.text()

    def show_message(self, text: str, error: bool = False) -> None:
        text = text if len(text) <= 500 else text[:499] + "…"
        self._status.setText(text)
        self._status.setToolTip(text)
        self._status.setStyleSheet(_ERROR_STYLE if error else "")

    def message(self) -> str:
        return self._status.text()


def _one_line_label(name: str) -> QLabel:
    label = QLabel("")
    label.setObjectName(name)
    label.setFixedHeight(label.fontMetrics().lineSpacing() + 4)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    return label
