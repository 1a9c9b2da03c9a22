"""Runs ``main.py`` unchanged and prints "painted" the moment its main window has first been painted.

QApplication.exec is wrapped to install an event filter before the loop starts; the first Paint event
a QMainWindow receives posts a zero-delay timer, which fires after that whole paint pass (every child
widget painted and the backing store flushed). Then the process exits without tearing anything down.

    python benchmarks/_first_paint.py [--profile] [main.py arguments...]

--profile covers main.py from its first line; torch and PySide6 are already imported by then.
"""
from __future__ import annotations

import cProfile
import os
import pstats
import runpy
import sys
from pathlib import Path

MAIN = Path(__file__).resolve().parent.parent / "main.py"
sys.path.insert(0, str(MAIN.parent))

# The window's modules, imported as main.py imports them (torch, then PySide6, with the garbage
# collector paused): importing PySide6 first would route every later import through shiboken's import
# hook and make start-up look slower than it is.
from main import import_window  # noqa: E402

import_window()
from PySide6.QtCore import QEvent, QObject, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QMainWindow  # noqa: E402


class FirstPaint(QObject):
    def __init__(self, profiler: cProfile.Profile | None) -> None:
        super().__init__()
        self.profiler = profiler
        self.seen = False

    def eventFilter(self, watched, event) -> bool:
        if not self.seen and event.type() == QEvent.Type.Paint and isinstance(watched, QMainWindow):
            self.seen = True
            QTimer.singleShot(0, self.finish)
        return False

    def finish(self) -> None:
        if self.profiler is not None:
            self.profiler.disable()
            pstats.Stats(self.profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
        print("painted", flush=True)
        os._exit(0)


def main() -> None:
    profile = "--profile" in sys.argv
    profiler = cProfile.Profile() if profile else None
    watcher = FirstPaint(profiler)
    original_exec = QApplication.exec

    def exec_watching_paint(app) -> int:
        app.installEventFilter(watcher)
        return original_exec()

    QApplication.exec = exec_watching_paint
    sys.argv = [str(MAIN), *[a for a in sys.argv[1:] if a != "--profile"]]
    if profiler is not None:
        profiler.enable()
    runpy.run_path(str(MAIN), run_name="__main__")


if __name__ == "__main__":
    main()
