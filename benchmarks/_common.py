"""What every benchmark shares: repo on the path, offscreen Qt, percentiles, reporting, and a real window.

Heavy imports (torch, Qt, the app) stay inside functions: several benchmarks spawn training workers,
and a spawned child re-imports the benchmark script, which must stay as light as ``main.py`` is.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The app autosaves and flags crashes under $CONVSCOPE_HOME: benchmarks (and the children they start)
# get a throw-away one, so they never touch a user's sessions nor stop at a "restore?" prompt.
if "CONVSCOPE_BENCHMARK_HOME" not in os.environ:
    os.environ["CONVSCOPE_BENCHMARK_HOME"] = os.environ["CONVSCOPE_HOME"] = tempfile.mkdtemp(prefix="convscope-bench-")
    atexit.register(shutil.rmtree, os.environ["CONVSCOPE_HOME"], True)

RESULT_PREFIX = "RESULT "


@dataclass(frozen=True)
class Figure:
    """One measured figure beside the baseline it is judged against, both from the same run."""

    name: str
    value: float
    unit: str
    baseline: str
    target: str
    passed: bool
    ratio: float | None = None


def report(figure: Figure) -> None:
    """Print a figure for people, then once more as a JSON line for run_all.py's table."""
    ratio = f" | ratio {figure.ratio:.3f}" if figure.ratio is not None else ""
    verdict = "PASS" if figure.passed else "MISS"
    print(f"{figure.name}: {figure.value:.4g} {figure.unit} | baseline {figure.baseline}{ratio} | "
          f"target {figure.target} | {verdict}")
    print(RESULT_PREFIX + json.dumps(asdict(figure)), flush=True)


def percentile(samples, q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(samples, dtype=float), q))


def median(samples) -> float:
    return percentile(samples, 50)


def peak_rss_mib() -> float:
    """The process's peak resident memory (VmHWM), which counts every transient copy."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("/proc/self/status has no VmHWM line: peak memory needs Linux")


def current_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("/proc/self/status has no VmRSS line: memory needs Linux")


def qt_app():
    """The QApplication, set up as gui.app.run_app does (one torch thread, the GIL handed over quickly)."""
    from PySide6.QtWidgets import QApplication

    from gui.app import share_the_cpu_with_the_window

    share_the_cpu_with_the_window()
    return QApplication.instance() or QApplication([sys.argv[0]])


def pump(seconds: float) -> None:
    """Run the event loop for a while, as app.exec() does: asleep in the event dispatcher between events.

    A loop of ``processEvents`` calls would spin instead (it returns at once when nothing is pending):
    it took a whole core and the GIL between calls, which the app's own event loop never does.
    """
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    loop, timer = QEventLoop(), QTimer()
    timer.setSingleShot(True)
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(loop.quit)
    timer.start(max(0, round(seconds * 1000)))
    loop.exec()


def set_epochs(window, epochs: int) -> None:
    """As a user would: the training panel's epochs box, found by its name."""
    from PySide6.QtWidgets import QSpinBox

    window.findChild(QSpinBox, "epochs").setValue(epochs)


@contextmanager
def main_window():
    """The real MainWindow, shown and laid out, with throw-away settings so no user's QSettings change."""
    from PySide6.QtCore import QSettings

    app = qt_app()
    from gui.main_window import MainWindow

    with tempfile.TemporaryDirectory() as folder:
        settings = QSettings(str(Path(folder) / "convscope.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings)
        window.show()
        pump(0.5)
        try:
            yield window
        finally:
            close_discarding_training(window)
            app.processEvents()
            window.deleteLater()
            app.processEvents()


def close_discarding_training(window) -> None:
    """Close the window as a user who answers "Discard" when asked to save what the benchmark trained."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    def discard() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox) and box.button(QMessageBox.StandardButton.Discard) is not None:
            box.button(QMessageBox.StandardButton.Discard).click()

    answerer = QTimer()
    answerer.setInterval(50)
    answerer.timeout.connect(discard)
    answerer.start()
    try:
        window.close()
    finally:
        answerer.stop()


def paint_counter(widgets):
    """Counts Paint events delivered to each widget: proof that pixels were produced, not just scheduled."""
    from PySide6.QtCore import QEvent, QObject

    class PaintCounter(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.counts = {id(w): 0 for w in widgets}
            for widget in widgets:
                widget.installEventFilter(self)

        def total(self, widget) -> int:
            return self.counts[id(widget)]

        def eventFilter(self, watched, event) -> bool:
            if event.type() == QEvent.Type.Paint and id(watched) in self.counts:
                self.counts[id(watched)] += 1
            return False

    return PaintCounter()


def profile_top(function, limit: int = 25) -> None:
    """Run ``function`` under cProfile and print where the time went (cumulative), for the README's findings."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(function)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(limit)
