"""Shape formulas read the tutorials' (W − F + 2P)/S + 1 with each layer's own numbers, and are right."""
import math
from collections import OrderedDict

import pytest
import torch
from torch import nn

from core.architecture import PRESETS, build_model, parse
from core.insight.shape_formula import ShapeRule, layer_shapes, shape_formula, shape_formulas
from tests.core.insight.test_unit_explainer import UserNet


def test_lenet_reads_like_the_tutorial():
    formulas = shape_formulas(parse(PRESETS["lenet"]))
    assert formulas["conv1"] == "conv1: (28 − 5 + 2·0)/1 + 1 = 24"
    assert formulas["pool1"] == "pool1: (24 − 2 + 2·0)/2 + 1 = 12"
    assert formulas["conv2"] == "conv2: (12 − 5 + 2·0)/1 + 1 = 8"
    assert formulas["relu2"] == "relu2: same shape as its input, 16×8×8"
    assert formulas["flatten"] == "flatten: 16·4·4 = 256"
    assert formulas["fc1"] == "fc1: 256 inputs → 120 units, one output per unit"


def test_dilation_stride_and_uneven_division():
    formulas = shape_formulas(parse("INPUT(1x28x28) -> CONV(4,3,d=2) -> CONV(4,3,s=2,p=1) -> FC(10)"))
    assert formulas["conv1"] == "conv1: (28 − 2·(3−1) − 1 + 2·0)/1 + 1 = 24"
    assert formulas["conv2"] == "conv2: ⌊(24 − 3 + 2·1)/2⌋ + 1 = 12"


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_uneven_same_padding_and_rectangular_inputs_name_each_axis():
    model = nn.Sequential(nn.Conv2d(1, 2, (4, 3), padding="same"), nn.Flatten())
    (conv, _) = layer_shapes(model, (1, 10, 12))
    assert shape_formula(conv) == "0: height (10 − 4 + 1 + 2)/1 + 1 = 10; width (12 − 3 + 2·1)/1 + 1 = 12"


def test_ceil_mode_rounds_up_and_says_when_torch_drops_the_last_window():
    (pool,) = layer_shapes(nn.Sequential(nn.MaxPool2d(2, 2, padding=1, ceil_mode=True)), (1, 5, 5))
    assert pool.output_shape == (1, 3, 3)
    assert shape_formula(pool) == "0: ⌈(5 − 2 + 2·1)/2⌉ + 1 = 3 (the last window would start in the padding, so it is dropped)"


def test_hooked_models_match_the_analytic_facts():
    convnet = build_model(PRESETS["tinyvgg"])
    plain = nn.Sequential(OrderedDict(convnet.named_children()))
    assert shape_formulas(plain, (1, 28, 28)) == shape_formulas(convnet) == shape_formulas(convnet.architecture)
    with pytest.raises(ValueError, match="input shape"):
        layer_shapes(plain)


ARCHITECTURES = [
    "INPUT(3x31x29) -> CONV(5,4,s=3,p=2) -> POOL(3,s=2,p=1) -> CONV(2,2,d=3) -> AVGPOOL(2) -> FC(3)",
    "INPUT(1x9x9) -> CONV(4,3,p=1) -> RELU -> POOL(2) -> FC(2)",
    PRESETS["tinyvgg"],
]


def evaluated(formula: str) -> int:
    """The integer a formula such as ⌊(24 − 3 + 2·1)/2⌋ + 1 stands for, computed independently."""
    python = formula.replace("·", "*").replace("−", "-")
    python = python.replace("⌊", "math.floor(").replace("⌋", ")").replace("⌈", "math.ceil(").replace("⌉", ")")
    value = eval(python, {"math": math})
    assert float(value).is_integer(), formula  # without a rounding sign the division must be exact
    return int(value)


@pytest.mark.parametrize("text", ARCHITECTURES)
def test_every_window_formula_computes_the_real_size(text):
    model = build_model(text)
    real = {}
    for name, module in model.named_children():
        module.register_forward_hook(lambda m, i, o, name=name: real.__setitem__(name, tuple(o.shape[1:])))
    model(torch.zeros(1, *model.architecture.input_shape))
    for layer in layer_shapes(model):
        assert layer.output_shape == real[layer.name]
        if layer.rule is not ShapeRule.WINDOW:
            continue
        axes = shape_formula(layer).split(": ", 1)[1].split("; ")
        sizes = real[layer.name][1:] if len(axes) == 2 else real[layer.name][1:2]
        for axis, size in zip(axes, sizes):
            formula, result = axis.removeprefix("height ").removeprefix("width ").split(" = ")
            assert evaluated(formula) == int(result) == size


def test_user_model_formulas_cover_every_leaf():
    formulas = shape_formulas(UserNet(), (3, 17, 19))
    assert formulas["stem"] == "stem: height ⌊(17 − 4 + 2·1)/2⌋ + 1 = 8; width ⌊(19 − 4 + 2·1)/2⌋ + 1 = 9"
    assert formulas["block.conv_b"].startswith("block.conv_b: height (8 − 2·(3−1) − 1 + 2·2)/1 + 1 = 8")
    assert formulas["adaptive"] == "adaptive: adaptive pooling to 3×3, whatever the input size (4×4 here)"
    assert formulas["drop"] == "drop: same shape as its input, 24"
    assert formulas["head"] == "head: 12 inputs → 5 units, one output per unit"
