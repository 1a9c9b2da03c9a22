"""Work slower than a frame, off the GUI thread, with progress and a way to cancel.

One ``BackgroundTask`` runs one kind of computation (an attribution, a feature visualisation, a
projection...). Starting it again supersedes the run under way: that run is asked to stop and its
result is dropped (a generation counter, as ndv drops stale data responses), so a view only ever
receives the answer to the newest question.

The function runs on a worker thread, so it must not touch Qt objects nor a model the GUI thread is
using: hand it copies (``copy.deepcopy(model)``), since forward hooks on a shared model would fire
inside the GUI's own forwards. It receives a ``Progress`` and reports with ``progress(done, total)``;
``progress.cancelled`` turns true when it should stop (``Cancelled`` may be raised for that).

Python's cyclic garbage collector runs in whichever thread happens to allocate when a threshold is
crossed. On a worker (importing scikit-learn, running t-SNE) it can destroy Qt objects of the GUI
thread there, which hung the process in about one GUI test run in seven. While a window lives,
``GuiThreadCollection`` makes collection pyqtgraph's GarbageCollector: automatic collection off, a
timer on the GUI thread instead.
"""
from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal
from pyqtgraph.util.garbage_collector import GarbageCollector

from core.priority import lower_priority

COLLECT_INTERVAL_S = 0.5


class Cancelled(Exception):
    """Raised by a task function that noticed it was cancelled."""


class Progress:
    """Handed to the task function: report progress, ask whether to stop."""

    def __init__(self, report: Callable[[int, int], None], stop: threading.Event) -> None:
        self._report = report
        self._stop = stop

    def __call__(self, done: int, total: int) -> None:
        if self._stop.is_set():
            raise Cancelled()
        self._report(done, total)

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()


class BackgroundTask(QObject):
    """Signals arrive on the GUI thread: ``progressed(done, total)``, ``finished(result)``,
    ``failed(message)``, and ``busyChanged(bool)``; a cancelled or superseded run emits nothing."""

    progressed = Signal(int, int)
    finished = Signal(object)
    failed = Signal(str)
    busyChanged = Signal(bool)
    _reported = Signal(int, int, int)  # generation, done, total: from the worker thread
    _ended = Signal(int, object, object)  # generation, result, error

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"convscope-{name}", initializer=lower_priority
        )
        self._generation = 0
        self._stop = threading.Event()
        self._busy = False
        self._reported.connect(self._on_reported)
        self._ended.connect(self._on_ended)

    @property
    def busy(self) -> bool:
        return self._busy

    def start(self, function: Callable[..., Any], *args: Any) -> None:
        """Run ``function(progress, *args)`` on the worker thread; the run under way is superseded."""
        self._stop.set()
        self._generation += 1
        generation, stop = self._generation, threading.Event()
        self._stop = stop
        self._set_busy(True)
        self._executor.submit(self._run, generation, stop, function, args)

    def cancel(self) -> None:
        """Ask the run under way to stop; its result, if it still comes, is dropped."""
        self._stop.set()
        self._generation += 1
        self._set_busy(False)

    def close(self, wait: bool = True) -> None:
        """Cancel and let the worker thread end (the window is closing)."""
        self.cancel()
        self._executor.shutdown(wait=wait, cancel_futures=True)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the work submitted so far has run (tests and scripts); True if it has."""
        marker: Future = self._executor.submit(lambda: None)
        try:
            marker.result(timeout)
        except TimeoutError:
            return False
        return True

    def _run(self, generation: int, stop: threading.Event, function, args) -> None:
        if stop.is_set():
            return
        progress = Progress(lambda done, total: self._reported.emit(generation, done, total), stop)
        try:
            result = function(progress, *args)
        except Cancelled:
            return
        except Exception as error:  # shown to the user as one line; the app keeps running
            self._ended.emit(generation, None, error)
            return
        self._ended.emit(generation, result, None)

    def _on_reported(self, generation: int, done: int, total: int) -> None:
        if generation == self._generation:
            self.progressed.emit(done, total)

    def _on_ended(self, generation: int, result: object, error: object) -> None:
        if generation != self._generation:
            return
        self._set_busy(False)
        if error is not None:
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            self.failed.emit(message)
        else:
            self.finished.emit(result)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busyChanged.emit(busy)


class GuiThreadCollection:
    """Garbage collection on the GUI thread from construction until ``close()`` (several may overlap)."""

    _open = 0
    _was_enabled = True

    def __init__(self) -> None:
        if GuiThreadCollection._open == 0:
            GuiThreadCollection._was_enabled = gc.isenabled()
        GuiThreadCollection._open += 1
        self._collector = GarbageCollector(interval=COLLECT_INTERVAL_S)

    @staticmethod
    def freeze_built() -> None:
        """Leave every object made so far (modules, widgets: 225,000 of them) out of later collections.
        pyqtgraph's collector runs a full collection whenever the counts pass their thresholds, and one
        over all of them held the GUI thread for 135 ms; frozen, it takes what is new since."""
        gc.freeze()

    def close(self) -> None:
        if self._collector is None:
            return
        self._collector.timer.stop()
        self._collector = None
        GuiThreadCollection._open -= 1
        if GuiThreadCollection._open == 0:
            gc.unfreeze()  # what the windows left behind is collected again
            if GuiThreadCollection._was_enabled:
                gc.enable()
