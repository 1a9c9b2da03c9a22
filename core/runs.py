"""A run is a folder that any training loop can write and the app can open, even while it grows.

    run.json                          what is trained and how (architecture, classes, normalization, input
                                      shape, data set, settings, seed, start time) and its status
    metrics.jsonl                     one JSON object per logged step: {"step": 12, "loss": 0.4, ...}
    snapshots/step-00000040.safetensors   weights; safetensors, so opening a run never runs code

A reader never sees half a file: run.json and every snapshot are written under a temporary name and
renamed into place, and metrics.jsonl grows by whole lines, each in one write; a reader ignores a last
line without its newline. So a writer killed at any moment (SIGKILL included) leaves a run that opens
with every complete step. Crash safety is against the process dying, not the machine losing power:
nothing is fsynced, to keep logging cheap.

In a training loop (three lines)::

    writer = RunWriter("runs/my-run", "CONV(8,5) -> RELU -> POOL(2) -> FC(10)", settings={"lr": 0.01})
    writer.log(step, loss=loss.item(), accuracy=acc)            # every step
    if step % 100 == 0: writer.snapshot(step, model.state_dict())
    writer.close()                                              # status "finished"

Under DistributedDataParallel only rank 0 writes (the writer asks torch.distributed, or $RANK before the
process group exists); on other ranks every method does nothing. A ``module.`` prefix (DDP, DataParallel)
is stripped from saved weights.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from core.architecture import DEFAULT_INPUT_SHAPE, Architecture, ArchitectureError, build_model, parse
from core.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from core.validation import check_state_dict
from core.preprocess import Normalization, identity_normalization
from core.run_status import RunStatus
from core.trainer import MetricsHistory

__all__ = ["RunStatus", "RunError", "RunWriter", "Run", "RunChanges", "open_run", "runs_home", "new_run_folder",
           "checkpoint_from", "history_from_metrics"]

FORMAT = "convscope-run"
VERSION = 1
RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
SNAPSHOT_DIR = "snapshots"
_SNAPSHOT_NAME = re.compile(r"^step-(\d+)\.safetensors$")
_MODULE_SPEC = re.compile(r"^(?P<file>.+\.py):(?P<function>[A-Za-z_][A-Za-z0-9_]*)$")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DistributedDataParallel / DataParallel, torch.compile


class RunError(ValueError):
    """A run folder that cannot be written or read; the message names the folder and the problem."""


def convscope_home() -> Path:
    """$CONVSCOPE_HOME, else $XDG_DATA_HOME/convscope, else ~/.local/share/convscope."""
    home = os.environ.get("CONVSCOPE_HOME")
    if home:
        return Path(home)
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "convscope"


def runs_home() -> Path:
    """Where the app's own runs go unless told otherwise."""
    return convscope_home() / "runs"


def new_run_folder(name: str, parent: str | os.PathLike | None = None) -> Path:
    """Create and return a fresh, empty ``<parent>/<YYYYmmdd-HHMMSS>-<name>`` (parent: runs_home())."""
    parent = Path(parent) if parent is not None else runs_home()
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")[:60] or "run"
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, 1000):
            folder = parent / (stem if attempt == 1 else f"{stem}-{attempt}")
            try:
                folder.mkdir()
                return folder
            except FileExistsError:
                continue
    except OSError as exc:
        raise RunError(f"cannot create a run folder in {parent}: {exc.strerror or exc}") from None
    raise RunError(f"cannot create a run folder in {parent}: too many runs named {stem}")


