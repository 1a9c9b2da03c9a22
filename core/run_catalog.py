"""The runs under one folder, as a table: what each trained, how it ended, its best test accuracy, and
what differs between runs laid side by side.

``RunCatalog.refresh()`` is cheap to call every few seconds: each run is opened once and then only
what was appended is read (core.runs.Run.refresh); the catalog keeps a few numbers per run, not its
curves. A search's trials (``<search>/trial-N``) are found one level down.
"""
from __future__ import annotations

import math
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from core.run_status import RunStatus
from core.runs import RUN_FILE, Run, RunError, open_run
from core.search import format_value

# Settings that say how a run was watched or where it came from, not what it learnt: never "a difference".
_NOT_DIFFERENCES = {"parent", "start_step", "device", "pace", "searched", "trial", "note"}
_SHORT_NAMES = {"batch_size": "batch", "weight_decay": "wd", "optimizer": "", "dataset": "data"}
_ARCHITECTURE_SHOWN = 40  # characters of a layer pattern in a legend


@dataclass(frozen=True)
class RunSummary:
    """One row of the runs table."""

    folder: Path
    name: str  # the folder relative to the catalog's root: "20260101-120000-lenet-mnist", "search/trial-3"
    status: RunStatus
    message: str
    architecture: str
    settings: dict
    started: str
    best_test_accuracy: float | None
    last_loss: float | None
    last_step: int | None
    seconds: float | None  # from the start to the end, or to the last line logged while running

    @property
    def description(self) -> str:
        return describe_settings(self.settings)


class RunCatalog:
    """The runs under ``root`` (newest first), re-read incrementally by ``refresh()``."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self._entries: dict[Path, _Entry] = {}

    def refresh(self) -> list[RunSummary]:
        """Every readable run under the root now; folders that are not runs (yet) are left out."""
        found = _run_folders(self.root)
        for folder in set(self._entries) - set(found):
            del self._entries[folder]
        for folder in found:
            entry = self._entries.get(folder)
            try:
                if entry is None:
                    self._entries[folder] = _Entry(open_run(folder))
                else:
                    entry.refresh()
            except RunError:
                self._entries.pop(folder, None)  # half-made or broken: tried again next time
        summaries = [entry.summary(self.root) for entry in self._entries.values()]
        return sorted(summaries, key=lambda s: (s.started, s.name), reverse=True)


class _Entry:
    def __init__(self, run: Run) -> None:
        self.run = run
        self.best: float | None = None
        self.last_loss: float | None = None
        self.last_step: int | None = None
        self._take(run.metrics)

    def refresh(self) -> None:
        self._take(self.run.refresh().new_metrics)

    def _take(self, records: list[dict]) -> None:
        for record in records:
            self.last_step = record["step"] if self.last_step is None else max(self.last_step, record["step"])
            loss, accuracy = record.get("loss"), record.get("test_accuracy")
            if isinstance(loss, (int, float)) and math.isfinite(loss):
                self.last_loss = float(loss)
            if isinstance(accuracy, (int, float)) and (self.best is None or accuracy > self.best):
                self.best = float(accuracy)
        self.run.metrics.clear()  # the table needs these numbers only; curves are read when asked for

    def summary(self, root: Path) -> RunSummary:
        run = self.run
        status, message = run.status, run.message
        if status is RunStatus.RUNNING and writer_gone(run.info.get("writer")):
            status, message = RunStatus.STOPPED, "the program writing this run ended without closing it"
        return RunSummary(
            folder=run.folder,
            name=_relative_name(run.folder, root),
            status=status,
            message=message,
            architecture=run.architecture,
            settings=run.settings,
            started=run.started,
            best_test_accuracy=self.best,
            last_loss=self.last_loss,
            last_step=self.last_step,
            seconds=_duration(run, status),
        )


def _run_folders(root: Path) -> list[Path]:
    """Folders holding a run.json: children of ``root``, and their children (a search's trials)."""
    found = []
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return []
    for child in children:
        if (child / RUN_FILE).is_file():
            found.append(child)
            continue
        try:
            found.extend(sorted(p for p in child.iterdir() if p.is_dir() and (p / RUN_FILE).is_file()))
        except OSError:
            continue
    return found


def display_path(folder: str | os.PathLike) -> str:
    """A folder with the home directory written ~, as a user reads it."""
    path, home = Path(folder), Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)


def _relative_name(folder: Path, root: Path) -> str:
    try:
        return str(folder.relative_to(root))
    except ValueError:
        return folder.name


def writer_gone(writer: Any) -> bool:
    """The process that wrote a run still marked running has ended (only known on the same machine)."""
    if not isinstance(writer, dict) or writer.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(writer["pid"]), 0)
    except ProcessLookupError:
        return True
    except (OSError, KeyError, TypeError, ValueError):
        return False
    return False


def _duration(run: Run, status: RunStatus) -> float | None:
    started = _timestamp(run.started)
    if started is None:
        return None
    ended = _timestamp(run.info.get("ended") or "")
    if ended is None:
        try:  # running, or its writer is gone: up to the last line logged
            ended = (run.folder / "metrics.jsonl").stat().st_mtime
        except OSError:
            ended = time.time() if status is RunStatus.RUNNING else started
    return max(0.0, ended - started)


def _timestamp(text: str) -> float | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return None


def describe_settings(settings: dict) -> str:
    """The settings a student compares, in a few words: "sgd lr 0.01, batch 64, 5 epochs"."""
    optimizer, lr = settings.get("optimizer"), settings.get("lr")
    parts = [" ".join(filter(None, [optimizer and str(optimizer), lr is not None and f"lr {format_value(lr)}"]))]
    if settings.get("batch_size") is not None:
        parts.append(f"batch {format_value(settings['batch_size'])}")
    if settings.get("epochs") is not None:
        parts.append(f"{format_value(settings['epochs'])} epochs")
    if settings.get("weight_decay"):
        parts.append(f"wd {format_value(settings['weight_decay'])}")
    if settings.get("augment"):
        parts.append("augmented")
    if settings.get("schedule") not in (None, "constant"):
        parts.append(f"{settings['schedule']} schedule")
    return ", ".join(p for p in parts if p)


def differing_settings(runs: list[RunSummary]) -> list[str]:
    """For each run, the settings in which the runs differ, in words ("lr 0.1, batch 32"): a legend
    that names what changed between curves laid over each other. A run that differs in nothing from
    the others is named by its start time."""
    facts = [{"architecture": run.architecture, "data": run.settings.get("dataset"), **_comparable(run.settings)}
             for run in runs]
    keys = [k for k in dict.fromkeys(k for f in facts for k in f) if len({repr(f.get(k)) for f in facts}) > 1]
    labels = []
    for run, fact in zip(runs, facts):
        words = [_difference(key, fact.get(key)) for key in keys]
        labels.append(", ".join(w for w in words if w) or _start_time(run))
    return labels


def _comparable(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k not in _NOT_DIFFERENCES and k not in ("dataset", "architecture")}


def _difference(key: str, value: Any) -> str:
    if key == "architecture":
        text = str(value)
        return text if len(text) <= _ARCHITECTURE_SHOWN else text[: _ARCHITECTURE_SHOWN - 1] + "…"
    label = _SHORT_NAMES.get(key, key)
    if isinstance(value, bool):
        return f"{label} {'on' if value else 'off'}"
    return f"{label} {format_value(value)}".strip()


def _start_time(run: RunSummary) -> str:
    stamp = _timestamp(run.started)
    return time.strftime("started %H:%M:%S", time.localtime(stamp)) if stamp is not None else run.name
