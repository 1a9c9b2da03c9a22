"""The progress bar and Cancel button of a view whose computation runs in the background."""
from __future__ import annotations

from PySide6.QtWidgets import QProgressBar, QPushButton


def show_busy(progress: QProgressBar, cancel: QPushButton, busy: bool, text: str = "") -> None:
    """A computation starts (``text`` on the bar) or ends; the bar keeps its place, so nothing jumps."""
    cancel.setEnabled(busy)
    progress.setFormat(text if busy else "")
    if not busy:
        progress.setRange(0, 1)
        progress.setValue(0)


def show_progress(progress: QProgressBar, done: int, total: int) -> None:
    progress.setRange(0, max(1, total))
    progress.setValue(min(done, total))
