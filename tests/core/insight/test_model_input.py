"""The checks every insight computation shares: layers by name, the model's mode put back exactly."""
import pytest
from torch import nn

from core.insight.model_input import InsightError, eval_mode, layer_named


def residual_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.Sequential(nn.BatchNorm2d(4), nn.ReLU()), nn.Flatten(), nn.Linear(4, 2))


def test_eval_mode_puts_every_module_back_as_it_was_even_a_frozen_block():
    model = residual_model().train()
    model[1].eval()  # a block a user keeps frozen while the rest trains
    with eval_mode(model):
        assert not any(m.training for m in model.modules())
    assert model.training and model[0].training and not model[1].training and not model[1][0].training


def test_layer_named_finds_leaves_refuses_blocks_and_suggests_a_close_name():
    model = residual_model()
    assert layer_named(model, "1.0") is model[1][0]
    with pytest.raises(InsightError, match="'1' is a block of layers"):
        layer_named(model, "1")
    with pytest.raises(InsightError, match="no layer named '1.2'; did you mean '1.1'"):
        layer_named(model, "1.2")
    with pytest.raises(InsightError, match="no layer named ''"):
        layer_named(model, "")
