"""Analytic receptive fields against hand-checked values and against the gradient's support."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from core.receptive_field import (
    ReceptiveFieldError,
    effective_receptive_field,
    receptive_fields,
    rf_step,
    unit_box,
)


def lenet() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 10),
    )


def by_name(model: nn.Module, input_shape: tuple[int, int, int]) -> dict:
    return {rf.name: rf for rf in receptive_fields(model, input_shape)}


def test_rf_step_grows_by_the_dilated_kernel_in_input_pixels():
    assert rf_step(1, 1, 0, kernel=5, stride=1, padding=0) == (5, 1, 0)
    assert rf_step(5, 1, 0, kernel=2, stride=2, padding=0) == (6, 2, 0)
    assert rf_step(6, 2, 0, kernel=3, stride=1, padding=1, dilation=2) == (14, 2, -2)


def test_lenet_values_match_the_hand_computed_ones():
    rfs = by_name(lenet(), (1, 28, 28))
    table = {name: (rf.size, rf.jump, rf.start) for name, rf in rfs.items()}
    assert table["0"] == (5, 1, 0)
    assert table["1"] == (5, 1, 0)
    assert table["2"] == (6, 2, 0)
    assert table["3"] == (14, 2, 0)
    assert table["5"] == (16, 4, 0)
    assert [rfs[n].kind for n in ("0", "1", "2", "6", "7")] == ["conv", "relu", "maxpool", "flatten", "fc"]
    assert rfs["5"].output_shape == (16, 4, 4)
    assert all(rf.spatial for name, rf in rfs.items() if int(name) < 6)


def test_flatten_and_fc_see_the_whole_input():
    rfs = by_name(lenet(), (1, 28, 28))
    for name in ("6", "7", "8", "9"):
        assert not rfs[name].spatial
        assert (rfs[name].size, rfs[name].size_w, rfs[name].jump, rfs[name].start) == (28, 28, 0, 0)
    box = unit_box(rfs["9"], 0, 0, (28, 28))
    assert (box.top, box.left, box.bottom, box.right) == (0, 0, 28, 28)
    assert not box.on_padding


def test_padding_stride_and_dilation_by_hand():
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        nn.Conv2d(2, 2, 3, stride=2, padding=1),
        nn.Conv2d(2, 2, 3, dilation=2, padding=2),
        nn.MaxPool2d(3, stride=2, padding=1, dilation=2),
    )
    rows = [(rf.size, rf.jump, rf.start) for rf in receptive_fields(model, (1, 32, 32))]
    # 3x3 p1: size 3, start -1; 3x3 s2 p1: +2 -> 5, jump 2, start -2;
    # dilated 3x3 (span 5) at jump 2: +8 -> 13, start -2 - 2*2 = -6; dilated pool: +4*2 -> 21, start -8.
    assert rows == [(3, 1, -1), (5, 2, -2), (13, 2, -6), (21, 4, -8)]


def test_rectangular_kernels_keep_separate_row_and_column_values():
    model = nn.Sequential(nn.Conv2d(1, 1, (3, 5), stride=(1, 2), padding=(0, 2)))
    (rf,) = receptive_fields(model, (1, 10, 12))
    assert (rf.size, rf.jump, rf.start) == (3, 1, 0)
    assert (rf.size_w, rf.jump_w, rf.start_w) == (5, 2, -2)
    assert rf.output_shape == (1, 8, 6)


def test_same_padding_and_adaptive_pooling():
    model = nn.Sequential(nn.Conv2d(1, 1, 5, padding="same"), nn.AdaptiveAvgPool2d(2))
    conv, pool = receptive_fields(model, (1, 8, 8))
    assert (conv.size, conv.jump, conv.start) == (5, 1, -2)
    equivalent = nn.Sequential(nn.Conv2d(1, 1, 5, padding=2), nn.AvgPool2d(4))
    assert [(r.size, r.jump, r.start) for r in receptive_fields(equivalent, (1, 8, 8))] == [
        (conv.size, conv.jump, conv.start),
        (pool.size, pool.jump, pool.start),
    ]
    assert pool.output_shape == (1, 2, 2)


class Branchy(nn.Module):
    """Not a Sequential: functional ReLU between convs and two branches added together."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.wide = nn.Conv2d(4, 4, 5, padding=2)
        self.narrow = nn.Sequential(nn.Conv2d(4, 4, 1))
        self.head = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem(x))
        x = self.wide(x) + self.narrow(x)
        return self.head(x.flatten(1))


