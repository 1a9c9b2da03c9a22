import numpy as np
import torch
from torch import nn

from core.architecture import PRESETS, build_model
from core.inspect import inspect, leaf_layers


def test_every_leaf_layer_of_a_sequential_model_is_recorded_in_order():
    torch.manual_seed(0)
    model = build_model(PRESETS["lenet"])
    x = np.random.default_rng(0).normal(size=(1, 28, 28)).astype(np.float32)
    result = inspect(model, x)
    assert result.layer_names == [name for name, _ in leaf_layers(model)]
    assert result.activations["conv1"].shape == (8, 24, 24)
    assert result.activations["fc3"].shape == (10,)
    np.testing.assert_allclose(result.probabilities.sum(), 1.0, rtol=1e-5)
    expected = torch.softmax(model(torch.from_numpy(x)[None]), 1)[0].detach().numpy()
    np.testing.assert_allclose(result.probabilities, expected, rtol=1e-5)
    np.testing.assert_array_equal(result.filters["conv1"], model.conv1.weight.detach().numpy())


class TwoBranch(nn.Module):
    """Not a Sequential: layers are called in forward() with a residual add."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.branch = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x):
        y = self.stem(x)
        y = y + self.branch(y)
        return self.head(y.flatten(1))


def test_any_module_gives_its_leaf_activations_and_filters():
    model = TwoBranch().train()
    result = inspect(model, np.ones((3, 8, 8), np.float32))
    assert result.layer_names == ["stem", "branch.0", "branch.1", "head"]
    assert result.filters["branch.0"].shape == (4, 4, 3, 3)
    assert result.probabilities.shape == (5,)
    assert model.training  # mode restored


def test_arrays_are_copies_that_do_not_change_with_the_model():
    model = build_model(PRESETS["xo"])
    result = inspect(model, np.ones((1, 9, 9), np.float32))
    before = result.filters["conv1"].copy()
    with torch.no_grad():
        model.conv1.weight.add_(1.0)
    np.testing.assert_array_equal(result.filters["conv1"], before)


def test_an_in_place_relu_does_not_overwrite_the_kept_output_of_the_layer_before_it():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    x = np.random.default_rng(1).normal(size=(1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        expected = model[0](torch.from_numpy(x)[None])[0].numpy()
    result = inspect(model, x)
    assert expected.min() < 0  # the conv's map has negative values for the ReLU to zero
    np.testing.assert_allclose(result.activations["0"], expected, rtol=1e-6)
    np.testing.assert_allclose(result.activations["1"], np.maximum(expected, 0), rtol=1e-6)


def test_a_model_of_its_own_with_an_in_place_relu_keeps_the_map_before_it():
    """Not a plain chain: the activations come from hooks, which must keep copies."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.relu, self.head = nn.Conv2d(1, 4, 3), nn.ReLU(inplace=True), nn.Linear(4 * 6 * 6, 3)

        def forward(self, x):
            return self.head(self.relu(self.conv(x)).flatten(1))

    torch.manual_seed(0)
    model = Net()
    x = np.random.default_rng(1).normal(size=(1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        expected = model.conv(torch.from_numpy(x)[None])[0].numpy()
    result = inspect(model, x)
    assert expected.min() < 0
    np.testing.assert_allclose(result.activations["conv"], expected, rtol=1e-6)
