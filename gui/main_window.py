"""The main window: composes the panels, owns the training controller, and routes user intent.

All model state lives in a ``core.model_session.ModelSession``; this class only turns its numpy
arrays into panel updates and the panels' signals into session or controller calls.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QImage, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.architecture import DEFAULT_PRESET, PRESETS, Architecture, ArchitectureError, layer_table, parse
from core.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from core.assets import DEFAULT_CHECKPOINT
from core.data import DataError, Dataset, load_dataset, mnist_subset_raw
from core.image_io import ImageLoadError, load_image
from core.model_session import LayerRow, ModelSession
from core.preprocess import drawing_to_input, image_to_input
from core.session_store import SavedSession, SessionStore
from core.trainer import MetricsHistory, TrainConfig, confusion_matrix, evaluate
from core.training_process import HISTORY_POINTS, EpochEnd, Failure, Progress, Snapshot, TrainingJob
from core.weight_timeline import WeightTimeline
from gui.concepts import TOOLTIPS
from gui.controller import TrainingController
from gui.panels.confusion_view import ConfusionView
from gui.panels.draw_canvas import DrawCanvas
from gui.panels.feature_map_view import FeatureMapView
from gui.panels.filter_view import FilterView
from gui.panels.input_view import InputView
from gui.panels.layer_strip import LayerChip, LayerStrip
from gui.panels.prediction_view import PredictionView
from gui.panels.training_panel import TrainingPanel, TrainSettings
from gui.qimage_convert import qimage_to_array

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)"
CHECKPOINT_FILTER = "Convscope checkpoints (*.pt);;All files (*)"


AUTOSAVE_INTERVAL_MS = 10_000


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
        self.settings = settings or QSettings("Convscope", "Convscope")
        if model is None:
            opened = load_checkpoint(checkpoint or DEFAULT_CHECKPOINT)
            self.session = ModelSession.from_checkpoint(opened)
            self.history = opened.history
        else:
            self.session = model
            self.history = MetricsHistory()
        self.dataset_source = "mnist"
        self._samples: Dataset | None = None
        self._sample_index = 0
        self._browse: np.ndarray | None = None  # test-set indices of a chosen confusion cell
        self._browse_label = ""
        self._messages: list[str] = []
        self._history_dirty = True

        self.controller = TrainingController(parent=self)
        self.timeline = WeightTimeline()
        self._latest: Snapshot | None = None
        self._build_panels()
        self._build_actions()
        self._connect()
        self._history_timer = QTimer(self)
        self._history_timer.setInterval(100)
        self._history_timer.timeout.connect(self._flush_history)

        self._install_session(keep_layer=False)
        self.show_sample(0)
        self._restore_settings()

        self.store = store or SessionStore()
        self._unsaved_training = False
        if offer_restore and self.store.crashed():
            self._offer_restore()
        self.store.mark_running()
        self._autosave_dirty = False
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setInterval(AUTOSAVE_INTERVAL_MS)
        self._autosave_timer.timeout.connect(self._autosave_if_changed)
        self._autosave_timer.start()

    # ----------------------------------------------------------------- construction

    def _build_panels(self) -> None:
        self.canvas = DrawCanvas()
        self.input_view = InputView()
        self.prediction = PredictionView()
        self.layer_strip = LayerStrip()
        self.feature_maps = FeatureMapView()
        self.filters = FilterView()
        self.confusion = ConfusionView()
        self.training = TrainingPanel()
        self.training.set_presets(PRESETS, DEFAULT_PRESET)
        self.message_bar = QLabel()
        self.message_bar.setObjectName("messageBar")
        self.message_bar.setWordWrap(True)
        self.message_bar.hide()

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(_titled("Draw a digit", self.canvas, TOOLTIPS["conv"]))
        left_layout.addWidget(self.input_view, 1)
        left_layout.addWidget(self.prediction, 1)

        centre = QSplitter(Qt.Orientation.Vertical)
        centre.addWidget(self.feature_maps)
        lower = QTabWidget()
        lower.addTab(self.filters, "Filters")
        lower.addTab(self.confusion, "Confusion matrix")
        centre.addWidget(lower)
        centre.setSizes([560, 300])
        centre_box = QWidget()
        centre_layout = QVBoxLayout(centre_box)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.addWidget(self.layer_strip)
        centre_layout.addWidget(centre, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(centre_box)
        splitter.addWidget(self.training)
        splitter.setSizes([330, 760, 430])
        root = QWidget()
        root_layout = QVBoxLayout(root)
        root_layout.setContentsMargins(4, 4, 4, 4)
        root_layout.addWidget(self.message_bar)
        root_layout.addWidget(splitter, 1)
        self.setCentralWidget(root)
        self.resize(1560, 960)

    def _build_actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Open image…", QKeySequence.StandardKey.Open, self.open_image_dialog)
        self._action(file_menu, "&Paste image", QKeySequence.StandardKey.Paste, self.paste_image)
        file_menu.addSeparator()
        self._action(file_menu, "Open &checkpoint…", "Ctrl+Shift+O", self.open_checkpoint_dialog)
        self._action(file_menu, "&Save checkpoint…", QKeySequence.StandardKey.Save, self.save_checkpoint_dialog)
        file_menu.addSeparator()
        self._action(file_menu, "Export view as &PNG…", "Ctrl+E", self.export_png_dialog)
        self._action(file_menu, "Export activations as .&npy…", "Ctrl+Shift+E", self.export_activations_dialog)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)
        train_menu = self.menuBar().addMenu("&Training")
        self._action(train_menu, "Start / pause", "Space", self.toggle_training)
        self._action(train_menu, "Step one batch", "Ctrl+T", self.step_training)
        self._action(train_menu, "Stop", "Ctrl+.", self.stop_training)
        view_menu = self.menuBar().addMenu("&View")
        self._action(view_menu, "Next layer", "Right", lambda: self.layer_strip.step(1))
        self._action(view_menu, "Previous layer", "Left", lambda: self.layer_strip.step(-1))

    def _action(self, menu, text: str, shortcut, slot) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)
        return action

    def _connect(self) -> None:
        self.canvas.drawingChanged.connect(self.set_drawing)
        self.canvas.cleared.connect(self._drawing_cleared)
        self.input_view.previousRequested.connect(lambda: self.show_sample(self._sample_index - 1))
        self.input_view.nextRequested.connect(lambda: self.show_sample(self._sample_index + 1))
        self.input_view.randomRequested.connect(self.show_random_sample)
        self.input_view.openRequested.connect(self.open_image_dialog)
        self.confusion.evaluateRequested.connect(self.evaluate_test_set)
        self.confusion.cellChosen.connect(self.browse_confusion_cell)
        self.confusion.showAllRequested.connect(self.browse_all_samples)
        self.layer_strip.layerSelected.connect(lambda _index: self._refresh_layer())
        self.feature_maps.unitHovered.connect(self.show_unit_receptive_field)
        self.feature_maps.unitClicked.connect(self.show_unit_receptive_field)
        self.feature_maps.unitLeft.connect(self.input_view.clear_receptive_field)
        self.training.architectureEdited.connect(self.preview_architecture)
        self.training.datasetChanged.connect(self.change_dataset)
        self.training.startRequested.connect(self.start_training)
        self.training.pauseRequested.connect(self.controller.pause)
        self.training.stepRequested.connect(self.step_training)
        self.training.stopRequested.connect(self.stop_training)
        self.training.resetRequested.connect(self.reset_weights)
        self.training.timelineMoved.connect(self.look_back)
        self.controller.progressed.connect(self._on_progress)
        self.controller.weightsUpdated.connect(self._on_weights)
        self.controller.epochEnded.connect(self._on_epoch_end)
        self.controller.failed.connect(self._on_failure)
        self.controller.stateChanged.connect(self._on_training_state)

    # ----------------------------------------------------------------- public contract

    def current_probabilities(self) -> np.ndarray | None:
        return self.session.probabilities()

    def current_layer_name(self) -> str:
        return self.session.layers[self.layer_strip.current_index()].name

    def current_layer(self) -> LayerRow:
        return self.session.layers[self.layer_strip.current_index()]

    def last_message(self) -> str:
        return self._messages[-1] if self._messages else ""

    # ----------------------------------------------------------------- model

    def _install_session(self, keep_layer: bool = True) -> None:
        """Show a new model: layer chips, architecture text, and everything derived from the input."""
        previous = self.current_layer_name() if keep_layer and self.layer_strip.current_index() >= 0 else None
        chips = [_chip(row) for row in self.session.layers]
        names = [row.name for row in self.session.layers]
        index = names.index(previous) if previous in names else _first_conv(self.session.layers)
        self.layer_strip.set_layers(chips, index)
        if self.session.architecture is not None:
            text = self.session.architecture.to_text()
            self.training.set_architecture_text(text)
            self.preview_architecture(text)
        else:
            self.training.show_architecture_table([
                _table_row(r.name, r.kind, r.output_shape, r.params, r.rf.size, r.rf.size_w, r.rf.spatial)
                for r in self.session.layers
            ])
        self._samples = None
        self._browse = None
        self.confusion.set_browsing_cell(False)
        self.timeline.clear()
        self.training.set_timeline([])
        self._history_dirty = True
        self._flush_history()

    def _refresh(self) -> None:
        """Re-render everything that depends on the input or the weights."""
        self._autosave_dirty = True
        probabilities = self.session.probabilities()
        if probabilities is None:
            self.prediction.clear("Draw a digit or pick a sample")
        else:
            self.prediction.set_probabilities(probabilities, self.session.classes)
        self._refresh_layer()

    def _refresh_layer(self) -> None:
        row = self.current_layer()
        inspection = self.session.inspection
        if inspection is not None and row.name in inspection.activations:
            self.feature_maps.set_maps(inspection.activations[row.name], row.name)
        filters = self.session.filters()
        source = self._filters_behind(row.name, filters)
        if source is None:
            self.filters.show_message(
                f"{row.name} ({row.kind}) has {row.params:,} weights but no filters: "
                "each unit is a weighted sum of every input, not a small patch"
                if row.params else f"{row.name} has no weights, and no conv layer comes before it"
            )
        else:
            title = source if source == row.name else f"{source} (its maps feed {row.name})"
            self.filters.set_filters(filters[source], title, first_layer=source == next(iter(filters)))
        self.input_view.clear_receptive_field()

    def _filters_behind(self, layer: str, filters: dict[str, np.ndarray]) -> str | None:
        """The layer's own filters, or those of the nearest conv before it up to the flatten."""
        names = [row.name for row in self.session.layers]
        for row in reversed(self.session.layers[: names.index(layer) + 1]):
            if row.name in filters:
                return row.name
            if not row.rf.spatial:
                return None
        return None

    def show_unit_receptive_field(self, channel: int, row: int, col: int) -> None:
        layer = self.current_layer()
        if self.session.input is None:
            return
        if layer.rf.spatial:
            box = self.session.unit_box(layer.name, row, col)
            clipped = (box.top, box.left, box.bottom, box.right)
            full = (box.full_top, box.full_left, box.full_bottom, box.full_right)
            erf = self.session.effective_receptive_field(layer.name, channel, row, col)
        else:
            _, h, w = self.session.input_shape
            clipped = full = (0, 0, h, w)
            erf = self.session.effective_receptive_field(layer.name, channel, 0, 0)
        self.input_view.show_receptive_field(clipped, full, erf)

    # ----------------------------------------------------------------- input

    def set_drawing(self, drawing: np.ndarray) -> None:
        if self.session.input_shape == (1, 28, 28):
            x = drawing_to_input(drawing, self.session.normalization)
        else:
            x = image_to_input(drawing, self.session.input_shape, self.session.normalization) if drawing.any() else None
        self.session.set_input(x)
        self.input_view.set_images(drawing, self.session.display_input())
        self.input_view.set_caption("your drawing")
        self._refresh()

    def _drawing_cleared(self) -> None:
        self.session.set_input(None)
        self.input_view.set_images(None, None)
        self.input_view.set_caption("")
        self._refresh()

    def samples(self) -> Dataset:
        if self._samples is None:
            self._samples = load_dataset(self.dataset_source, "test", self.session.input_shape)
        return self._samples

    def show_sample(self, position: int) -> None:
        """Show a test example: the position counts through the whole test set, or through a chosen cell."""
        try:
            samples = self.samples()
        except DataError as exc:
            self.show_error(str(exc))
            return
        order = self._browse if self._browse is not None else np.arange(len(samples))
        self._sample_index = position % len(order)
        index = int(order[self._sample_index])
        x = samples.images[index]
        if x.shape != self.session.input_shape:
            self.show_error(f"the samples are {x.shape}, the model takes {self.session.input_shape}")
            return
        self.session.set_input(x)
        self.input_view.set_images(self._original_sample(index), self.session.display_input())
        label = samples.classes[samples.labels[index]]
        where = f"test sample {index + 1} / {len(samples)} — true label {label}"
        if self._browse is not None:
            where = f"{self._browse_label}: {self._sample_index + 1} of {len(order)} ({where})"
        self.input_view.set_caption(where)
        self._refresh()

    def show_random_sample(self) -> None:
        count = len(self._browse) if self._browse is not None else len(self.samples())
        self.show_sample(int(np.random.default_rng().integers(count)))

    def evaluate_test_set(self) -> None:
        """Accuracy and confusion matrix of the weights shown now on the whole test set."""
        try:
            samples = self.samples()
        except DataError as exc:
            self.show_error(str(exc))
            return
        if len(samples.classes) != len(self.session.classes):
            self.show_error(f"the test set has {len(samples.classes)} classes, the model {len(self.session.classes)}")
            return
        accuracy, predicted = evaluate(self.session.model, samples)
        self._predicted = predicted
        correct = int((predicted == samples.labels).sum())
        self.confusion.set_matrix(
            confusion_matrix(samples.labels, predicted, len(samples.classes)),
            samples.classes,
            f"accuracy {accuracy:.1%} ({correct}/{len(samples)}) on the test set with the weights of step "
            f"{self.session.step}. Click a cell to browse its examples.",
        )

    def browse_confusion_cell(self, true: int, predicted: int) -> None:
        samples = self.samples()
        self._browse = np.flatnonzero((samples.labels == true) & (self._predicted == predicted))
        self._browse_label = f"true {samples.classes[true]}, predicted {samples.classes[predicted]}"
        self.confusion.set_browsing_cell(True)
        self.show_sample(0)

    def browse_all_samples(self) -> None:
        self._browse = None
        self.confusion.set_browsing_cell(False)
        self.show_sample(0)

    def _original_sample(self, index: int) -> np.ndarray:
        if self.dataset_source == "mnist":
            images, _ = mnist_subset_raw("test")
            return images[index].astype(np.float32) / 255.0
        return self._model_view_as_image()

    def _model_view_as_image(self) -> np.ndarray:
        """The model's input as an (H, W) or (H, W, 3) picture, for inputs that have no other original."""
        display = self.session.display_input()
        return display[0] if display.shape[0] == 1 else np.moveaxis(display, 0, -1)

    def load_image_file(self, path: str) -> bool:
        """Load an image as the input; on any problem the previous input stays and a message says why."""
        try:
            image = load_image(path)
            x = image_to_input(image, self.session.input_shape, self.session.normalization)
        except (ImageLoadError, ValueError) as exc:
            self.show_error(str(exc))
            return False
        self.settings.setValue("last_image_folder", str(Path(path).parent))
        self.set_image(image, Path(path).name, x)
        return True

    def set_image(self, image: np.ndarray, caption: str, x: np.ndarray | None = None) -> None:
        if x is None:
            x = image_to_input(image, self.session.input_shape, self.session.normalization)
        self.session.set_input(x)
        self.input_view.set_images(image, self.session.display_input())
        self.input_view.set_caption(caption)
        self._refresh()

    def _ask_path(self, title: str, folder_key: str, filters: str, save: bool = False) -> str:
        """A file dialog that starts in the folder remembered under ``folder_key``; '' if cancelled."""
        ask = QFileDialog.getSaveFileName if save else QFileDialog.getOpenFileName
        path, _ = ask(self, title, str(self.settings.value(folder_key, "")), filters)
        return path

    def open_image_dialog(self) -> None:
        path = self._ask_path("Open image", "last_image_folder", IMAGE_FILTER)
        if path:
            self.load_image_file(path)

    def paste_image(self) -> None:
        clipboard = QApplication.clipboard()
        mime = clipboard.mimeData()
        if mime is not None and mime.hasUrls() and mime.urls()[0].isLocalFile():
            self.load_image_file(mime.urls()[0].toLocalFile())
            return
        image = clipboard.image()
        if image.isNull():
            self.show_error("the clipboard holds no image")
            return
        try:
            self.set_image(qimage_to_array(image), "pasted image")
        except ValueError as exc:
            self.show_error(str(exc))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        mime = event.mimeData()
        if mime.hasUrls():
            path = mime.urls()[0].toLocalFile()
            if path.endswith(".pt"):
                self.load_checkpoint_file(path)
            else:
                self.load_image_file(path)
        elif mime.hasImage():
            try:
                self.set_image(qimage_to_array(QImage(mime.imageData())), "dropped image")
            except ValueError as exc:
                self.show_error(f"the dropped image could not be used: {exc}")
        event.acceptProposedAction()

    # ----------------------------------------------------------------- training

    def preview_architecture(self, text: str) -> None:
        try:
            rows = layer_table(text)
        except ArchitectureError as exc:
            self.training.show_architecture_error(str(exc))
            return
        self.training.show_architecture_table(
            [
                _table_row(r.name, r.kind, r.output_shape, r.params, r.rf_size, r.rf_size, spatial=r.rf_jump > 0)
                for r in rows
            ]
        )

    def change_dataset(self, source: str) -> None:
        if self.controller.active:
            self.controller.stop()
            self.show_message("training stopped: the data set changed")
        self.dataset_source = source
        self._samples = None
        self._browse = None
        self.confusion.set_browsing_cell(False)
        self.show_sample(0)

    def _job(self, with_weights: bool) -> TrainingJob | None:
        """A training job from the panel's settings; a new architecture gets fresh weights and metrics."""
        settings = self.training.settings()
        try:
            architecture = parse(settings.architecture)
            config = TrainConfig(
                optimizer=settings.optimizer, lr=settings.lr, batch_size=settings.batch_size, epochs=settings.epochs
            )
        except (ArchitectureError, ValueError) as exc:
            self.show_error(str(exc))
            return None
        if self.session.architecture is None:
            self.show_error(
                "this model was loaded from your code, so it can be inspected but not trained here: "
                "press Reset weights to switch to the architecture in the editor"
            )
            return None
        if settings.dataset != self.dataset_source:
            self.change_dataset(settings.dataset)
        if architecture != self.session.architecture:
            if not self._new_session(architecture):
                return None
        return TrainingJob(
            architecture=architecture.to_text(),
            dataset=settings.dataset,
            config=config,
            weights=self.session.weights() if with_weights else None,
            history=self.history.to_dict(),
            start_step=self.history.steps[-1] if self.history.steps else 0,
        )

    def _new_session(self, architecture: Architecture, seed: int = 0) -> bool:
        """Random weights for ``architecture``, with the current data set's classes and normalization."""
        try:
            samples = load_dataset(self.dataset_source, "test", architecture.input_shape)
        except DataError as exc:
            self.show_error(str(exc))
            return False
        if len(samples.classes) == architecture.num_classes:
            classes = samples.classes
        else:
            classes = tuple(str(i) for i in range(architecture.num_classes))
        self.history = MetricsHistory()
        self._replace_session(ModelSession.from_architecture(architecture, classes, samples.normalization, seed))
        return True

    def start_training(self) -> None:
        if self.controller.state == "paused" and self.controller.active:
            self.controller.resume()
            return
        job = self._job(with_weights=True)
        if job is not None:
            self._start_look_back()
            self.controller.start(job)
            self._history_timer.start()

    def _start_look_back(self) -> None:
        """A run's timeline starts with the weights it starts from; the view goes live."""
        self.training.set_timeline_position(-1)
        self._latest = None
        self._keep_for_look_back(self.session.step, self.session.weights())

    def toggle_training(self) -> None:
        if self.controller.state in ("running", "starting"):
            self.controller.pause()
        else:
            self.start_training()

    def step_training(self) -> None:
        if not self.controller.active:
            job = self._job(with_weights=True)
            if job is None:
                return
            self._start_look_back()
            self.controller.prepare(job)
            self._history_timer.start()
        self.controller.step()

    def stop_training(self) -> None:
        self.controller.stop()

    def reset_weights(self) -> None:
        """Fresh random weights for the architecture in the editor; the metrics start over."""
        self.controller.stop()
        try:
            architecture = parse(self.training.architecture_text())
        except ArchitectureError as exc:
            self.show_error(str(exc))
            return
        if self._new_session(architecture, seed=int(np.random.default_rng().integers(2**31))):
            self.show_message("weights reset to random values")

    def _replace_session(self, session: ModelSession) -> None:
        x = self.session.input
        self.session = session
        if x is not None and x.shape == session.input_shape:
            session.set_input(x)
        self._install_session()
        if session.input is None:
            self.show_sample(0)
        else:
            self._refresh()

    def _on_progress(self, progress: Progress) -> None:
        delta = progress.new_history
        if "drop_after" in delta:
            self.history.drop_after(delta["drop_after"])
        self.history.extend(MetricsHistory.from_dict(delta))
        self.history.thin(HISTORY_POINTS)
        self._history_dirty = True
        self._unsaved_training = True
        epoch = min(progress.epoch + 1, max(1, progress.total_steps // max(1, progress.batches_per_epoch)))
        rate = f"{progress.samples_per_s:,.0f} samples/s" if progress.samples_per_s > 0 else progress.state
        eta = f" · {progress.eta_s:.0f} s left" if np.isfinite(progress.eta_s) else ""
        self.training.set_progress(
            progress.step / max(1, progress.total_steps),
            f"epoch {epoch} · batch {progress.batch}/{progress.batches_per_epoch} · {rate}{eta}",
        )

    def _on_epoch_end(self, epoch_end: EpochEnd) -> None:
        """Test accuracy of the epoch's weights, measured here so the worker never stops for it."""
        try:
            accuracy = self.session.accuracy_with(epoch_end.weights, self.samples())
        except (DataError, RuntimeError) as exc:
            self.show_error(f"could not measure test accuracy: {exc}")
            return
        self.history.test_steps.append(epoch_end.step)
        self.history.test_accuracy.append(accuracy)
        self._history_dirty = True
        self._keep_for_look_back(epoch_end.step, epoch_end.weights)

    def _flush_history(self) -> None:
        if not self._history_dirty:
            return
        self._history_dirty = False
        h = self.history
        self.training.set_history(
            np.asarray(h.steps, float), np.asarray(h.loss, float), np.asarray(h.accuracy, float),
            np.asarray(h.test_steps, float), np.asarray(h.test_accuracy, float),
        )

    def _on_weights(self, snapshot: Snapshot) -> None:
        self._latest = snapshot
        if self.training.timeline_position() == -1:  # frozen while the user looks back
            self.session.load_weights(snapshot.weights, snapshot.step)
            self._refresh()

    def look_back(self, index: int) -> None:
        """Show the weights kept at an earlier step (index into the timeline), or the live ones (-1)."""
        if index < 0:
            if self._latest is not None:
                self.session.load_weights(self._latest.weights, self._latest.step)
            self.show_message("showing the live weights")
        else:
            entry = self.timeline.at(index)
            self.session.load_weights(entry.weights, entry.step)
            self.show_message(f"showing the weights of step {entry.step:,}; the slider's right end is live")
        self._refresh()

    def _keep_for_look_back(self, step: int, weights: dict[str, np.ndarray]) -> None:
        if self.timeline.add(step, weights):
            self.training.set_timeline(self.timeline.steps())

    def _on_failure(self, failure: Failure) -> None:
        self.show_error(failure.message)
        self.training.show_message(failure.message, error=True)

    def _on_training_state(self, state: str) -> None:
        self.training.set_state("running" if state == "starting" else state)
        if state == "idle":
            self._history_timer.stop()
            self._flush_history()

    # ----------------------------------------------------------------- files

    def current_checkpoint(self) -> Checkpoint:
        state = self.controller.full_state() if self.controller.active else None
        if state is not None:
            self.session.load_weights(state.weights, state.step)
        return Checkpoint(
            architecture=self.session.architecture,
            state={k: torch.from_numpy(v) for k, v in self.session.weights().items()},
            classes=self.session.classes,
            normalization=self.session.normalization,
            history=self.history,
            optimizer_state=state.optimizer_state if state is not None else None,
            dataset=self.dataset_source,
        )

    def save_checkpoint_to(self, path: str) -> bool:
        if self.session.architecture is None:
            self.show_error("a model loaded from your code has no layer-pattern text to save; save its state_dict instead")
            return False
        try:
            save_checkpoint(path, self.current_checkpoint())
        except OSError as exc:
            self.show_error(f"could not save {path}: {exc.strerror or exc}")
            return False
        self.settings.setValue("last_checkpoint_folder", str(Path(path).parent))
        self._unsaved_training = False
        self.show_message(f"saved {path}")
        return True

    def load_checkpoint_file(self, path: str) -> bool:
        """Replace the model by a checkpoint's; on any problem the model in use stays."""
        try:
            checkpoint = load_checkpoint(path)
            session = ModelSession.from_checkpoint(checkpoint)
        except CheckpointError as exc:
            self.show_error(str(exc))
            return False
        self.controller.stop()
        self.history = MetricsHistory.from_dict(checkpoint.history.to_dict())
        self._unsaved_training = False
        self._replace_session(session)
        self.settings.setValue("last_checkpoint_folder", str(Path(path).parent))
        self.show_message(f"opened {Path(path).name}")
        return True

    def open_checkpoint_dialog(self) -> None:
        path = self._ask_path("Open checkpoint", "last_checkpoint_folder", CHECKPOINT_FILTER)
        if path:
            self.load_checkpoint_file(path)

    def save_checkpoint_dialog(self) -> None:
        path = self._ask_path("Save checkpoint", "last_checkpoint_folder", CHECKPOINT_FILTER, save=True)
        if path:
            self.save_checkpoint_to(path)

    def export_png(self, path: str) -> bool:
        ok = self.centralWidget().grab().save(path)
        (self.show_message if ok else self.show_error)(f"{'saved' if ok else 'could not save'} {path}")
        return ok

    def export_activations(self, path: str) -> bool:
        inspection = self.session.inspection
        if inspection is None:
            self.show_error("there is no input, so there are no activations to export")
            return False
        try:
            np.save(path, inspection.activations[self.current_layer_name()])
        except OSError as exc:
            self.show_error(f"could not save {path}: {exc.strerror or exc}")
            return False
        self.show_message(f"saved {self.current_layer_name()} activations to {path}")
        return True

    def export_png_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export view", "convscope.png", "PNG (*.png)")
        if path:
            self.export_png(path)

    def export_activations_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export activations", f"{self.current_layer_name()}.npy", "NumPy (*.npy)")
        if path:
            self.export_activations(path)

    # ----------------------------------------------------------------- messages, settings, close

    def show_error(self, text: str) -> None:
        self._messages.append(text)
        self.message_bar.setStyleSheet("background:#fde2e1;color:#8a1c1c;padding:4px;border-radius:3px;")
        self.message_bar.setText(f"⚠ {text}")
        self.message_bar.show()

    def show_message(self, text: str) -> None:
        self._messages.append(text)
        self.statusBar().showMessage(text, 8000)

    def _restore_settings(self) -> None:
        geometry = self.settings.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Right:
            self.layer_strip.step(1)
        elif event.key() == Qt.Key.Key_Left:
            self.layer_strip.step(-1)
        else:
            super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._unsaved_training and not self._confirm_close():
            event.ignore()
            return
        self.settings.setValue("geometry", self.saveGeometry())
        self._history_timer.stop()
        self._autosave_timer.stop()
        self.controller.stop()
        self.autosave_now()
        self.store.mark_closed()
        super().closeEvent(event)

    def _confirm_close(self) -> bool:
        """Offer to save trained weights; False means the user chose to keep the window open."""
        answer = QMessageBox.question(
            self,
            "Save the trained model?",
            "The model has trained since it was last saved. Save it as a checkpoint before closing?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Cancel:
            return False
        if answer == QMessageBox.StandardButton.Save:
            path = self._ask_path("Save checkpoint", "last_checkpoint_folder", CHECKPOINT_FILTER, save=True)
            return bool(path) and self.save_checkpoint_to(path)
        return True

    # ----------------------------------------------------------------- autosave

    def session_settings(self) -> dict:
        return {
            "training": asdict(self.training.settings()),
            "layer": self.current_layer_name(),
            "dataset": self.dataset_source,
            "caption": self.input_view.caption.text(),
        }

    def autosave_now(self) -> None:
        """Write model, weights, metrics, settings and input; a failure is reported, never raised."""
        if self.session.architecture is None:
            return
        checkpoint = Checkpoint(
            architecture=self.session.architecture,
            state={k: torch.from_numpy(v) for k, v in self.session.weights().items()},
            classes=self.session.classes,
            normalization=self.session.normalization,
            history=self.history,
            dataset=self.dataset_source,
        )
        try:
            self.store.save(checkpoint, self.session_settings(), self.session.input)
        except OSError as exc:
            self.show_message(f"autosave failed: {exc.strerror or exc}")
            return
        self._autosave_dirty = False

    def _autosave_if_changed(self) -> None:
        if self._autosave_dirty:
            self.autosave_now()

    def _offer_restore(self) -> None:
        try:
            saved = self.store.load()
        except CheckpointError as exc:
            self.show_error(f"the last session could not be restored: {exc}")
            return
        when = time.strftime("%H:%M:%S on %d %b", time.localtime(saved.saved_at))
        answer = QMessageBox.question(
            self,
            "Restore the last session?",
            f"Convscope did not close properly last time. Restore the session autosaved at {when} "
            "(model, weights, metrics and settings)?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.restore_session(saved)

    def restore_session(self, saved: SavedSession) -> None:
        settings = saved.settings
        self.history = MetricsHistory.from_dict(saved.checkpoint.history.to_dict())
        self.dataset_source = str(settings.get("dataset", "mnist"))
        self._replace_session(ModelSession.from_checkpoint(saved.checkpoint))
        try:
            self.training.set_settings(TrainSettings(**settings["training"]))
        except (KeyError, TypeError, ValueError):
            self.show_error("the autosaved training settings were unreadable; the defaults are shown")
        if saved.input is not None and saved.input.shape == self.session.input_shape:
            self.session.set_input(saved.input)
            self.input_view.set_images(self._model_view_as_image(), self.session.display_input())
            self.input_view.set_caption(str(settings.get("caption", "restored input")))
        names = [row.name for row in self.session.layers]
        if settings.get("layer") in names:
            self.layer_strip.set_current(names.index(settings["layer"]))
        self._refresh()
        self.show_message("restored the last session")


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


def _table_row(
    name: str, kind: str, shape: tuple[int, ...], params: int, rf_h: int, rf_w: int, spatial: bool
) -> tuple[str, str, str, str, str]:
    """One row of the architecture table; units after the flatten see the whole input."""
    return name, kind, "x".join(map(str, shape)), f"{params:,}", f"{rf_h}x{rf_w}" if spatial else "all"


def _chip(row: LayerRow) -> LayerChip:
    shape = "x".join(map(str, row.output_shape))
    rf = f"RF {row.rf.size}" if row.rf.spatial else "RF all"
    tip = TOOLTIPS.get({"maxpool": "pooling", "avgpool": "pooling"}.get(row.kind, row.kind), "")
    return LayerChip(name=row.name, kind=row.kind, shape=shape, rf=rf, tooltip=f"{row.name}: {shape}, {row.params:,} parameters. {tip}")


def _first_conv(layers: list[LayerRow]) -> int:
    return next((i for i, row in enumerate(layers) if row.kind == "conv"), 0)
