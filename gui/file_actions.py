"""Files in and out: images (open, paste, drop), checkpoints (open, save, drop), exports, and the
save-before-closing question. Reports by signal; never reaches back into the window.

Opening runs off the GUI thread (a 7000x7000 PNG takes over a second to decode, a big checkpoint to
check and build): ``busy`` says what is being opened while the window keeps answering, and the newest
file opened wins.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QObject, QSettings, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget

from core.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from core.image_io import DISPLAY_PIXELS, load_image
from core.model_session import ModelSession
from core.preprocess import Normalization
from core.viewer_state import ShownInput, ViewerState, image_input
from gui.background import BackgroundTask, Progress
from gui.panels.input_view import display_original
from gui.qimage_convert import qimage_to_array
from gui.training_coordinator import TrainingCoordinator

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)"
CHECKPOINT_FILTER = "Convscope checkpoints (*.pt);;All files (*)"
CHECKPOINT_SUFFIX = ".pt"


class FileActions(QObject):
    message = Signal(str)
    error = Signal(str)
    busy = Signal(str)  # what is being opened, or "" when nothing is

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
        self._opening = BackgroundTask("open-file", self)
        self._opening.finished.connect(self._opened)
        self._opening.failed.connect(self.error)
        self._opening.busyChanged.connect(lambda busy: busy or self.busy.emit(""))

    @property
    def opening(self) -> bool:
        """A file is being read off the GUI thread."""
        return self._opening.busy

    def close(self) -> None:
        self._opening.close()

    # ----------------------------------------------------------------- images

    def open_image_dialog(self) -> None:
        path = self._ask_path("Open image", "last_image_folder", IMAGE_FILTER)
        if path:
            self.load_image_file(path)

    def load_image_file(self, path: str) -> None:
        """Load an image as the input, off the GUI thread; on any problem the previous input stays and a
        message says why."""
        session = self.state.session
        self.busy.emit(f"opening {Path(path).name}…")
        self._opening.start(_read_image, path, session.input_shape, session.normalization)

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
        """Pixels handed over by another program: shrunk in Qt first (fast) if huge, then prepared off
        the GUI thread like a file."""
        if image.width() * image.height() > DISPLAY_PIXELS:
            scale = (DISPLAY_PIXELS / (image.width() * image.height())) ** 0.5
            image = image.scaled(max(1, int(image.width() * scale)), max(1, int(image.height() * scale)))
        try:
            pixels = qimage_to_array(image)
        except ValueError as exc:
            self.error.emit(f"the {caption} could not be used: {exc}")
            return
        session = self.state.session
        self.busy.emit(f"preparing the {caption}…")
        self._opening.start(_prepare_pixels, pixels, caption, session.input_shape, session.normalization)

    # ----------------------------------------------------------------- checkpoints

    def open_checkpoint_dialog(self) -> None:
        path = self._ask_path("Open checkpoint", "last_checkpoint_folder", CHECKPOINT_FILTER)
        if path:
            self.load_checkpoint_file(path)

    def load_checkpoint_file(self, path: str) -> None:
        """Replace the model by a checkpoint's, read and built off the GUI thread; on any problem the
        model in use stays and a message says why."""
        self.busy.emit(f"opening {Path(path).name}…")
        self._opening.start(_read_checkpoint, path)

    def _opened(self, opened: "_Opened") -> None:
        """Back on the GUI thread: show what was read."""
        if isinstance(opened.content, ShownInput):
            self.state.show_input(opened.content)
            if opened.path:
                self.settings.setValue("last_image_folder", str(Path(opened.path).parent))
            return
        checkpoint, session = opened.content
        self.coordinator.stop()
        self.state.replace_session(session, history=checkpoint.history)
        self.settings.setValue("last_checkpoint_folder", str(Path(opened.path).parent))
        self.message.emit(f"opened {Path(opened.path).name}")

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


@dataclass(frozen=True)
class _Opened:
    path: str
    content: ShownInput | tuple[Checkpoint, ModelSession]


def _read_image(
    _progress: Progress, path: str, input_shape: tuple[int, int, int], normalization: Normalization
) -> _Opened:
    """Worker thread: decode (large images at about a megapixel), fit to the model's input, and shrink for
    display."""
    return _Opened(path, _with_thumbnail(image_input(load_image(path), Path(path).name, input_shape, normalization)))


def _prepare_pixels(
    _progress: Progress, pixels: np.ndarray, caption: str, input_shape: tuple[int, int, int], normalization: Normalization
) -> _Opened:
    return _Opened("", _with_thumbnail(image_input(pixels, caption, input_shape, normalization)))


def _with_thumbnail(shown: ShownInput) -> ShownInput:
    return replace(shown, thumbnail=display_original(shown.original))


def _read_checkpoint(_progress: Progress, path: str) -> _Opened:
    """Worker thread: validate, load and build a model of its own (nothing shared with the GUI's)."""
    checkpoint = load_checkpoint(path)
    return _Opened(path, (checkpoint, ModelSession.from_checkpoint(checkpoint)))
