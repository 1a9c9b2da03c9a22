"""explain_unit's numbers add up to what the model computed, for every kind of layer."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.architecture import PRESETS, build_model
from core.insight.model_input import InsightError
from core.insight.unit_explainer import UnitKind, explain_unit
from core.inspect import inspect, leaf_layers
from tests.core.insight._bundled import mnist_test, trained_lenet


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_a = nn.Conv2d(channels, channels, 3, padding="same", padding_mode="reflect", bias=False)
        self.bn_a = nn.BatchNorm2d(channels)
        self.act = nn.LeakyReLU(0.1)
        self.conv_b = nn.Conv2d(channels, channels, 3, padding=2, dilation=2, groups=2)
        self.bn_b = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.bn_b(self.conv_b(self.act(self.bn_a(self.conv_a(x))))))


class UserNet(nn.Module):
    """A user's own model: residual block, odd pooling options, functional flatten, BN on flat data."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 4, stride=2, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.block = ResidualBlock(4)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.avg = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        self.avg_pad = nn.AvgPool2d(2, stride=1, padding=1)
        self.adaptive = nn.AdaptiveAvgPool2d(3)
        self.adaptive_max = nn.AdaptiveMaxPool2d((2, 3))
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4 * 2 * 3, 12)
        self.bn = nn.BatchNorm1d(12)
        self.gelu = nn.GELU()
        self.head = nn.Linear(12, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(self.relu(self.stem(x)))
        x = self.adaptive_max(self.adaptive(self.avg_pad(self.avg(self.pool(x)))))
        x = self.drop(x.view(x.size(0), -1))
        return self.head(self.gelu(self.bn(self.fc(x))))


def randomised(model: nn.Module, seed: int) -> nn.Module:
    """Non-trivial batch-norm statistics, so their explanation is really tested."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            size = module.num_features
            module.running_mean.copy_(torch.randn(size, generator=generator))
            module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
            module.weight.data.copy_(torch.randn(size, generator=generator))
            module.bias.data.copy_(torch.randn(size, generator=generator))
    return model.eval()


def random_units(shape: tuple[int, ...], rng: np.random.Generator, count: int) -> list[tuple[int, int, int]]:
    if len(shape) == 1:
        return [(int(rng.integers(shape[0])), 0, 0) for _ in range(count)]
    return [tuple(int(rng.integers(size)) for size in shape) for _ in range(count)]


def layer_outputs(model: nn.Module, x: np.ndarray) -> dict[str, np.ndarray]:
    """Each leaf's output copied at once (core.inspect keeps views, which an in-place ReLU overwrites)."""
    outputs = {}
    handles = [
        module.register_forward_hook(lambda m, i, o, name=name: outputs.__setitem__(name, o[0].detach().clone().numpy()))
        for name, module in leaf_layers(model)
    ]
    with torch.no_grad():
        model(torch.tensor(x)[None])
    for handle in handles:
        handle.remove()
    return outputs


def check_every_layer(model: nn.Module, x: np.ndarray, seed: int) -> set[UnitKind]:
    rng = np.random.default_rng(seed)
    activations = layer_outputs(model, x)
    kinds = set()
    for name, _ in leaf_layers(model):
        for channel, row, col in random_units(activations[name].shape, rng, 4):
            e = explain_unit(model, x, name, channel, row, col)
            index = (channel, row, col) if activations[name].ndim == 3 else (channel,)
            assert e.value == pytest.approx(float(activations[name][index]), rel=1e-6, abs=1e-6)
            assert e.total == pytest.approx(e.value, rel=1e-5, abs=1e-5), (name, e.kind)
            assert e.terms.dtype == np.float64
            if e.kind in (UnitKind.CONV, UnitKind.FC, UnitKind.BATCH_NORM):
                assert e.total == pytest.approx(e.terms.sum() + e.bias)
            elif e.kind is UnitKind.MAX_POOL:
                assert e.total == e.terms.max()
                assert e.patch[0][e.winner] == e.total
            elif e.kind is UnitKind.AVG_POOL:
                assert e.total == pytest.approx(e.terms.mean()) and e.bias == 0.0
            kinds.add(e.kind)
    return kinds


def test_lenet_every_layer_adds_up():
    kinds = check_every_layer(trained_lenet(), mnist_test().images[3], seed=0)
    assert kinds == {UnitKind.CONV, UnitKind.ACTIVATION, UnitKind.MAX_POOL, UnitKind.FLATTEN, UnitKind.FC}


def test_tinyvgg_every_layer_adds_up():
    torch.manual_seed(1)
    check_every_layer(build_model(PRESETS["tinyvgg"]).eval(), mnist_test().images[7], seed=1)


def test_user_model_with_residual_block_adds_up():
    torch.manual_seed(2)
    model = randomised(UserNet(), seed=2)
    x = torch.randn(3, 17, 19).numpy()
    kinds = check_every_layer(model, x, seed=2)
    assert kinds == set(UnitKind) - {UnitKind.FLATTEN}  # this model flattens with x.view
    assert explain_unit(model, x, "fc", 0, 0, 0).source_shape == (4, 2, 3)


def test_conv_patch_is_the_image_window_times_the_filter():
    model, x = trained_lenet(), mnist_test().images[0]
    e = explain_unit(model, x, "conv1", 5, 10, 7)
    assert e.kind is UnitKind.CONV and e.patch.shape == e.weights.shape == e.terms.shape == (1, 5, 5)
    np.testing.assert_array_equal(e.patch[0], x[0, 10:15, 7:12])
    np.testing.assert_allclose(e.weights, model.conv1.weight[5].detach().numpy())
    assert e.bias == pytest.approx(float(model.conv1.bias[5].detach()))
    assert (e.input_rows, e.input_cols) == (tuple(range(10, 15)), tuple(range(7, 12)))
    assert not e.padding_mask.any()
    relu = inspect(model, x, with_filters=False).activations["relu1"][5, 10, 7]
    assert e.activation == "ReLU" and e.after_activation == pytest.approx(float(relu))


def test_padding_cells_are_marked_and_zero():
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).eval()
    x = torch.randn(2, 4, 4).numpy()
    e = explain_unit(model, x, "0", 1, 0, 3)
    assert e.input_rows == (-1, 0, 1) and e.input_cols == (2, 3, 4)
    expected = np.array([[True, True, True], [False, False, True], [False, False, True]])
    np.testing.assert_array_equal(e.padding_mask, expected)
    assert (e.patch[:, expected] == 0).all()
    assert e.input_channels == (0, 1)


