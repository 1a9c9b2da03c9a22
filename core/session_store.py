"""Autosaved sessions, so a crash or ``kill -9`` loses at most a few seconds of work.

A folder holds the last session (a checkpoint, the settings as JSON, the current input) and a
``running`` marker with the owner's process id. A clean exit removes the marker; a marker whose
process is gone means the last session ended abnormally and can be offered for restore.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint

CHECKPOINT_FILE = "session.pt"
SETTINGS_FILE = "session.json"
INPUT_FILE = "input.npy"
MARKER_FILE = "running"


@dataclass(frozen=True)
class SavedSession:
    checkpoint: Checkpoint
    settings: dict
    input: np.ndarray | None
    saved_at: float


def default_folder() -> Path:
    """$CONVSCOPE_HOME, else the XDG data folder."""
    home = os.environ.get("CONVSCOPE_HOME")
    if home:
        return Path(home) / "autosave"
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "convscope" / "autosave"


class SessionStore:
    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_folder()

    def crashed(self) -> bool:
        """A session was autosaved and its process died without closing cleanly."""
        marker = self.folder / MARKER_FILE
        if not marker.exists() or not (self.folder / CHECKPOINT_FILE).exists():
            return False
        try:
            pid = int(marker.read_text().strip())
        except (OSError, ValueError):
            return True
        return pid != os.getpid() and not _process_alive(pid)

    def mark_running(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.folder / MARKER_FILE, str(os.getpid()).encode())

    def mark_closed(self) -> None:
        (self.folder / MARKER_FILE).unlink(missing_ok=True)

    def save(self, checkpoint: Checkpoint, settings: dict, input_: np.ndarray | None) -> None:
        """Each file is replaced atomically; the settings go last and carry the save time."""
        self.folder.mkdir(parents=True, exist_ok=True)
        save_checkpoint(self.folder / CHECKPOINT_FILE, checkpoint)
        input_path = self.folder / INPUT_FILE
        if input_ is None:
            input_path.unlink(missing_ok=True)
        else:
            tmp = self.folder / (INPUT_FILE + ".tmp.npy")
            np.save(tmp, np.asarray(input_, dtype=np.float32))
            os.replace(tmp, input_path)
        payload = json.dumps({"saved_at": time.time(), "settings": settings}, indent=1).encode()
        _write_atomically(self.folder / SETTINGS_FILE, payload)

    def load(self) -> SavedSession:
        """Raises CheckpointError with a readable message if the saved session is unusable."""
        checkpoint = load_checkpoint(self.folder / CHECKPOINT_FILE)
        try:
            meta = json.loads((self.folder / SETTINGS_FILE).read_text())
            settings, saved_at = dict(meta["settings"]), float(meta["saved_at"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"the autosaved settings are unreadable: {exc}") from None
        input_ = None
        input_path = self.folder / INPUT_FILE
        if input_path.exists():
            try:
                input_ = np.load(input_path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise CheckpointError(f"the autosaved input is unreadable: {exc}") from None
        return SavedSession(checkpoint, settings, input_, saved_at)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
