"""Feature visualisation makes inputs that excite their channel, within the data's range, cancellably."""
import numpy as np
import pytest
import torch

from core.insight.model_input import InsightError
from core.insight.feature_visualization import value_range_of, visualize_channel
from core.inspect import inspect
from tests.core.insight._bundled import mnist_test, trained_lenet


def excitation(model, x, layer, channel, unit=None) -> float:
    activation = inspect(model, x, with_filters=False).activations[layer][channel]
    if activation.ndim == 0:
        return float(activation)
    return float(activation.mean() if unit is None else activation[unit])


@pytest.mark.parametrize("layer, channel, unit", [("conv1", 1, None), ("conv2", 5, None), ("conv2", 2, (4, 4)), ("fc3", 3, None)])
def test_excites_its_channel_more_than_the_mean_test_image(layer, channel, unit):
    model, dataset = trained_lenet(), mnist_test()
    low, high = value_range_of(dataset.normalization)
    image = visualize_channel(model, layer, channel, (1, 28, 28), value_range=(low, high), unit=unit)
    assert image.shape == (1, 28, 28) and image.dtype == np.float32
    assert low[0] < image.min() and image.max() < high[0]
    reached = excitation(model, image, layer, channel, unit)
    assert reached > excitation(model, dataset.images.mean(axis=0), layer, channel, unit)
    assert reached > np.mean([excitation(model, x, layer, channel, unit) for x in dataset.images[:100]])


def test_reports_progress_and_stops_when_asked():
    calls = []
    image = visualize_channel(
        trained_lenet(), "conv2", 0, (1, 28, 28), steps=50,
        progress=lambda done, total: calls.append((done, total)), should_stop=lambda: len(calls) >= 5,
    )
    assert calls == [(step, 50) for step in range(1, 6)]
    assert image.shape == (1, 28, 28) and np.isfinite(image).all()


def test_same_seed_same_image_and_the_model_is_left_alone():
    model = trained_lenet().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    first = visualize_channel(model, "conv1", 2, (1, 28, 28), steps=6, seed=3)
    np.testing.assert_array_equal(first, visualize_channel(model, "conv1", 2, (1, 28, 28), steps=6, seed=3))
    assert not np.array_equal(first, visualize_channel(model, "conv1", 2, (1, 28, 28), steps=6, seed=4))
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(m.training and not m._forward_hooks for m in model.modules())
    assert all(p.requires_grad and p.grad is None for p in model.parameters())


def test_colour_inputs_stay_in_their_per_channel_range():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 30 * 30, 2))
    low, high = (-1.0, -2.0, 0.0), (1.0, 0.5, 3.0)
    image = visualize_channel(model, "0", 1, (3, 32, 32), steps=20, value_range=(low, high))
    for channel in range(3):
        assert low[channel] < image[channel].min() and image[channel].max() < high[channel]


@pytest.mark.parametrize(
    "layer, channel, shape, kwargs, message",
    [
        ("conv1", 8, (1, 28, 28), {}, "outside its 8 channels"),
        ("conv1", 0, (1, 28, 28), {"unit": (30, 0)}, "outside its 24x24 map"),
        ("conv1", 0, (3, 28, 28), {}, "cannot run on a 3x28x28 input"),
        ("conv1", 0, (1, 28), {}, "input_shape must be"),
        ("conv1", 0, (1, 28, 28), {"value_range": (1.0, -1.0)}, "low < high"),
        ("nope", 0, (1, 28, 28), {}, "no layer named"),
    ],
)
def test_bad_requests_get_one_line(layer, channel, shape, kwargs, message):
    with pytest.raises(InsightError, match=message):
        visualize_channel(trained_lenet(), layer, channel, shape, steps=2, **kwargs)
