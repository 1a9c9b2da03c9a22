"""Plain callback lists: how Qt-free state announces changes to whoever draws it.

A view connects a callable; the state calls every connected callable in order when it emits. No
queueing and no threads: emitting happens on the caller's thread, which for the window is the GUI's.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Event:
    """One kind of change; ``emit(*args)`` calls each connected callback with those arguments."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """Call ``callback`` on every emit; returns it, so this works as a decorator too."""
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[..., Any]) -> None:
        self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)

    def __repr__(self) -> str:
        return f"Event({self.name!r}, {len(self._callbacks)} connected)"
