"""What insight work in background threads needs: its own copy of the model, and garbage collected on
the GUI thread only.

A worker must never run the model the GUI thread runs: forward hooks that one adds (interventions,
attributions) would fire inside the other's forwards. Copying once per weights version instead of per
request keeps a pen stroke from paying for a copy (VGG-16's is 528 MB).

Python's cyclic garbage collector runs in whichever thread happens to allocate when a threshold is
crossed. On a worker (importing scikit-learn, running t-SNE) it can destroy Qt objects from the GUI
thread there, which hung the process in about one GUI test run in seven. While insight workers may run,
collection is pyqtgraph's GarbageCollector: automatic collection off, a timer on the GUI thread instead.
"""
from __future__ import annotations

import copy
import gc

from pyqtgraph.util.garbage_collector import GarbageCollector
from torch import nn

from core.viewer_state import ViewerState

COLLECT_INTERVAL_S = 0.5


class GuiThreadCollection:
    """Garbage collection on the GUI thread from construction until ``close()`` (several may overlap)."""

    _open = 0
    _was_enabled = True

    def __init__(self) -> None:
        if GuiThreadCollection._open == 0:
            GuiThreadCollection._was_enabled = gc.isenabled()
        GuiThreadCollection._open += 1
        self._collector = GarbageCollector(interval=COLLECT_INTERVAL_S)

    def close(self) -> None:
        if self._collector is None:
            return
        self._collector.timer.stop()
        self._collector = None
        GuiThreadCollection._open -= 1
        if GuiThreadCollection._open == 0 and GuiThreadCollection._was_enabled:
            gc.enable()


class ModelCopy:
    """Create it before connecting one's own handlers to the state, so it forgets first."""

    def __init__(self, state: ViewerState) -> None:
        self._state = state
        self._copy: nn.Module | None = None
        state.weights_changed.connect(self.forget)
        state.session_replaced.connect(self.forget)

    def forget(self) -> None:
        self._copy = None

    def get(self) -> nn.Module:
        if self._copy is None:
            self._copy = copy.deepcopy(self._state.session.model).eval()
        return self._copy
