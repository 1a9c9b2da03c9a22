"""Nothing lost: the session is written every AUTOSAVE_INTERVAL_MS while it changes, and after a crash
the next launch offers it back. Reports by signal; the training settings come back by signal too."""
from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from core.model_session import ModelSession
from core.session_store import SavedSession, SessionStore
from core.train_settings import TrainSettings
from core.viewer_state import ViewerState

AUTOSAVE_INTERVAL_MS = 10_000


class Autosave(QObject):
    message = Signal(str)
    error = Signal(str)
    settingsRestored = Signal(object)  # TrainSettings

    def __init__(
        self,
        state: ViewerState,
        store: SessionStore,
        read_settings: Callable[[], TrainSettings],
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.store = store
        self._read_settings = read_settings
        self._parent = parent
        self._dirty = False
        for event in (
            state.input_changed, state.weights_changed, state.layer_changed, state.session_replaced, state.history_changed
        ):
            event.connect(self._mark_dirty)
        self._timer = QTimer(self)
        self._timer.setInterval(AUTOSAVE_INTERVAL_MS)
        self._timer.timeout.connect(self._save_if_changed)

    def start(self, offer_restore: bool) -> None:
        """Offer a crashed session back (if asked to), then claim the store and save periodically."""
        if offer_restore and self.store.crashed():
            self._offer_restore()
        self.store.mark_running()
        self._timer.start()

    def close(self) -> None:
        """A clean exit: a last save, and the store marked closed so no restore is offered."""
        self._timer.stop()
        self.save_now()
        self.store.mark_closed()

    def save_now(self) -> None:
        """Write model, weights, metrics, settings and input; a failure is reported, never raised."""
        state = self.state
        if state.session.architecture is None:
            return
        settings = {
            "training": self._read_settings().to_dict(),
            "layer": state.layer,
            "dataset": state.dataset_source,
            "caption": state.input.caption,
        }
        try:
            self.store.save(state.checkpoint(), settings, state.input.x)
        except OSError as exc:
            self.message.emit(f"autosave failed: {exc.strerror or exc}")
            return
        self._dirty = False

    def restore(self, saved: SavedSession) -> None:
        """Show the saved session; a part that cannot be restored is skipped and said."""
        state, settings = self.state, saved.settings
        state.replace_session(ModelSession.from_checkpoint(saved.checkpoint), history=saved.checkpoint.history)
        problems = []
        try:
            self.settingsRestored.emit(TrainSettings.from_dict(settings.get("training")))
        except ValueError as exc:
            problems.append(f"training settings ({exc})")
        dataset = str(settings.get("dataset", "mnist"))
        try:
            if dataset != state.dataset_source:
                state.change_dataset(dataset)
            if saved.input is not None:
                state.restore_input(saved.input, str(settings.get("caption", "restored input")))
        except ValueError as exc:
            problems.append(f"input ({exc})")
        if settings.get("layer") in [row.name for row in state.session.layers]:
            state.select_layer(settings["layer"])
        if problems:
            self.error.emit("restored the last session, except: " + "; ".join(problems))
        else:
            self.message.emit("restored the last session")

    def _offer_restore(self) -> None:
        try:
            saved = self.store.load()
        except ValueError as exc:
            self.error.emit(f"the last session could not be restored: {exc}")
            return
        when = time.strftime("%H:%M:%S on %d %b", time.localtime(saved.saved_at))
        answer = QMessageBox.question(
            self._parent,
            "Restore the last session?",
            f"Convscope did not close properly last time. Restore the session autosaved at {when} "
            "(model, weights, metrics and settings)?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.restore(saved)

    def _mark_dirty(self) -> None:
        self._dirty = True

    def _save_if_changed(self) -> None:
        if self._dirty:
            self.save_now()
