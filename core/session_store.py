"""Autosaved sessions, so a crash or ``kill -9`` loses at most a few seconds of work.

A folder holds the last session (a checkpoint, the settings as JSON, the current input) and a
``running`` marker with the owner's process id. A clean exit removes the marker; a marker whose
owner is gone means the session ended abnormally and can be offered for restore.

Each window owns one slot, ``autosave/<n>/``, claimed with an exclusive ``flock`` on ``autosave/<n>.lock``
that the kernel drops when the process dies however it dies: a second window takes the next slot instead
of overwriting the first one's session, and a slot whose lock is free but whose marker is still there
crashed. An autosave that cannot be restored is never deleted and never stops the app from starting:
``load`` names the first bad field, and ``move_aside`` renames the folder to ``<folder>.bad-<time>``.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.architecture import ArchitectureError, parse
from core.budget import BudgetError
from core.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from core.validation import CheckpointError

CHECKPOINT_FILE = "session.pt"
SETTINGS_FILE = "session.json"
INPUT_FILE = "input.npy"
MARKER_FILE = "running"
ROOT_LOCK = ".lock"
MAX_SETTINGS_BYTES = 1 * 2**20
MAX_INPUT_BYTES = 256 * 2**20
MAX_SLOTS = 64
MAX_TEXT = 100_000
FUTURE_SLACK_S = 24 * 3600
"""A save time later than this past now is a clock or a file gone wrong, not a real save."""

OPTIMIZERS = ("sgd", "adam")
LR_RANGE = (1e-5, 10.0)
BATCH_SIZE_RANGE = (1, 4096)
EPOCHS_RANGE = (1, 1000)
"""The training settings a window can hold (the training panel's ranges); an autosave outside them is refused."""


class AutosaveError(CheckpointError):
    """The autosave cannot be restored; ``field`` names the first bad part (``session.json: saved_at``)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"the autosaved {field} {problem}")
        self.field = field


@dataclass(frozen=True)
class SavedSession:
    checkpoint: Checkpoint
    settings: dict
    input: np.ndarray | None
    saved_at: float


def default_folder() -> Path:
    """$CONVSCOPE_HOME/autosave, else the XDG data folder's convscope/autosave."""
    home = os.environ.get("CONVSCOPE_HOME")
    if home:
        return Path(home) / "autosave"
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "convscope" / "autosave"


class SessionStore:
    """One autosave folder. ``SessionStore(folder)`` uses a folder as it is; ``SessionStore.claim()``
    gives the window its own locked slot under the autosave folder."""

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_folder()
        self._lock: int | None = None

    # ----------------------------------------------------------------- slots

    @classmethod
    def claim(cls, home: str | os.PathLike | None = None) -> "SessionStore":
        """Lock the lowest-numbered slot no live window holds, under ``home`` (default: the autosave
        folder). That may be a crashed slot: then ``crashed()`` is true and its session can be offered."""
        root = Path(home) if home is not None else default_folder()
        root.mkdir(parents=True, exist_ok=True)
        with _RootLock(root):
            _adopt_single_folder_layout(root)
            for number in range(1, MAX_SLOTS + 1):
                lock = _try_lock(root / f"{number}.lock")
                if lock is None:
                    continue
                store = cls(root / str(number))
                store._lock = lock
                store.folder.mkdir(exist_ok=True)
                return store
        raise OSError(f"all {MAX_SLOTS} autosave slots in {root} are held by running windows")

    @classmethod
    def crashed_slots(cls, home: str | os.PathLike | None = None) -> list["SessionStore"]:
        """The slots under ``home`` whose window died without closing and that hold a session."""
        root = Path(home) if home is not None else default_folder()
        if not root.is_dir():
            return []
        found = []
        with _RootLock(root):
            _adopt_single_folder_layout(root)
            for number in range(1, MAX_SLOTS + 1):
                store = cls(root / str(number))
                if not (store.folder / MARKER_FILE).exists() or not (store.folder / CHECKPOINT_FILE).exists():
                    continue
                lock = _try_lock(root / f"{number}.lock")
                if lock is not None:  # nobody holds it: its owner is gone
                    os.close(lock)
                    found.append(store)
        return found

    def release(self) -> None:
        """Give the slot up (after ``mark_closed`` on a clean exit); the kernel does this on a crash."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    # ----------------------------------------------------------------- crash marker

    def crashed(self) -> bool:
        """A session was autosaved here and its process died without closing cleanly."""
        marker = self.folder / MARKER_FILE
        if not marker.exists() or not (self.folder / CHECKPOINT_FILE).exists():
            return False
        try:
            pid = int(marker.read_text().strip())
        except (OSError, ValueError):
            return True
        if pid == os.getpid():
            return False
        return self._lock is not None or not _process_alive(pid)

    def mark_running(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.folder / MARKER_FILE, str(os.getpid()).encode())

    def mark_closed(self) -> None:
        (self.folder / MARKER_FILE).unlink(missing_ok=True)

    # ----------------------------------------------------------------- save, load, move aside

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
        """The saved session with every field checked; an AutosaveError names the first bad one."""
        path = self.folder / CHECKPOINT_FILE
        if not path.is_file():
            raise AutosaveError(CHECKPOINT_FILE, "is missing")
        try:
            checkpoint = load_checkpoint(path)
        except CheckpointError as exc:
            raise AutosaveError(CHECKPOINT_FILE, f"is unusable: {exc}") from None
        settings, saved_at = _read_settings(self.folder / SETTINGS_FILE)
        input_ = _read_input(self.folder / INPUT_FILE, checkpoint.architecture.input_shape)
        return SavedSession(checkpoint, settings, input_, saved_at)

    def move_aside(self) -> Path:
        """Rename the folder to ``<name>.bad-<time>`` (kept for the user to look at, never deleted) and
        start an empty one in its place; a claimed slot keeps its lock. Returns where it went."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.folder.with_name(f"{self.folder.name}.bad-{stamp}")
        suffix = 1
        while target.exists():
            suffix += 1
            target = self.folder.with_name(f"{self.folder.name}.bad-{stamp}-{suffix}")
        os.replace(self.folder, target)
        self.folder.mkdir(parents=True, exist_ok=True)
        return target


def _read_settings(path: Path) -> tuple[dict, float]:
    field = SETTINGS_FILE
    try:
        if not path.is_file():  # a folder or a pipe would fail or block when read
            raise AutosaveError(field, "is missing or not a file")
        if path.stat().st_size > MAX_SETTINGS_BYTES:
            raise AutosaveError(field, f"is larger than {MAX_SETTINGS_BYTES:,} bytes")
        meta = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise AutosaveError(field, "is missing") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise AutosaveError(field, f"is unreadable: {_first_line(exc)}") from None
    if not isinstance(meta, dict):
        raise AutosaveError(field, f"is {_kind(meta)}, not a table")
    saved_at = meta.get("saved_at")
    if isinstance(saved_at, bool) or not isinstance(saved_at, (int, float)) or not math.isfinite(saved_at):
        raise AutosaveError(f"{field} saved_at", f"is {_short(saved_at)}, not a time")
    if not 0 <= saved_at <= time.time() + FUTURE_SLACK_S:
        raise AutosaveError(f"{field} saved_at", f"is {saved_at:g}, not a time this computer could have saved at")
    settings = meta.get("settings")
    if not isinstance(settings, dict):
        raise AutosaveError(f"{field} settings", f"are {_kind(settings)}, not a table")
    return _checked_settings(settings), float(saved_at)


def _checked_settings(settings: dict) -> dict:
    """Known fields must have their type and range; unknown ones are kept (a newer version's)."""
    where = f"{SETTINGS_FILE} settings"
    for key in ("layer", "dataset", "caption"):
        if key in settings:
            _text(f"{where}.{key}", settings[key])
    training = settings.get("training")
    if training is None:
        return settings
    if not isinstance(training, dict):
        raise AutosaveError(f"{where}.training", f"is {_kind(training)}, not a table")
    here = f"{where}.training"
    for key in ("dataset", "architecture"):
        if key in training:
            _text(f"{here}.{key}", training[key])
    if "architecture" in training:
        try:
            parse(training["architecture"])
        except (ArchitectureError, BudgetError) as exc:
            raise AutosaveError(f"{here}.architecture", f"is impossible: {exc}") from None
    if "optimizer" in training and training["optimizer"] not in OPTIMIZERS:
        raise AutosaveError(f"{here}.optimizer", f"is {_short(training['optimizer'])}, not one of {', '.join(OPTIMIZERS)}")
    _number(f"{here}.lr", training, LR_RANGE, whole=False)
    _number(f"{here}.batch_size", training, BATCH_SIZE_RANGE, whole=True)
    _number(f"{here}.epochs", training, EPOCHS_RANGE, whole=True)
    return settings


def _number(field: str, table: dict, bounds: tuple[float, float], whole: bool) -> None:
    key = field.rsplit(".", 1)[1]
    if key not in table:
        return
    value = table[key]
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise AutosaveError(field, f"is {_short(value)}, not {'a whole number' if whole else 'a number'}")
    low, high = bounds
    if not (math.isfinite(value) and low <= value <= high):
        raise AutosaveError(field, f"is {_short(value)}, outside {low:g}..{high:g}")


def _text(field: str, value: object) -> None:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise AutosaveError(field, f"is {_short(value)}, not text")


def _read_input(path: Path, input_shape: tuple[int, int, int]) -> np.ndarray | None:
    """The saved model input, checked from the .npy header (dtype, shape) before its data is read."""
    if not path.exists():
        return None
    field = INPUT_FILE
    if not path.is_file():
        raise AutosaveError(field, "is not a file")
    try:
        with path.open("rb") as stream:
            version = np.lib.format.read_magic(stream)
            readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            if version not in readers:
                raise ValueError(f"npy format version {version} is not one numpy.save writes by default")
            shape, _fortran, dtype = readers[version](stream, max_header_size=10_000)
    except (OSError, ValueError, SyntaxError, TypeError) as exc:
        raise AutosaveError(field, f"is unreadable: {_first_line(exc)}") from None
    if dtype.kind != "f":
        raise AutosaveError(field, f"holds {dtype}, not floating-point numbers")
    if tuple(shape) != tuple(input_shape):
        raise AutosaveError(field, f"has shape {tuple(shape)}, the model takes {tuple(input_shape)}")
    if math.prod(shape) * dtype.itemsize > MAX_INPUT_BYTES:
        raise AutosaveError(field, f"is larger than {MAX_INPUT_BYTES:,} bytes")
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise AutosaveError(field, f"is unreadable: {_first_line(exc)}") from None
    if not np.isfinite(values).all():
        raise AutosaveError(field, "contains NaN or infinite values")
    return values.astype(np.float32)


class _RootLock:
    """Serialises slot claims between windows starting at the same moment."""

    def __init__(self, root: Path) -> None:
        self.path = root / ROOT_LOCK

    def __enter__(self) -> "_RootLock":
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        os.close(self.fd)  # closing drops the lock


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding an exclusive lock on ``path``, or None if another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _adopt_single_folder_layout(root: Path) -> None:
    """An autosave from before slots (files straight in the autosave folder) becomes a slot of its own."""
    if not (root / CHECKPOINT_FILE).exists():
        return
    try:
        owner = int((root / MARKER_FILE).read_text().strip())
    except (OSError, ValueError):
        owner = None
    if owner is not None and owner != os.getpid() and _process_alive(owner):
        return  # a window of the single-folder kind is still using it
    number = next(n for n in range(1, MAX_SLOTS + 2) if not (root / str(n)).exists())
    slot = root / str(number)
    slot.mkdir()
    for name in (CHECKPOINT_FILE, SETTINGS_FILE, INPUT_FILE, MARKER_FILE):
        if (root / name).exists():
            os.replace(root / name, slot / name)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _short(value: object) -> str:
    text = repr(value)
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 40 else text[:37] + "..."


def _kind(value: object) -> str:
    return "empty (null)" if value is None else f"a {type(value).__name__}"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__
