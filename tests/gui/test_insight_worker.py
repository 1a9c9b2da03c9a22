"""What the insight workers rely on: a model copy per weights version."""
from __future__ import annotations

import numpy as np
import torch

from core.weights import WeightsSnapshot
from gui.insight_worker import ModelCopy


def test_the_copy_is_not_the_model_on_show_and_is_renewed_for_new_weights(window):
    state = window.state
    copies = ModelCopy(state)
    first = copies.get()
    assert first is not state.session.model and copies.get() is first
    state.apply_snapshot(WeightsSnapshot(9, {k: v * 0.5 for k, v in state.session.weights().items()}, state.session.id))
    second = copies.get()
    assert second is not first
    for (name, mine), theirs in zip(second.state_dict().items(), state.session.model.state_dict().values()):
        assert torch.equal(mine, theirs), name
    np.testing.assert_array_equal(first.state_dict()["conv1.weight"] * 0.5, second.state_dict()["conv1.weight"])
