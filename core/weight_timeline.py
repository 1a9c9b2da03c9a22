"""Earlier weights of a run, kept so a user can look back at how filters and maps looked at any epoch.

Memory is bounded: snapshots are kept at a stride (every 1st, then every 2nd, 4th, ... addition) that
doubles whenever the budget is exceeded, so a long run keeps an evenly thinned history from its first
snapshot on, plus always the newest.
"""
from __future__ import annotations

import numpy as np

from core.weights import WeightsSnapshot


class WeightTimeline:
    def __init__(self, max_bytes: int = 32 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._entries: list[tuple[int, WeightsSnapshot]] = []  # (how many were offered before it, snapshot)
        self._offered = 0
        self._stride = 1

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return sum(snapshot.nbytes for _, snapshot in self._entries)

    def steps(self) -> list[int]:
        return [snapshot.step for _, snapshot in self._entries]

    def add(self, snapshot: WeightsSnapshot) -> bool:
        """Keep a copy of these weights; False when one snapshot alone is over the budget."""
        kept_copy = WeightsSnapshot(
            snapshot.step, {k: np.array(v, copy=True) for k, v in snapshot.weights.items()}, snapshot.session
        )
        ordinal = self._offered
        self._offered += 1
        if kept_copy.nbytes > self.max_bytes:
            return False
        kept = [e for e in self._entries if e[1].step < snapshot.step]  # a restart replaces what came after
        self._entries = [e for i, e in enumerate(kept) if e[0] % self._stride == 0 or i == 0] + [(ordinal, kept_copy)]
        while self.nbytes > self.max_bytes and len(self._entries) > 2:
            self._stride *= 2
            first, *middle, newest = self._entries
            self._entries = [first, *(e for e in middle if e[0] % self._stride == 0), newest]
        return True

    def at(self, index: int) -> WeightsSnapshot:
        return self._entries[index][1]

    def clear(self) -> None:
        self._entries.clear()
        self._offered = 0
        self._stride = 1