def test_custom_module_uses_qualified_names_and_follows_branches():
    rfs = by_name(Branchy(), (1, 8, 8))
    assert list(rfs) == ["stem", "wide", "narrow.0", "head"]
    assert (rfs["stem"].size, rfs["stem"].start) == (3, -1)
    assert (rfs["wide"].size, rfs["wide"].start) == (7, -3)
    # The 1x1 branch reads the stem's output, not the wide conv's.
    assert (rfs["narrow.0"].size, rfs["narrow.0"].start) == (3, -1)
    assert not rfs["head"].spatial


def test_effective_receptive_field_of_a_custom_module_stays_in_the_analytic_box():
    torch.manual_seed(2)
    model = Branchy()
    rf = by_name(model, (1, 8, 8))["wide"]
    erf = effective_receptive_field(model, torch.rand(1, 8, 8), "wide", 1, 4, 5)
    box = unit_box(rf, 4, 5, (8, 8))
    support = np.argwhere(erf > 0)
    assert support.min(0).tolist() >= [box.top, box.left]
    assert support.max(0).tolist() < [box.bottom, box.right]
    assert erf.max() == pytest.approx(1.0)


class HiddenPool(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Conv2d(1, 1, 3)
        self.second = nn.Conv2d(1, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(F.max_pool2d(self.first(x), 2))


def test_an_untraceable_size_change_is_refused_by_name():
    with pytest.raises(ReceptiveFieldError, match="second: .*F.max_pool2d"):
        receptive_fields(HiddenPool(), (1, 12, 12))


def test_bad_input_shapes_are_refused_clearly():
    with pytest.raises(ReceptiveFieldError, match="three positive whole numbers"):
        receptive_fields(lenet(), (28, 28))
    with pytest.raises(ReceptiveFieldError, match="cannot run on a 3x28x28 input"):
        receptive_fields(lenet(), (3, 28, 28))


def test_receptive_fields_leave_training_mode_and_work_with_batchnorm1d():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.BatchNorm1d(2 * 4 * 4), nn.Linear(32, 2))
    model.train()
    rfs = receptive_fields(model, (1, 6, 6))
    assert [rf.kind for rf in rfs] == ["conv", "flatten", "bn", "fc"]
    assert all(m.training for m in model.modules())
    assert int(model[2].num_batches_tracked) == 0


def test_unit_box_is_clipped_and_flags_padding():
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, stride=2, padding=1))
    rf = receptive_fields(model, (1, 9, 9))[1]
    corner = unit_box(rf, 0, 0, (9, 9))
    assert (corner.full_top, corner.full_left, corner.full_bottom, corner.full_right) == (-2, -2, 3, 3)
    assert (corner.top, corner.left, corner.bottom, corner.right) == (0, 0, 3, 3)
    assert corner.on_padding
    inner = unit_box(rf, 2, 1, (9, 9))
    assert (inner.top, inner.left, inner.bottom, inner.right) == (2, 0, 7, 5)
    assert not unit_box(rf, 2, 2, (9, 9)).on_padding
    with pytest.raises(ReceptiveFieldError, match="outside its 5x5 feature map"):
        unit_box(rf, 5, 0, (9, 9))


def test_effective_receptive_field_restores_mode_and_grads():
    torch.manual_seed(0)
    model = lenet()
    model.train()
    model(torch.rand(2, 1, 28, 28)).sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    erf = effective_receptive_field(model, np.random.default_rng(0).random((28, 28)), "3", 1, 2, 3)
    assert erf.shape == (28, 28)
    assert erf.max() == pytest.approx(1.0)
    assert all(m.training for m in model.modules())
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads))
    support = np.argwhere(erf > 0)
    box = unit_box(by_name(model, (1, 28, 28))["3"], 2, 3, (28, 28))
    assert support.min(0).tolist() >= [box.top, box.left]
    assert support.max(0).tolist() < [box.bottom, box.right]


def test_effective_receptive_field_of_a_constant_unit_stays_zero():
    model = nn.Sequential(nn.Conv2d(1, 1, 3))
    nn.init.zeros_(model[0].weight)
    erf = effective_receptive_field(model, torch.ones(1, 1, 5, 5), "0", 0, 1, 1)
    assert erf.shape == (5, 5)
    assert not erf.any()


