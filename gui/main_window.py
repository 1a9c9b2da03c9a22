"""The main window: lays out the panels, builds the menus, shows messages, and closes cleanly.

What the window shows lives in a Qt-free ``ViewerState``; ``ViewBinder`` keeps the views in step with
it, ``TrainingCoordinator`` owns the training process, ``FileActions`` and ``Autosave`` do the files.
This class only builds and wires them; none of them calls back into it.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.architecture import DEFAULT_PRESET, PRESETS
from core.assets import DEFAULT_CHECKPOINT
from core.checkpoint import load_checkpoint
from core.model_session import ModelSession
from core.session_store import SessionStore
from core.train_settings import TrainSettings
from core.trainer import MetricsHistory
from core.training_process import Progress, TrainingState
from core.viewer_state import ViewerState
from gui.autosave import Autosave
from gui.background import GuiThreadCollection
from gui.concepts import TOOLTIPS
from gui.file_actions import FileActions
from gui.insight_views import InsightViews
from gui.message_bar import MessageBar
from gui.panels.architecture_editor import ArchitectureEditor
from gui.panels.confusion_view import ConfusionView
from gui.panels.draw_canvas import DrawCanvas
from gui.panels.feature_map_view import FeatureMapView
from gui.panels.filter_view import FilterView
from gui.panels.input_view import InputView
from gui.panels.layer_strip import LayerStrip
from gui.panels.prediction_view import PredictionView
from gui.panels.training_curves import TrainingCurves
from gui.panels.training_panel import TrainingPanel
from gui.run_features import RunFeatures
from gui.training_coordinator import TrainingCoordinator, describe_progress
from gui.view_binder import ViewBinder

POLL_INTERVAL_MS = 40


class MainWindow(QMainWindow):
    def __init__(
        self,
        checkpoint: str | None = None,
        settings: QSettings | None = None,
        store: SessionStore | None = None,
        offer_restore: bool = True,
        model: ModelSession | None = None,
    ) -> None:
        """``model``: a session to show instead of a checkpoint, e.g. the user's own nn.Module."""
        super().__init__()
        self.setWindowTitle("Convscope")
        self.setAcceptDrops(True)
        self._closing_by_signal = False
        self._collection = GuiThreadCollection()  # before any worker thread starts
        self.settings = settings or QSettings("Convscope", "Convscope")
        if model is None:
            opened = load_checkpoint(checkpoint or DEFAULT_CHECKPOINT)
            self.state = ViewerState(ModelSession.from_checkpoint(opened), opened.history)
        else:
            self.state = ViewerState(model, MetricsHistory())
        self.coordinator = TrainingCoordinator(self.state)
        self._build_panels()
        self.binder = ViewBinder(
            self.state, self.canvas, self.input_view, self.prediction, self.layer_strip, self.feature_maps,
            self.filters, self.confusion, self.curves, self.editor, parent=self,
        )
        self.insight = InsightViews(self)  # the insight tabs beside the filters; the out-of-domain hint
        self.files = FileActions(self.state, self.coordinator, self.settings, self, self.centralWidget().grab)
        self.autosave = Autosave(self.state, store, self.train_settings, self)
        self.runs = RunFeatures(self)
        self._poll_timer = QTimer(self)
        self._poll_timer.setInterval(POLL_INTERVAL_MS)
        self._poll_timer.timeout.connect(self._poll)
        self._build_actions()
        self._connect()
        self._safe(self.state.show_sample, 0)
        geometry = self.settings.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        self.autosave.start(offer_restore)
        self._collection.freeze_built()

    # ----------------------------------------------------------------- construction

    def _build_panels(self) -> None:
        self.canvas = DrawCanvas()
        self.input_view = InputView()
        self.prediction = PredictionView()
        self.layer_strip = LayerStrip()
        self.feature_maps = FeatureMapView()
        self.filters = FilterView()
        self.confusion = ConfusionView()
        self.editor = ArchitectureEditor()
        self.editor.set_presets(PRESETS, DEFAULT_PRESET)
        self.training = TrainingPanel(architecture=self.editor)
        self.curves = TrainingCurves()

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(_titled("Draw a digit", self.canvas, TOOLTIPS["conv"]))
        left_layout.addWidget(self.input_view, 1)
        left_layout.addWidget(self.prediction, 1)

        centre = QSplitter(Qt.Orientation.Vertical)
        centre.addWidget(self.feature_maps)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("viewTabs")
        self.tabs.addTab(self.filters, "Filters")
        self.tabs.addTab(self.confusion, "Confusion matrix")
        centre.addWidget(self.tabs)
        centre.setSizes([560, 300])
        centre_box = QWidget()
        centre_layout = QVBoxLayout(centre_box)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.addWidget(self.layer_strip)
        centre_layout.addWidget(centre, 1)

        right = QSplitter(Qt.Orientation.Vertical)
        self.right_tabs = QTabWidget()
        self.right_tabs.setObjectName("trainingTabs")
        self.right_tabs.addTab(self.training, "Training")
        right.addWidget(self.right_tabs)
        right.addWidget(self.curves)
        right.setSizes([600, 320])

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(centre_box)
        splitter.addWidget(right)
        splitter.setSizes([330, 760, 430])
        self.setCentralWidget(splitter)
        self.resize(1560, 960)

        self.messages = MessageBar()
        self.statusBar().addPermanentWidget(self.messages, 1)

    def _build_actions(self) -> None:
        files = self.files
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Open image…", QKeySequence.StandardKey.Open, files.open_image_dialog)
        self._action(file_menu, "&Paste image", QKeySequence.StandardKey.Paste, files.paste_image)
        file_menu.addSeparator()
        self._action(file_menu, "Open &checkpoint…", "Ctrl+Shift+O", files.open_checkpoint_dialog)
        self._action(file_menu, "&Save checkpoint…", QKeySequence.StandardKey.Save, files.save_checkpoint_dialog)
        self._action(file_menu, "&Follow run folder…", "Ctrl+Shift+F", self.runs.follow_dialog)
        file_menu.addSeparator()
        self._action(file_menu, "Export view as &PNG…", "Ctrl+E", files.export_png_dialog)
        self._action(file_menu, "Export activations as .&npy…", "Ctrl+Shift+E", files.export_activations_dialog)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)
        train_menu = self.menuBar().addMenu("&Training")
        self._action(train_menu, "Start / pause", "Space", lambda: self.coordinator.toggle(self.train_settings()))
        self._action(train_menu, "Step one batch", "Ctrl+T", self.step_training)
        self._action(train_menu, "Stop", "Ctrl+.", self.coordinator.stop)
        view_menu = self.menuBar().addMenu("&View")
        self._action(view_menu, "Next layer", "Right", lambda: self.state.step_layer(1))
        self._action(view_menu, "Previous layer", "Left", lambda: self.state.step_layer(-1))

    def _action(self, menu, text: str, shortcut, slot) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)
        return action

    def _connect(self) -> None:
        coordinator, panel = self.coordinator, self.training
        self.input_view.openRequested.connect(self.files.open_image_dialog)
        panel.startRequested.connect(self.start_training)
        panel.pauseRequested.connect(coordinator.pause)
        panel.stepRequested.connect(self.step_training)
        panel.stopRequested.connect(coordinator.stop)
        panel.resetRequested.connect(lambda: coordinator.reset(self.train_settings()))
        panel.datasetChanged.connect(coordinator.change_dataset)
        coordinator.state_changed.connect(self._on_training_state)
        coordinator.progressed.connect(self._on_progress)
        self.state.session_replaced.connect(self._on_session_replaced)
        self.autosave.settingsRestored.connect(self.show_train_settings)
        self.files.busy.connect(self.messages.set_busy)
        for source in (self.binder, self.files, self.autosave):
            source.error.connect(self.show_error)
            source.message.connect(self.show_message)
        coordinator.error.connect(self.show_error)
        coordinator.error.connect(lambda text: self.training.show_message(text, error=True))
        coordinator.message.connect(self.show_message)
        coordinator.busy.connect(self._on_coordinator_busy)

    # ----------------------------------------------------------------- public contract

    def current_probabilities(self) -> np.ndarray | None:
        return self.state.session.probabilities()

    def current_layer_name(self) -> str:
        return self.state.layer

    def train_settings(self) -> TrainSettings:
        panel = self.training
        return TrainSettings(
            dataset=panel.dataset_source(),
            architecture=self.editor.text(),
            optimizer=panel.optimizer(),
            lr=panel.learning_rate(),
            batch_size=panel.batch_size(),
            epochs=panel.epochs(),
            weight_decay=panel.weight_decay(),
            augment=panel.augment(),
            schedule=panel.schedule(),
            pace=panel.pace(),
        )

    def show_train_settings(self, settings: TrainSettings) -> None:
        self.training.set_optimizer_settings(
            settings.optimizer, settings.lr, settings.batch_size, settings.epochs,
            settings.weight_decay, settings.schedule, settings.augment,
        )
        self.training.set_dataset_source(settings.dataset)
        self.training.set_pace(settings.pace)
        self.editor.set_text(settings.architecture)
        self.binder.preview_architecture(settings.architecture)

    # ----------------------------------------------------------------- training

    def start_training(self) -> None:
        self.coordinator.start(self.train_settings())

    def step_training(self) -> None:
        self.coordinator.step(self.train_settings())

    def _on_training_state(self, state: TrainingState) -> None:
        self.training.set_state(state.value)
        self.editor.set_editable(state in (TrainingState.IDLE, TrainingState.FINISHED))
        if state == TrainingState.IDLE:
            step = self.state.session.step
            self.training.set_progress(0.0, f"stopped at step {step:,}" if self.state.history.steps else "")
        else:
            if not self._poll_timer.isActive():
                self._poll_timer.start()
            if state in (TrainingState.STARTING, TrainingState.PAUSED) and self.error_text():
                self.clear_message()  # a new run: the last run's error no longer applies
            if state == TrainingState.STARTING:
                self.training.set_progress(0.0, "starting…")
                self.training.show_message("")

    def _on_coordinator_busy(self, text: str) -> None:
        """A new model is being built off the GUI thread: shown, and polled for."""
        self.messages.set_busy(text)
        if text and not self._poll_timer.isActive():
            self._poll_timer.start()

    def _poll(self) -> None:
        """While training, and until the last epoch's test pass is in."""
        self.coordinator.poll()
        if self.coordinator.state == TrainingState.IDLE and not self.coordinator.settling:
            self._poll_timer.stop()

    def _on_progress(self, progress: Progress) -> None:
        self.training.set_progress(*describe_progress(progress))

    def _on_session_replaced(self) -> None:
        self.training.set_progress(0.0, "")
        self.training.show_message("")

    # ----------------------------------------------------------------- messages

    def add_view(self, title: str, widget: QWidget, reporter=None) -> None:
        """A feature's view as a tab beside the filters; its ``error``/``message`` signals reach the bar."""
        self.tabs.addTab(widget, title)
        if reporter is not None:
            reporter.error.connect(self.show_error)
            reporter.message.connect(self.show_message)

    def show_error(self, text: str) -> None:
        self.messages.show_error(text)

    def show_message(self, text: str) -> None:
        self.messages.show_message(text)

    def error_text(self) -> str:
        """The error on show, or '' when none is."""
        return self.messages.error()

    def clear_message(self) -> None:
        self.messages.clear()

    def last_message(self) -> str:
        return self.messages.history[-1] if self.messages.history else ""

    def _safe(self, intent, *args) -> None:
        try:
            intent(*args)
        except ValueError as exc:
            self.show_error(str(exc))

    # ----------------------------------------------------------------- events

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self.files.accepts(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        self.files.drop(event.mimeData())
        event.acceptProposedAction()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Right, Qt.Key.Key_Left):
            self.state.step_layer(1 if event.key() == Qt.Key.Key_Right else -1)
        else:
            super().keyPressEvent(event)

    def close_for_signal(self) -> None:
        """Ctrl-C or SIGTERM: no questions; an unsaved trained session stays offered for restore."""
        self._closing_by_signal = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        by_signal = self._closing_by_signal
        if not by_signal and not self.files.confirm_close():
            event.ignore()
            return
        self.settings.setValue("geometry", self.saveGeometry())
        self._poll_timer.stop()
        self.messages.stop()
        self.coordinator.close()
        self.runs.close()
        self.binder.close()
        self.editor.cancel_pending_edit()
        self.files.close()
        self.insight.close()
        self.autosave.close(offer_again=by_signal and self.state.unsaved_training)
        self._collection.close()  # last: a collection on a worker thread still running could hang
        super().closeEvent(event)


def _titled(title: str, widget: QWidget, tooltip: str) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    label = QLabel(f"<b>{title}</b>")
    label.setToolTip(tooltip)
    layout.addWidget(label)
    row = QHBoxLayout()
    row.addStretch(1)
    row.addWidget(widget)
    row.addStretch(1)
    layout.addLayout(row)
    return box
