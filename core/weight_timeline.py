"""Earlier weights of a run, kept so a user can look back at how filters and maps looked at any epoch.

Memory is bounded: snapshots are kept at a stride (every 1st, then every 2nd, 4th, ... addition) that
doubles whenever the budget is exceeded, so a long run keeps an evenly thinned history from its first
snapshot on, plus always the newest.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TimelineEntry:
    step: int
    weights: dict[str, np.ndarray]
    ordinal: int  # how many snapshots were offered before this one

    @property
    def nbytes(self) -> int:
        return sum(v.nbytes for v in self.weights.values())


class WeightTimeline:
    def __init__(self, max_bytes: int = 32 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._entries: list[TimelineEntry] = []
        self._offered = 0
        self._stride = 1

    def __len__(self) -> int:
        return len(self._entries)

    def steps(self) -> list[int]:
        return [entry.step for entry in self._entries]

    def add(self, step: int, weights: dict[str, np.ndarray]) -> bool:
        """Keep a copy of these weights; False when one snapshot alone is over the budget."""
        entry = TimelineEntry(step, {k: np.array(v, copy=True) for k, v in weights.items()}, self._offered)
        self._offered += 1
        if entry.nbytes > self.max_bytes:
            return False
        kept = [e for e in self._entries if e.step < step]  # a restart replaces what came after
        self._entries = [e for i, e in enumerate(kept) if e.ordinal % self._stride == 0 or i == 0] + [entry]
        while sum(e.nbytes for e in self._entries) > self.max_bytes and len(self._entries) > 2:
            self._stride *= 2
            first, *middle, newest = self._entries
            self._entries = [first, *(e for e in middle if e.ordinal % self._stride == 0), newest]
        return True

    def at(self, index: int) -> TimelineEntry:
        return self._entries[index]

    def clear(self) -> None:
        self._entries.clear()
        self._offered = 0
        self._stride = 1