def test_effective_receptive_field_of_an_fc_unit_covers_the_image():
    torch.manual_seed(1)
    erf = effective_receptive_field(lenet(), torch.rand(1, 28, 28), "9", 4, 0, 0)
    assert erf.shape == (28, 28)
    assert (erf > 0).mean() > 0.5


def test_effective_receptive_field_refuses_bad_requests():
    model = lenet()
    with pytest.raises(ReceptiveFieldError, match="no layer named 'conv9'"):
        effective_receptive_field(model, torch.rand(1, 28, 28), "conv9", 0, 0, 0)
    with pytest.raises(ReceptiveFieldError, match="outside its 8x24x24 output"):
        effective_receptive_field(model, torch.rand(1, 28, 28), "0", 8, 0, 0)
    with pytest.raises(ReceptiveFieldError, match="one image shaped"):
        effective_receptive_field(model, torch.rand(2, 1, 28, 28), "0", 0, 0, 0)


@st.composite
def window_stacks(draw, pools: tuple[str, ...]) -> tuple[nn.Sequential, int, int]:
    """A random conv/pool stack that fits its random input; returns (model, channels, side)."""
    side = draw(st.integers(6, 20))
    channels = draw(st.integers(1, 2))
    layers: list[nn.Module] = []
    current, size = channels, side
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(("conv",) + pools))
        kernel, stride = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        if kind == "conv":
            dilation, padding = draw(st.integers(1, 3)), draw(st.integers(0, 2))
            out = draw(st.integers(1, 2))
            layer: nn.Module = nn.Conv2d(current, out, kernel, stride, padding, dilation)
            current = out
        elif kind == "avgpool":
            dilation, padding = 1, draw(st.integers(0, kernel // 2))
            layer = nn.AvgPool2d(kernel, stride, padding)
        else:
            dilation, padding = draw(st.integers(1, 2)), draw(st.integers(0, kernel // 2))
            layer = nn.MaxPool2d(kernel, stride, padding, dilation)
        span = dilation * (kernel - 1) + 1
        if size + 2 * padding < span:
            break
        size = (size + 2 * padding - span) // stride + 1
        layers.append(layer)
        if kind == "maxpool":
            layers.append(nn.ReLU())
    if not layers:
        layers.append(nn.Conv2d(channels, 1, 1))
    return nn.Sequential(*layers).double(), channels, side


def units_of(rf) -> list[tuple[int, int]]:
    rows, cols = rf.output_shape[-2:]
    step = max(1, rows * cols // 16)
    return [(i // cols, i % cols) for i in range(0, rows * cols, step)]


@settings(max_examples=80, deadline=None)
@given(window_stacks(pools=("avgpool",)))
def test_analytic_box_equals_gradient_support_with_positive_weights(stack):
    model, channels, side = stack
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.uniform_(0.1, 1.0)
                module.bias.zero_()
    rf = receptive_fields(model, (channels, side, side))[-1]
    ones = torch.ones(channels, side, side, dtype=torch.float64)
    for row, col in units_of(rf):
        support = np.argwhere(effective_receptive_field(model, ones, rf.name, 0, row, col) > 0)
        box = unit_box(rf, row, col, (side, side))
        if support.size:
            assert support.min(0).tolist() >= [box.top, box.left]
            assert support.max(0).tolist() < [box.bottom, box.right]
        if not box.on_padding:
            # Every tap reads an image pixel, so the outermost taps sit on the box's edges.
            assert support.min(0).tolist() == [box.top, box.left]
            assert support.max(0).tolist() == [box.bottom - 1, box.right - 1]


@settings(max_examples=40, deadline=None)
@given(window_stacks(pools=("avgpool", "maxpool")), st.integers(0, 2**31 - 1))
def test_gradient_support_stays_inside_the_box_with_max_pooling_and_relu(stack, seed):
    model, channels, side = stack
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(channels, side, side, generator=generator, dtype=torch.float64)
    rf = receptive_fields(model, (channels, side, side))[-1]
    for row, col in units_of(rf):
        support = np.argwhere(effective_receptive_field(model, image, rf.name, 0, row, col) > 0)
        box = unit_box(rf, row, col, (side, side))
        if support.size:
            assert support.min(0).tolist() >= [box.top, box.left]
            assert support.max(0).tolist() < [box.bottom, box.right]
