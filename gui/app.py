"""Application start-up: one QApplication, the main window, and the --screenshot mode."""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import traceback

import torch
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from core.budget import BudgetError
from core.checkpoint import CheckpointError
from core.model_session import ModelSession
from core.preprocess import identity_normalization
from core.user_model import UserModelError, load_user_model, parse_shape
from gui.main_window import MainWindow


def keep_freed_memory_for_reuse() -> None:
    """Every forward frees and re-allocates each layer's activations (12 MB per VGG-16 conv at 224x224).

    glibc hands blocks that big back to the kernel and page-faults them in again, which made a forward
    that keeps every activation 23% slower than torch's own; keeping them in the heap makes it equal
    (benchmarks/vgg_scale.py). Memory stays bounded by the largest forward.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 * 2**20)
    libc.mallopt(m_trim_threshold, 1 * 2**30)


GIL_SWITCH_SECONDS = 0.001


def share_the_cpu_with_the_window() -> None:
    """One torch thread on the GUI side (the trainer's process has the other core), and the GIL handed
    over within 1 ms instead of Python's 5: every torch op on the GUI thread gives up the GIL, and a
    background thread (a test pass, an attribution) then kept it for up to 5 ms each time. Measured with
    benchmarks/gui_responsiveness.py: the longest block went from 81-103 ms to 62-73 ms."""
    torch.set_num_threads(1)
    sys.setswitchinterval(GIL_SWITCH_SECONDS)


def run_app(
    checkpoint: str | None = None,
    screenshot: str | None = None,
    user_model: tuple[str, str, str | None] | None = None,
    follow: str | None = None,
) -> int:
    """``user_model``: (FILE.py:FUNCTION, CxHxW, weights file or None) to inspect the user's own nn.Module;
    ``follow``: a run folder to show and follow (with ``screenshot``: its newest snapshot)."""
    share_the_cpu_with_the_window()
    keep_freed_memory_for_reuse()
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Convscope")
    app.setOrganizationName("Convscope")
    signals = _CloseOnSignals()
    try:
        model = _user_session(*user_model) if user_model else None
        window = MainWindow(checkpoint, offer_restore=not screenshot and model is None and not follow, model=model)
    except (CheckpointError, UserModelError, BudgetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    signals.window = window
    window.show()
    if follow and not window.runs.follow(follow) and screenshot:
        print(f"error: {window.error_text()}", file=sys.stderr)
        window.close()
        return 2
    if screenshot:
        return _screenshot(app, window, screenshot)
    sys.excepthook = _report_to(window)
    return app.exec()


class _CloseOnSignals:
    """Ctrl-C or SIGTERM: stop training, autosave, exit cleanly. Python runs signal handlers only when
    it holds the interpreter, so a timer hands it control a few times a second while Qt waits.

    The handler runs between any two lines of Python, e.g. inside a view's paintEvent with its painter
    open, so it only asks the event loop to close: closing there destroyed the window under the painter
    and the app died of a segmentation fault on exit (1 exit in 4-8 in the signal test).

    It is installed before the window is built, which may wait on the user (the restore-autosave
    prompt). A signal then ends the app at once. That loses nothing: nothing has trained yet, and the
    autosave that was offered stays as it was, offered again at the next launch (its slot's lock goes
    with the process)."""

    def __init__(self) -> None:
        self.window = None
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, self._on_signal)
        self._wake = QTimer()
        self._wake.timeout.connect(lambda: None)
        self._wake.start(200)

    def _on_signal(self, _signum, _frame) -> None:
        if self.window is None:
            print("interrupted before the window was up: nothing was changed", file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(0)  # inside Qt's nested loop of a prompt: no Python exception may cross it
        QTimer.singleShot(0, self.window, self.window.close_for_signal)


def _user_session(spec: str, shape_text: str, weights: str | None) -> ModelSession:
    shape = parse_shape(shape_text)
    notes: list[str] = []
    model = load_user_model(spec, shape, weights, notes)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    with torch.no_grad():
        outputs = model(torch.zeros(1, *shape)).reshape(-1).numel()
    return ModelSession(model, shape, tuple(str(i) for i in range(outputs)), identity_normalization(shape[0]))


def _report_to(window):
    """An error that escapes a slot is shown in the window (and logged), and the app keeps running."""

    def report(kind, value, tb) -> None:
        traceback.print_exception(kind, value, tb)
        window.show_error(f"unexpected {kind.__name__}: {value} (details in the terminal)")

    return report


def _screenshot(app: QApplication, window, path: str) -> int:
    """Render at a fixed size (not the user's saved geometry) so screenshots compare, then quit."""
    window.resize(1560, 960)
    for _ in range(100):  # a followed run's model draws its views one per turn
        app.processEvents()
        if not window.binder.drawing:
            break
    for _ in range(5):
        app.processEvents()
    ok = window.grab().save(path)
    window.close()
    if not ok:
        print(f"error: could not write {path}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0
