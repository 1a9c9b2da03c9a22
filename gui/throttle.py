"""At most one call per interval while requests keep coming (e.g. new weights 12.5 times a second)."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer


class Throttle(QObject):
    """``request()`` calls ``action`` at once when it has been quiet for ``interval_ms``; requests inside
    the interval fold into one call at its end, so the last request is always answered."""

    def __init__(self, interval_ms: int, action: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._action = action
        self._pending = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._on_timeout)

    def request(self) -> None:
        if self._timer.isActive():
            self._pending = True
            return
        self._action()
        self._timer.start()

    def stop(self) -> None:
        self._pending = False
        self._timer.stop()

    def _on_timeout(self) -> None:
        if self._pending:
            self._pending = False
            self._action()
            self._timer.start()
