"""ModelSession's cached forward under channel interventions: what the views read, never the weights."""
from __future__ import annotations

import numpy as np
import pytest

from core.assets import DEFAULT_CHECKPOINT
from core.checkpoint import load_checkpoint
from core.data import load_dataset
from core.model_session import ModelSession


@pytest.fixture
def session() -> ModelSession:
    session = ModelSession.from_checkpoint(load_checkpoint(DEFAULT_CHECKPOINT))
    session.set_input(load_dataset("mnist", "test", session.input_shape).images[0])
    return session


def test_interventions_are_a_checked_copy_and_renew_the_cached_forward(session):
    plain = session.inspection
    session.set_interventions({"conv2": [2, 4]})
    assert session.interventions == {"conv2": {2: 0.0, 4: 0.0}}
    session.interventions["conv2"][7] = 0.0  # a copy: changing it changes nothing
    assert session.interventions == {"conv2": {2: 0.0, 4: 0.0}}
    assert session.inspection is not plain and not session.activation("conv2")[[2, 4]].any()
    np.testing.assert_allclose(session.plain_probabilities(), plain.probabilities, atol=1e-6)
    session.set_interventions({})
    np.testing.assert_allclose(session.probabilities(), plain.probabilities, atol=1e-6)
    assert session.plain_probabilities() is session.probabilities()


def test_new_weights_keep_the_interventions_and_leave_the_weights_as_loaded(session):
    weights = {k: v * 0.9 for k, v in session.weights().items()}
    session.set_interventions({"conv1": {0: 3.0}})
    session.load_weights(weights, 5)
    for name, value in weights.items():
        np.testing.assert_array_equal(session.weights()[name], value)
    assert session.interventions == {"conv1": {0: 3.0}}


def test_a_unit_of_a_switched_off_channel_sees_nothing(session):
    assert session.unit_receptive_field("conv2", 3, 4, 4).erf.max() > 0
    session.set_interventions({"conv2": [3]})
    assert not session.unit_receptive_field("conv2", 3, 4, 4).erf.any()
    assert session.unit_receptive_field("conv2", 2, 4, 4).erf.max() > 0
