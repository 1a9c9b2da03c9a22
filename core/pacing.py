"""Slow motion: training paced to a few steps per second, so a student can watch filters form."""
from __future__ import annotations

import time
from typing import Callable


class Pacer:
    """Spaces steps ``1 / steps_per_second`` apart; ``None`` means full speed.

    A loop that must stay responsive (the window's worker reads commands) asks ``due_in()`` and waits
    on its command queue that long; a plain loop calls ``wait()``. Each step is scheduled from the
    previous one, so a slow step is not followed by a burst of catch-up steps.
    """

    def __init__(
        self,
        steps_per_second: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self.steps_per_second: float | None = None
        self.set_rate(steps_per_second)

    def set_rate(self, steps_per_second: float | None) -> None:
        if steps_per_second is not None and not steps_per_second > 0:
            raise ValueError(f"the pace must be a positive number of steps per second, not {steps_per_second}")
        self.steps_per_second = steps_per_second
        self._next = self._clock()  # a new pace starts now, not from the old schedule

    def due_in(self) -> float:
        """Seconds until the next step may start (0 when it may start now)."""
        if self.steps_per_second is None:
            return 0.0
        return max(0.0, self._next - self._clock())

    def started_step(self) -> None:
        """Record that a step starts now."""
        if self.steps_per_second is not None:
            self._next = max(self._next, self._clock()) + 1.0 / self.steps_per_second

    def wait(self) -> None:
        """Sleep until the next step is due, then record it as started."""
        delay = self.due_in()
        if delay > 0:
            self._sleep(delay)
        self.started_step()
