import numpy as np
import pytest
import torch
from torch import nn

from core.insight.attribution import attribute
from core.insight.intervention import (
    channel_intervention,
    inspect_with,
    probabilities_with,
    rank_channels,
)
from core.insight.model_input import InsightError
from core.inspect import inspect


def _one_digit_per_class(dataset):
    return [dataset.images[np.flatnonzero(dataset.labels == digit)[0]] for digit in range(10)]


def test_no_intervention_gives_the_normal_prediction(trained_lenet, mnist_test):
    x = mnist_test.images[0]
    np.testing.assert_array_equal(probabilities_with(trained_lenet, x, off={}), inspect(trained_lenet, x).probabilities)


def test_switching_off_every_channel_of_conv2_changes_the_prediction(trained_lenet, mnist_test):
    digits = _one_digit_per_class(mnist_test)
    normal = [int(inspect(trained_lenet, x).probabilities.argmax()) for x in digits]
    assert normal == list(range(10))
    silenced = [probabilities_with(trained_lenet, x, off={"conv2": range(16)}) for x in digits]
    # With conv2 silent the input no longer reaches the classifier: one answer for every digit.
    np.testing.assert_allclose(silenced, [silenced[0]] * 10, atol=1e-6)
    assert sum(int(p.argmax()) != digit for digit, p in enumerate(silenced)) == 9


def test_an_intervention_reaches_every_later_layer_but_no_earlier_one(trained_lenet, mnist_test):
    x = mnist_test.images[0]
    normal = inspect(trained_lenet, x)
    halved = inspect_with(trained_lenet, x, {"conv2": {3: 0.5, 5: 0.0}})
    np.testing.assert_array_equal(halved.activations["conv1"], normal.activations["conv1"])
    np.testing.assert_allclose(halved.activations["conv2"][3], 0.5 * normal.activations["conv2"][3], rtol=1e-6)
    assert not halved.activations["conv2"][5].any()
    np.testing.assert_array_equal(halved.activations["conv2"][4], normal.activations["conv2"][4])
    assert not np.array_equal(halved.activations["fc3"], normal.activations["fc3"])
    np.testing.assert_allclose(halved.probabilities, probabilities_with(trained_lenet, x, {"conv2": {3: 0.5, 5: 0}}))


def test_interventions_never_touch_the_weights_and_end_with_the_block(trained_lenet, mnist_test):
    x = mnist_test.images[0]
    weights = {name: value.clone() for name, value in trained_lenet.state_dict().items()}
    before = probabilities_with(trained_lenet, x)
    with channel_intervention(trained_lenet, {"conv2": range(16)}):
        # attributions see the altered network: the input no longer matters at all
        assert not attribute(trained_lenet, x, 3, "saliency").any()
    assert all(torch.equal(value, trained_lenet.state_dict()[name]) for name, value in weights.items())
    np.testing.assert_array_equal(probabilities_with(trained_lenet, x), before)
    with pytest.raises(InsightError), channel_intervention(trained_lenet, {"conv2": [16]}):
        probabilities_with(trained_lenet, x)
    np.testing.assert_array_equal(probabilities_with(trained_lenet, x), before)


def test_ranking_matches_switching_each_channel_off_alone(trained_lenet, mnist_test):
    x = mnist_test.images[3]
    predicted = int(probabilities_with(trained_lenet, x).argmax())
    ranking = rank_channels(trained_lenet, x, "conv2")
    assert sorted(channel for channel, _ in ranking) == list(range(16))
    drops = [drop for _, drop in ranking]
    assert drops == sorted(drops, reverse=True)
    base = probabilities_with(trained_lenet, x)[predicted]
    for channel, drop in ranking:
        alone = probabilities_with(trained_lenet, x, off={"conv2": [channel]})[predicted]
        assert drop == pytest.approx(base - alone, abs=1e-5)


def test_ranking_runs_the_layers_before_the_chosen_one_on_a_single_input(trained_lenet, mnist_test):
    batch_sizes = []
    handle = trained_lenet.conv1.register_forward_hook(lambda _m, inputs, _o: batch_sizes.append(len(inputs[0])))
    try:
        rank_channels(trained_lenet, mnist_test.images[0], "conv2")
    finally:
        handle.remove()
    assert set(batch_sizes) == {1}


class SkipConcat(nn.Module):
    """Later code concatenates an earlier batch-1 tensor: the ranking must copy the input instead."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Linear(8 * 6 * 6, 3)

    def forward(self, x):
        early = self.conv1(x)
        return self.head(torch.cat([early, torch.relu(self.conv2(early))], dim=1).flatten(1))


@pytest.mark.parametrize("model_name", ["colour user model", "skip concat"])
def test_ranking_works_for_models_that_are_not_a_chain(model_name, colour_net):
    torch.manual_seed(0)
    model, shape, layer = {
        "colour user model": (colour_net, (3, 16, 16), "conv"),
        "skip concat": (SkipConcat(), (1, 6, 6), "conv2"),
    }[model_name]
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    ranking = dict(rank_channels(model, x, layer, target=1))
    base = probabilities_with(model, x)[1]
    for channel in (0, 3):
        assert ranking[channel] == pytest.approx(base - probabilities_with(model, x, {layer: [channel]})[1], abs=1e-6)


@pytest.mark.parametrize(
    ("off", "message"),
    [
        ({"conv7": [1]}, "no layer named 'conv7'"),
        ({"conv2": [-1]}, "channel -1 is not a channel number"),
        ({"conv2": {1: float("nan")}}, "must be finite"),
        ({"conv2": 3}, "give a list of channels"),
        ({"conv2": [99]}, "conv2 has 16 channels; there is no channel 99"),
        ({"flatten": {0: 1.0}, "conv2": [1.5]}, "channel 1.5 is not a channel number"),
    ],
)
def test_bad_interventions_get_a_one_line_message(trained_lenet, mnist_test, off, message):
    with pytest.raises(InsightError, match=message):
        probabilities_with(trained_lenet, mnist_test.images[0], off=off)


def test_ranking_needs_a_layer_with_channels(trained_lenet, mnist_test):
    with pytest.raises(InsightError, match="no layer named 'conv3'"):
        rank_channels(trained_lenet, mnist_test.images[0], "conv3")
    with pytest.raises(InsightError, match="class 12 is out of range"):
        rank_channels(trained_lenet, mnist_test.images[0], "conv2", target=12)
