"""Redraws spread over the event loop's turns, one per turn, so that no single turn holds the GUI thread
for all the views a new model or new weights touch.

On this 2-core VM the same turn sometimes runs 5-20 times slower than its usual cost (the host, not the
app: see benchmarks/README.md); the longest GUI-thread block is then that multiple of the longest turn,
so the turns are kept small. A 0 ms QTimer *object* is used because its timeout is a new turn: a posted
call (``QTimer.singleShot(0, ...)``) runs in the same pass as the events before it.
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer


class DrawQueue(QObject):
    """``later(draw)`` runs ``draw`` on a later turn, each queued draw in its own turn, in order; a draw
    queued again before it ran runs once, in its first place."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pending: list[Callable[[], None]] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._run_next)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def later(self, *draws: Callable[[], None]) -> None:
        for draw in draws:
            if draw not in self._pending:
                self._pending.append(draw)
        if self._pending and not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Run every queued draw now (the first picture of a window is whole)."""
        self._timer.stop()
        while self._pending:
            self._pending.pop(0)()

    def clear(self) -> None:
        self._timer.stop()
        self._pending.clear()

    def _run_next(self) -> None:
        if not self._pending:
            return
        draw = self._pending.pop(0)
        if self._pending:
            self._timer.start()
        draw()
