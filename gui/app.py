"""Application start-up: one QApplication, the main window, and the --screenshot mode."""
from __future__ import annotations

import sys
import traceback

import torch
from PySide6.QtWidgets import QApplication

from core.checkpoint import CheckpointError


def run_app(checkpoint: str | None = None, screenshot: str | None = None) -> int:
    torch.set_num_threads(1)  # the trainer's process has the other core
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Convscope")
    app.setOrganizationName("Convscope")
    from gui.main_window import MainWindow

    try:
        window = MainWindow(checkpoint, offer_restore=not screenshot)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    window.show()
    if screenshot:
        return _screenshot(app, window, screenshot)
    sys.excepthook = _report_to(window)
    return app.exec()


def _report_to(window):
    """An error that escapes a slot is shown in the window (and logged), and the app keeps running."""

    def report(kind, value, tb) -> None:
        traceback.print_exception(kind, value, tb)
        window.show_error(f"unexpected {kind.__name__}: {value} (details in the terminal)")

    return report


def _screenshot(app: QApplication, window, path: str) -> int:
    """Render at a fixed size (not the user's saved geometry) so screenshots compare, then quit."""
    window.resize(1560, 960)
    for _ in range(5):
        app.processEvents()
    ok = window.grab().save(path)
    window.close()
    if not ok:
        print(f"error: could not write {path}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0
