"""Nothing lost: the session is written every AUTOSAVE_INTERVAL_MS while it changes, and after a crash
the next launch offers it back. Reports by signal; the training settings come back by signal too.

Each window claims its own slot (``SessionStore.claim``), so two windows never overwrite each other's
session, and a crash of either is offered on the next launch. An autosave that cannot be restored, for
whatever reason, is moved aside (kept, not deleted) and the window starts fresh: it never stops the app.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from core.checkpoint import Checkpoint
from core.model_session import ModelSession
from core.session_store import SETTINGS_FILE, SavedSession, SessionStore
from core.train_settings import TrainSettings
from core.viewer_state import ViewerState
from gui.background import BackgroundTask

AUTOSAVE_INTERVAL_MS = 10_000


class Autosave(QObject):
    message = Signal(str)
    error = Signal(str)
    settingsRestored = Signal(object)  # TrainSettings

    def __init__(
        self,
        state: ViewerState,
        store: SessionStore | None,
        read_settings: Callable[[], TrainSettings],
        parent: QWidget,
    ) -> None:
        """``store``: a given folder (tests), or None to claim this window's own slot."""
        super().__init__(parent)
        self.state = state
        self.store = store
        self._claimed = store is None
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
        # The periodic save writes its files off the GUI thread (15-60 ms of torch.save and fsync-free
        # writes otherwise, landing in the middle of whatever the user does).
        self._writing: BackgroundTask | None = BackgroundTask("autosave", self)  # None once closed
        self._writing.failed.connect(self._write_failed)

    def start(self, offer_restore: bool) -> None:
        """Claim a slot, offer a crashed session back (if asked to), then save periodically."""
        if self.store is None:
            try:
                self.store = SessionStore.claim()
            except OSError as exc:
                self.error.emit(f"autosave is off: {exc.strerror or exc}")
                return
        if offer_restore:
            crashed = [self.store] if self.store.crashed() else []
            if self._claimed:
                crashed += [other for other in SessionStore.crashed_slots() if other.folder != self.store.folder]
            if crashed:
                self._offer_restore(max(crashed, key=_saved_at))
        try:
            self.store.mark_running()
        except OSError as exc:
            self.error.emit(f"autosave is off: {exc.strerror or exc}")
            return
        self._timer.start()

    def close(self, offer_again: bool = False) -> None:
        """A last save and the slot given up; marked closed (nothing offered next time) unless
        ``offer_again``: a session the user never saved, ended by Ctrl-C, is offered on the next launch."""
        self._timer.stop()
        if self.store is None:
            return
        self.save_now()
        if self._writing is not None:
            self._writing.close()
            self._writing = None
        if not offer_again:
            try:
                self.store.mark_closed()
            except OSError:
                pass  # the next launch offers this session once more: nothing is lost
        self.store.release()

    def save_now(self) -> None:
        """Write model, weights, metrics, settings and input now (a periodic write under way ends first);
        a failure is reported, never raised."""
        if self._writing is not None:
            self._writing.wait()
        what = self._what_to_save()
        if what is None:
            return
        try:
            self.store.save(*what)
        except (OSError, ValueError) as exc:
            self._write_failed(getattr(exc, "strerror", None) or str(exc))
            return
        self._dirty = False

    def _what_to_save(self) -> tuple[Checkpoint, dict, object] | None:
        """A copy of the session as it is now: a write on another thread never sees later changes."""
        state = self.state
        if self.store is None or state.session.architecture is None:
            return None
        settings = {
            "training": self._read_settings().to_dict(),
            "layer": state.layer,
            "dataset": state.dataset_source,
            "caption": state.input.caption,
        }
        image = None if state.input.x is None else state.input.x.copy()
        return state.checkpoint(), settings, image

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

    def _offer_restore(self, crashed: SessionStore) -> None:
        """Any failure, however it fails, moves the bad autosave aside and the window starts fresh."""
        try:
            saved = crashed.load()
        except Exception as exc:  # noqa: BLE001 - an autosave must never stop the app from starting
            self._set_aside(crashed, exc)
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
            try:
                self.restore(saved)
            except Exception as exc:  # noqa: BLE001 - the window keeps the model it started with
                self._set_aside(crashed, exc)
                return
        if crashed is not self.store:
            crashed.mark_closed()  # offered once; its files stay where they are

    def _set_aside(self, crashed: SessionStore, problem: Exception) -> None:
        reason = str(problem).strip().splitlines()[0] if str(problem).strip() else type(problem).__name__
        try:
            where = f"; it was moved to {crashed.move_aside()}"
        except OSError as exc:
            where = f"; it could not be moved aside ({exc.strerror or exc})"
            crashed.mark_closed()
        self.error.emit(f"the last session could not be restored: {reason}{where}")

    def _mark_dirty(self) -> None:
        self._dirty = True

    def _save_if_changed(self) -> None:
        if not self._dirty or self._writing is None or self._writing.busy:
            return
        what = self._what_to_save()
        if what is not None:
            self._dirty = False
            self._writing.start(lambda _progress: self.store.save(*what))

    def _write_failed(self, problem: str) -> None:
        self._dirty = True  # tried again at the next tick
        self.message.emit(f"autosave failed: {problem}")


def _saved_at(store: SessionStore) -> float:
    """When a slot was last written, to offer the newest crash first."""
    try:
        return (store.folder / SETTINGS_FILE).stat().st_mtime
    except OSError:
        return 0.0