def test_grouped_conv_sees_only_its_group():
    model = nn.Sequential(nn.Conv2d(4, 6, 3, groups=2), nn.Flatten(), nn.Linear(6 * 3 * 3, 2)).eval()
    e = explain_unit(model, torch.randn(4, 5, 5).numpy(), "0", 4, 1, 1)
    assert e.input_channels == (2, 3) and e.weights.shape == (2, 3, 3)


def test_fc_votes_name_their_source_and_the_last_layer_has_probabilities():
    model, x = trained_lenet(), mnist_test().images[0]
    e = explain_unit(model, x, "fc1", 3, 0, 0)
    assert e.source_shape == (16, 4, 4)
    pool2 = inspect(model, x, with_filters=False).activations["pool2"]
    for vote in e.top_positive + e.top_negative:
        assert vote.source == e.source_of(vote.index)
        assert vote.activation == pytest.approx(float(pool2[vote.source]))
        assert vote.product == pytest.approx(vote.weight * vote.activation)
    products = [vote.product for vote in e.top_positive]
    assert products == sorted(products, reverse=True) and products[0] == pytest.approx(e.terms.max())
    assert e.logits is None and e.probabilities is None
    last = explain_unit(model, x, "fc3", 7, 0, 0, class_names=[str(d) for d in range(10)])
    expected = inspect(model, x, with_filters=False).probabilities
    np.testing.assert_allclose(last.probabilities, expected, rtol=1e-5)
    assert last.logits[7] == pytest.approx(last.value, rel=1e-6)
    assert last.class_names == tuple("0123456789")
    assert last.source_shape is None


def test_flatten_position_maps_back_to_channel_row_col():
    model, x = trained_lenet(), mnist_test().images[0]
    e = explain_unit(model, x, "flatten", 16 * 3 + 4 * 2 + 1, 0, 0)
    assert e.source == (3, 2, 1) and e.source_shape == (16, 4, 4)


@pytest.mark.parametrize(
    "layer, unit, message",
    [
        ("conv9", (0, 0, 0), "no layer named 'conv9'"),
        ("conv1", (8, 0, 0), "outside its 8x24x24 output"),
        ("fc1", (0, 1, 0), "row = col = 0"),
    ],
)
def test_bad_requests_get_one_line(layer, unit, message):
    with pytest.raises(InsightError, match=message):
        explain_unit(trained_lenet(), mnist_test().images[0], layer, *unit)


def test_a_block_is_not_a_layer_and_the_model_is_left_as_it_was():
    model = UserNet().train()
    with pytest.raises(InsightError, match="block of layers"):
        explain_unit(model, torch.randn(3, 17, 19).numpy(), "block", 0, 0, 0)
    explain_unit(model, torch.randn(3, 17, 19).numpy(), "block.conv_a", 0, 0, 0)
    assert all(m.training for m in model.modules())


@pytest.mark.parametrize("layer", ["pool", "avg", "avg_pad", "adaptive", "adaptive_max"])
def test_every_pooling_window_including_ceil_mode_edges(layer):
    torch.manual_seed(3)
    model, x = UserNet().eval(), torch.randn(3, 17, 19).numpy()
    output = layer_outputs(model, x)[layer]
    for channel, row, col in np.ndindex(*output.shape):
        e = explain_unit(model, x, layer, channel, row, col)
        assert e.total == pytest.approx(float(output[channel, row, col]), rel=1e-5, abs=1e-6)
        assert e.terms.size == e.counted_mask.sum() and e.patch.shape[1:] == e.counted_mask.shape


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize(
    "conv",
    [
        lambda: nn.Conv2d(2, 3, (4, 2), padding="same"),
        lambda: nn.Conv2d(2, 3, 3, padding=2, padding_mode="circular"),
        lambda: nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode="replicate", stride=(2, 1)),
        lambda: nn.Conv2d(3, 6, 3, stride=2, padding=3, dilation=3, groups=3, bias=False),
    ],
)
def test_every_unit_of_unusual_convolutions(conv):
    torch.manual_seed(4)
    layer = conv()
    model = nn.Sequential(layer).eval()
    x = torch.randn(layer.in_channels, 7, 6).numpy()
    output = layer_outputs(model, x)["0"]
    for channel, row, col in np.ndindex(*output.shape):
        e = explain_unit(model, x, "0", channel, row, col)
        assert e.total == pytest.approx(float(output[channel, row, col]), rel=1e-5, abs=1e-5)