def is_writing_rank() -> bool:
    """False on every distributed rank but 0, so one process writes a DDP run."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    try:
        return int(os.environ.get("RANK", "0")) == 0
    except ValueError:
        return True


class RunWriter:
    """Writes one run folder. Cheap enough to log every step (one short line, one system call).

    ``architecture`` is a layer-pattern text (or a parsed Architecture), or ``FILE.py:FUNCTION`` for any
    other nn.Module (``input_shape`` then says what it takes; default 1x28x28). ``settings`` is a dict or
    a dataclass (e.g. a TrainConfig) of JSON-able values; its "dataset" and "seed" are also kept at the
    top of run.json. ``classes`` names the outputs; ``normalization`` is a Normalization or (mean, std).

    The folder must be new or empty: a run is never written over another. Usable as a context manager:
    leaving the block closes the run, "stopped" with the error's text if an exception escaped.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        architecture: str | Architecture,
        settings: Mapping[str, Any] | Any | None = None,
        classes: tuple[str, ...] | list[str] | None = None,
        normalization: Normalization | tuple | Mapping | None = None,
        *,
        input_shape: tuple[int, int, int] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.active = is_writing_rank()
        self.closed = False
        self.last_step: int | None = None
        self._metrics_fd: int | None = None
        if not self.active:
            return
        settings_dict = _settings_dict(settings)
        self.info: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            **_architecture_fields(architecture, input_shape),
            "classes": list(map(str, classes)) if classes is not None else None,
            "normalization": _normalization_dict(normalization),
            "dataset": settings_dict.get("dataset", settings_dict.get("data")),
            "seed": settings_dict.get("seed"),
            "settings": settings_dict,
            "started": _now_iso(),
            "ended": None,
            "status": RunStatus.RUNNING.value,
            "message": "",
            "writer": {"pid": os.getpid(), "host": socket.gethostname(), "program": Path(sys.argv[0]).name},
        }
        self._prepare_folder()
        self._write_info()
        self._metrics_fd = os.open(self.folder / METRICS_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def _prepare_folder(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if (self.folder / RUN_FILE).exists():
                raise RunError(f"{self.folder} already holds a run: choose a new folder")
            if any(self.folder.iterdir()):
                raise RunError(f"{self.folder} is not empty: a run needs a new or empty folder")
            (self.folder / SNAPSHOT_DIR).mkdir()
        except OSError as exc:
            raise RunError(f"cannot write a run in {self.folder}: {exc.strerror or exc}") from None

    def log(self, step: int, **metrics: float | int | str | None) -> None:
        """Append one line ``{"step": step, **metrics}``. Tensors and numpy scalars become numbers;
        NaN and infinities are written as null (strict JSON)."""
        if not self.active:
            return
        self._check_open()
        record = {"step": int(step)}
        for key, value in metrics.items():
            record[key] = _scalar(key, value)
        data = (json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n").encode()
        while data:  # one write for a line of this size; the loop only guards against a short write
            data = data[os.write(self._metrics_fd, data) :]
        self.last_step = int(step)

    def snapshot(self, step: int, state_dict: Mapping[str, torch.Tensor | np.ndarray]) -> Path | None:
        """Save the weights as ``snapshots/step-NNNNNNNN.safetensors`` (replacing one of the same step).
        Returns the file, or None on a rank that does not write."""
        if not self.active:
            return None
        self._check_open()
        tensors = plain_state_dict(state_dict)
        folder = self.folder / SNAPSHOT_DIR
        final = folder / snapshot_name(int(step))
        tmp = folder / f".{final.name}.tmp"
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "step": str(int(step))})
        os.replace(tmp, final)
        return final

    def discard_snapshots_after(self, step: int) -> None:
        """Remove snapshots newer than ``step``: after a divergence the weights were put back to it."""
        if not self.active:
            return
        for name in os.listdir(self.folder / SNAPSHOT_DIR):
            match = _SNAPSHOT_NAME.match(name)
            if match and int(match.group(1)) > step:
                (self.folder / SNAPSHOT_DIR / name).unlink(missing_ok=True)

    def close(self, status: RunStatus | str = "finished", message: str = "") -> None:
        """Record how the run ended (a RunStatus or its value) and why; closing twice does nothing."""
        if not self.active or self.closed:
            return
        try:
            status = RunStatus.parse(status)
        except ValueError as exc:
            raise RunError(str(exc)) from None
        self.closed = True
        os.close(self._metrics_fd)
        self.info.update(status=status.value, message=str(message), ended=_now_iso())
        self._write_info()

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if error is None:
            self.close(RunStatus.FINISHED)
        else:
            reason = "interrupted" if isinstance(error, KeyboardInterrupt) else f"{kind.__name__}: {error}"
            self.close(RunStatus.STOPPED, f"stopped by an error: {reason}")

    def _check_open(self) -> None:
        if self.closed:
            raise RunError(f"the run in {self.folder} is closed")

    def _write_info(self) -> None:
        write_atomically(self.folder / RUN_FILE, json.dumps(self.info, indent=1).encode())


def snapshot_name(step: int) -> str:
    return f"step-{step:08d}.safetensors"


def plain_state_dict(state_dict: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """CPU, contiguous, unshared tensors with any DDP/compile prefix removed: what safetensors stores."""
    keys = list(state_dict)
    for prefix in _WRAPPER_PREFIXES:
        if keys and all(k.startswith(prefix) for k in keys):
            keys = [k[len(prefix) :] for k in keys]
    tensors: dict[str, torch.Tensor] = {}
    storages: set[int] = set()
    for key, value in zip(keys, state_dict.values()):
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(np.ascontiguousarray(value))
        if not isinstance(value, torch.Tensor):
            raise RunError(f"the weight '{key}' is a {type(value).__name__}, not a tensor")
        tensor = value.detach().cpu().contiguous()
        pointer = tensor.untyped_storage().data_ptr()
        if pointer in storages and tensor.numel():
            tensor = tensor.clone()  # tied weights: safetensors refuses tensors that share memory
        storages.add(pointer)
        tensors[key] = tensor
    return tensors


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass(frozen=True)
class RunChanges:
    """What ``Run.refresh()`` found since the last look."""

    new_metrics: list[dict]
    new_steps: list[int]
    removed_steps: list[int]
    info_changed: bool


class Run:
    """A run folder read back, growing or finished. Build one with ``open_run``.

    ``metrics`` holds every complete line of metrics.jsonl as a dict with its ``step``; ``refresh()`` reads
    only what was appended since (and run.json if it changed), so polling a live run is cheap.
    """

    def __init__(self, folder: Path, info: dict, info_stamp: tuple) -> None:
        self.folder = folder
        self._set_info(info, info_stamp)
        self.metrics: list[dict] = []
        self.skipped_lines = 0  # lines that were not a JSON object with an integer step
        self._metrics_offset = 0
        self._known_steps = set(self.steps())
        self._read_new_metrics()

    def _set_info(self, info: dict, stamp: tuple) -> None:
        self.info = info
        self._info_stamp = stamp
        self._spec = parse(info["architecture"]) if info["architecture_kind"] == "pattern" else None

    # --- what was trained
    @property
    def architecture(self) -> str:
        """The layer-pattern text (canonical, with its INPUT) or ``FILE.py:FUNCTION``."""
        return self.info["architecture"]

    @property
    def is_layer_pattern(self) -> bool:
        return self.info["architecture_kind"] == "pattern"

    @property
    def spec(self) -> Architecture | None:
        """The parsed layer pattern; None for a FILE.py:FUNCTION model."""
        return self._spec

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(x) for x in self.info["input_shape"])  # type: ignore[return-value]

    @property
    def classes(self) -> tuple[str, ...] | None:
        """As the writer gave them; for a layer pattern without names, "0" .. "N-1"."""
        if self.info.get("classes") is not None:
            return tuple(self.info["classes"])
        if self.is_layer_pattern:
            return tuple(str(i) for i in range(self.spec.num_classes))
        return None

    @property
    def normalization(self) -> Normalization | None:
        norm = self.info.get("normalization")
        return Normalization(tuple(norm["mean"]), tuple(norm["std"])) if norm else None

    @property
    def settings(self) -> dict:
        return dict(self.info.get("settings") or {})

    @property
    def dataset(self) -> str | None:
        return self.info.get("dataset")

    @property
    def seed(self) -> int | None:
        return self.info.get("seed")

    @property
    def started(self) -> str:
        return self.info.get("started", "")

    @property
    def status(self) -> RunStatus:
        return RunStatus.parse(self.info["status"])

    @property
    def message(self) -> str:
        """Why the run ended as it did (e.g. the divergence explained); empty while running or when fine."""
        return self.info.get("message", "")

    # --- weights
    def steps(self) -> list[int]:
        """The steps with a complete snapshot, ascending."""
        try:
            names = os.listdir(self.folder / SNAPSHOT_DIR)
        except OSError:
            return []
        return sorted(int(m.group(1)) for m in map(_SNAPSHOT_NAME.match, names) if m)

    @property
    def newest_step(self) -> int | None:
        steps = self.steps()
        return steps[-1] if steps else None

    def load(self, step: int | None = None) -> dict[str, torch.Tensor]:
        """The state_dict saved at ``step`` (default: the newest), on the CPU."""
        if step is None:
            step = self.newest_step
            if step is None:
                raise RunError(f"{self.folder.name} has no snapshot yet")
        path = self.folder / SNAPSHOT_DIR / snapshot_name(int(step))
        try:
            return load_file(str(path), device="cpu")
        except FileNotFoundError:
            raise RunError(f"{self.folder.name} has no snapshot at step {step}") from None
        except (SafetensorError, OSError, ValueError) as exc:
            raise RunError(f"{self.folder.name}: the snapshot of step {step} is unreadable: {exc}") from None

    def build_model(self) -> nn.Module:
        """A fresh model of the run's architecture. For ``FILE.py:FUNCTION`` this runs that file, as
        ``--model`` does: it is the user's own code, never anything stored in the run."""
        if self.is_layer_pattern:
            return build_model(self.spec)
        from core.user_model import load_user_model

        return load_user_model(self.architecture, self.input_shape)

    def check_fits(self, state: Mapping[str, torch.Tensor], model: nn.Module, step: int) -> None:
        """RunError naming the first weight that does not fit ``model`` or cannot be used (NaN, a sparse
        or zero-stride tensor...): the same validator as checkpoints."""
        try:
            check_state_dict(dict(state), model.state_dict(), f"the snapshot of step {step}")
        except CheckpointError as exc:
            raise RunError(f"{self.folder.name}: {exc}") from None

    def load_model(self, step: int | None = None) -> tuple[nn.Module, int]:
        """The model with the weights of ``step`` (default: the newest) and that step, in eval mode."""
        step = self.newest_step if step is None else step
        state = self.load(step)
        model = self.build_model()
        self.check_fits(state, model, step)
        model.load_state_dict(state)
        return model.eval(), int(step)

    def history(self) -> MetricsHistory:
        """The curves: every logged loss/accuracy, and test accuracy where it was measured."""
        return history_from_metrics(self.metrics)

    def to_checkpoint(self, step: int | None = None) -> Checkpoint:
        """The run's weights at ``step`` (default: the newest) as a checkpoint: what `evaluate` and the
        window's open-checkpoint path take. Layer-pattern runs only (a checkpoint stores a pattern)."""
        if not self.is_layer_pattern:
            raise RunError(
                f"{self.folder.name} trained {self.architecture}, not a layer pattern: "
                "open it with the model file (--model) instead"
            )
        step = self.newest_step if step is None else step
        state = self.load(step)
        self.check_fits(state, build_model(self.spec), step)
        return Checkpoint(
            architecture=self.spec,
            state=state,
            classes=self.classes,
            normalization=self.normalization or identity_normalization(self.input_shape[0]),
            history=self.history(),
            config=self.settings,
            dataset=self.dataset or "",
        )

    # --- following a growing run
    def refresh(self) -> RunChanges:
        """Read what was added since the last look. A vanished or broken folder raises RunError; the
        Run keeps what it had."""
        info_changed = False
        stamp = _stamp(self.folder / RUN_FILE)
        if stamp != self._info_stamp:
            self._set_info(_read_info(self.folder), stamp)
            info_changed = True
        new_metrics = self._read_new_metrics()
        steps = set(self.steps())
        new_steps, removed = sorted(steps - self._known_steps), sorted(self._known_steps - steps)
        self._known_steps = steps
        return RunChanges(new_metrics, new_steps, removed, info_changed)

    def _read_new_metrics(self) -> list[dict]:
        path = self.folder / METRICS_FILE
        try:
            size = path.stat().st_size
            if size < self._metrics_offset:  # rewritten from scratch: start over
                self.metrics, self._metrics_offset, self.skipped_lines = [], 0, 0
            if size == self._metrics_offset:
                return []
            with open(path, "rb") as file:
                file.seek(self._metrics_offset)
                chunk = file.read(size - self._metrics_offset)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise RunError(f"{self.folder.name}: metrics.jsonl is unreadable: {exc.strerror or exc}") from None
        end = chunk.rfind(b"\n") + 1  # a last line without its newline is still being written
        self._metrics_offset += end
        fresh = []
        for line in chunk[:end].splitlines():
            record = _metrics_record(line)
            if record is None:
                self.skipped_lines += bool(line.strip())
            else:
                fresh.append(record)
        self.metrics.extend(fresh)
        return fresh


def history_from_metrics(records: list[dict]) -> MetricsHistory:
    """Metrics lines as curves: a line with a loss is a training step (a null loss, a diverged step, is
    NaN); a test accuracy counts wherever it was logged."""
    history = MetricsHistory()
    for record in records:
        if "loss" in record:
            loss, accuracy = record.get("loss"), record.get("accuracy")
            history.steps.append(record["step"])
            history.loss.append(_number_or_nan(loss))
            history.accuracy.append(_number_or_nan(accuracy))
        if isinstance(record.get("test_accuracy"), (int, float)):
            history.test_steps.append(record["step"])
            history.test_accuracy.append(float(record["test_accuracy"]))
    return history


def _number_or_nan(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def open_run(folder: str | os.PathLike) -> Run:
    """Open a run folder; RunError says plainly if it is missing, empty, or not a Convscope run."""
    folder = Path(folder)
    stamp = _stamp(folder / RUN_FILE)
    info = _read_info(folder)
    return Run(folder, info, stamp)


def _read_info(folder: Path) -> dict:
    name = str(folder)
    if not folder.exists():
        raise RunError(f"{name} does not exist")
    if not folder.is_dir():
        raise RunError(f"{name} is a file, not a run folder")
    path = folder / RUN_FILE
    if not path.exists():
        try:
            empty = not any(folder.iterdir())
        except OSError as exc:
            raise RunError(f"{name} cannot be read: {exc.strerror or exc}") from None
        if empty:
            raise RunError(f"{name} is empty: no run has been written there yet")
        raise RunError(f"{name} is not a Convscope run folder (it has no {RUN_FILE})")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunError(f"{name}: {RUN_FILE} is unreadable: {exc}") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise RunError(f"{name} was written by another program ({RUN_FILE} is not a Convscope run)")
    if info.get("version") != VERSION:
        raise RunError(f"{name} is a Convscope run of version {info.get('version')}, expected {VERSION}")
    try:
        kind = info["architecture_kind"]
        if kind == "pattern":
            parse(str(info["architecture"]))
        elif kind != "module":
            raise ValueError(f"unknown architecture kind {kind!r}")
        shape = tuple(int(x) for x in info["input_shape"])
        if len(shape) != 3:
            raise ValueError(f"input_shape {shape} is not (channels, height, width)")
        norm = info.get("normalization")
        if norm:
            Normalization(tuple(norm["mean"]), tuple(norm["std"]))
        RunStatus.parse(info["status"])
    except ArchitectureError as exc:
        raise RunError(f"{name} describes an impossible architecture: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise RunError(f"{name}: {RUN_FILE} is missing or has a malformed field: {exc}") from None
    return info


def _stamp(path: Path) -> tuple:
    try:
        st = path.stat()
        return (st.st_mtime_ns, st.st_size, st.st_ino)
    except OSError:
        return ()


def _metrics_record(line: bytes) -> dict | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("step"), int):
        return None
    return record


def _architecture_fields(architecture: str | Architecture, input_shape: tuple[int, int, int] | None) -> dict:
    if isinstance(architecture, Architecture):
        return _pattern_fields(architecture)
    text = str(architecture).strip()
    module = _MODULE_SPEC.match(text)
    if module is None:
        return _pattern_fields(parse(text, tuple(input_shape) if input_shape else None))
    file = Path(module.group("file"))
    if not file.is_file():
        raise RunError(f"the model file {file} does not exist")
    return {
        "architecture": f"{file.resolve()}:{module.group('function')}",
        "architecture_kind": "module",
        "input_shape": list(input_shape or DEFAULT_INPUT_SHAPE),
    }


def _pattern_fields(architecture: Architecture) -> dict:
    return {
        "architecture": architecture.to_text(),
        "architecture_kind": "pattern",
        "input_shape": list(architecture.input_shape),
    }


def _settings_dict(settings: Any) -> dict:
    if settings is None:
        return {}
    if dataclasses.is_dataclass(settings) and not isinstance(settings, type):
        settings = dataclasses.asdict(settings)
    if not isinstance(settings, Mapping):
        raise RunError(f"settings must be a dict or a dataclass, not {type(settings).__name__}")
    return json.loads(json.dumps(dict(settings), default=_jsonable))


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.generic, torch.Tensor)) and np.size(value) == 1:
        return value.item()
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return value.tolist()
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    return str(value)


def _normalization_dict(normalization: Normalization | tuple | Mapping | None) -> dict | None:
    if normalization is None:
        return None
    if isinstance(normalization, Mapping):
        mean, std = normalization["mean"], normalization["std"]
    elif isinstance(normalization, Normalization):
        mean, std = normalization.mean, normalization.std
    else:
        mean, std = normalization
    checked = Normalization(tuple(float(m) for m in mean), tuple(float(s) for s in std))
    return {"mean": list(checked.mean), "std": list(checked.std)}


def _scalar(key: str, value: Any) -> float | int | str | bool | None:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise RunError(f"the metric '{key}' is a tensor of {value.numel()} values, not one number")
        value = value.item()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise RunError(f"the metric '{key}' is a {type(value).__name__}, not a number")


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def checkpoint_from(path: str | os.PathLike) -> Checkpoint:
    """A checkpoint file, or a run folder's newest snapshot as a checkpoint (what `evaluate` takes)."""
    path = Path(path)
    return open_run(path).to_checkpoint() if path.is_dir() else load_checkpoint(path)
