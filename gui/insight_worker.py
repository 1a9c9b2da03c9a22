"""What insight work in background threads needs: its own copy of the model.

A worker must never run the model the GUI thread runs: forward hooks that one adds (interventions,
attributions) would fire inside the other's forwards. Copying once per weights version instead of per
request keeps a pen stroke from paying for a copy (VGG-16's is 528 MB).
"""
from __future__ import annotations

import copy

from torch import nn

from core.viewer_state import ViewerState

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
