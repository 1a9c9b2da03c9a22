"""Files in and out: images (open, paste, drop), checkpoints (open, save, drop), exports, and the
save-before-closing question. Reports by signal; never reaches back into the window."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QObject, QSettings, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget

from core.checkpoint import load_checkpoint, save_checkpoint
from core.image_io import load_image
from core.model_session import ModelSession
from core.viewer_state import ViewerState
from gui.qimage_convert import qimage_to_array
from gui.training_coordinator import TrainingCoordinator

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)"
CHECKPOINT_FILTER = "Convscope checkpoints (*.pt);;All files (*)"
CHECKPOINT_SUFFIX = ".pt"


class FileActions(QObject):
    message = Signal(str)
    error = Signal(str)

    def __init__(
        self,
        state: ViewerState,
        coordinator: TrainingCoordinator,
        settings: QSettings,
        dialog_parent: QWidget,
        grab: Callable[[], QPixmap],
    ) -> None:
        super().__init__(dialog_parent)
        self.state = state
        self.coordinator = coordinator
        self.settings = settings
        self._parent = dialog_parent
        self._grab = grab

    # ----------------------------------------------------------------- images

    def open_image_dialog(self) -> None:
        path = self._ask_path("Open image", "last_image_folder", IMAGE_FILTER)
        if path:
            self.load_image_file(path)

    def load_image_file(self, path: str) -> bool:
        """Load an image as the input; on any problem the previous input stays and a message says why."""
        try:
            self.state.set_image(load_image(path), Path(path).name)
        except ValueError as exc:
            self.error.emit(str(exc))
            return False
        self.settings.setValue("last_image_folder", str(Path(path).parent))
        return True

    def paste_image(self) -> None:
        mime = QApplication.clipboard().mimeData()
        if mime is not None and mime.hasUrls() and mime.urls()[0].isLocalFile():
            self.load_image_file(mime.urls()[0].toLocalFile())
            return
        image = QApplication.clipboard().image()
        if image.isNull():
            self.error.emit("the clipboard holds no image")
            return
        self._set_qimage(image, "pasted image")

    def accepts(self, mime: QMimeData) -> bool:
        return mime.hasUrls() or mime.hasImage()

    def drop(self, mime: QMimeData) -> None:
        """A file dropped on the window: a checkpoint by its suffix, anything else as an image."""
        if mime.hasUrls():
            url = mime.urls()[0]
            if not url.isLocalFile():
                self.error.emit(f"only files on this computer can be dropped, not {url.toString()[:200]}")
                return
            path = url.toLocalFile()
            if Path(path).suffix.lower() == CHECKPOINT_SUFFIX:
                self.load_checkpoint_file(path)
            else:
                self.load_image_file(path)
        elif mime.hasImage():
            self._set_qimage(QImage(mime.imageData()), "dropped image")

    def _set_qimage(self, image: QImage, caption: str) -> None:
        try:
            self.state.set_image(qimage_to_array(image), caption)
        except ValueError as exc:
            self.error.emit(f"the {caption} could not be used: {exc}")

    # ----------------------------------------------------------------- checkpoints

    def open_checkpoint_dialog(self) -> None:
        path = self._ask_path("Open checkpoint", "last_checkpoint_folder", CHECKPOINT_FILTER)
        if path:
            self.load_checkpoint_file(path)

    def load_checkpoint_file(self, path: str) -> bool:
        """Replace the model by a checkpoint's; on any problem the model in use stays."""
        try:
            checkpoint = load_checkpoint(path)
            session = ModelSession.from_checkpoint(checkpoint)
        except ValueError as exc:
            self.error.emit(str(exc))
            return False
        self.coordinator.stop()
        self.state.replace_session(session, history=checkpoint.history)
        self.settings.setValue("last_checkpoint_folder", str(Path(path).parent))
        self.message.emit(f"opened {Path(path).name}")
        return True

    def save_checkpoint_dialog(self) -> bool:
        path = self._ask_path("Save checkpoint", "last_checkpoint_folder", CHECKPOINT_FILTER, save=True)
        return bool(path) and self.save_checkpoint_to(path)

    def save_checkpoint_to(self, path: str) -> bool:
        """The live weights (a running worker's, with its optimizer state) go to the file; the views
        keep showing what they showed."""
        try:
            checkpoint = self.state.checkpoint(self.coordinator.full_state())
            save_checkpoint(path, checkpoint)
        except ValueError as exc:
            self.error.emit(str(exc))
            return False
        except OSError as exc:
            self.error.emit(f"could not save {path}: {exc.strerror or exc}")
            return False
        self.settings.setValue("last_checkpoint_folder", str(Path(path).parent))
        self.state.mark_saved()
        self.message.emit(f"saved {path}")
        return True

    def confirm_close(self) -> bool:
        """Offer to save trained weights; False means the user chose to keep the window open."""
        if not self.state.unsaved_training:
            return True
        answer = QMessageBox.question(
            self._parent,
            "Save the trained model?",
            "The model has trained since it was last saved. Save it as a checkpoint before closing?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Cancel:
            return False
        if answer == QMessageBox.StandardButton.Save:
            return self.save_checkpoint_dialog()
        return True

    # ----------------------------------------------------------------- exports

    def export_png_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self._parent, "Export view", "convscope.png", "PNG (*.png)")
        if path:
            self.export_png(path)

    def export_png(self, path: str) -> bool:
        ok = self._grab().save(path)
        (self.message if ok else self.error).emit(f"{'saved' if ok else 'could not save'} {path}")
        return ok

    def export_activations_dialog(self) -> None:
        name = f"{self.state.layer}.npy"
        path, _ = QFileDialog.getSaveFileName(self._parent, "Export activations", name, "NumPy (*.npy)")
        if path:
            self.export_activations(path)

    def export_activations(self, path: str) -> bool:
        layer = self.state.layer
        maps = self.state.session.activation(layer)
        if maps is None:
            self.error.emit("there is no input, so there are no activations to export")
            return False
        try:
            np.save(path, maps)
        except OSError as exc:
            self.error.emit(f"could not save {path}: {exc.strerror or exc}")
            return False
        self.message.emit(f"saved {layer} activations to {path}")
        return True

    def _ask_path(self, title: str, folder_key: str, filters: str, save: bool = False) -> str:
        """A file dialog that starts in the folder remembered under ``folder_key``; '' if cancelled."""
        ask = QFileDialog.getSaveFileName if save else QFileDialog.getOpenFileName
        path, _ = ask(self._parent, title, str(self.settings.value(folder_key, "")), filters)
        return path
