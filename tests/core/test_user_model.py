import numpy as np
import pytest
import torch

from core.model_session import ModelSession
from core.preprocess import identity_normalization
from core.user_model import UserModelError, load_user_model, parse_shape

RESIDUAL_NET = """
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x):
        return x + self.act(self.conv(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.block = Block(6)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(6, 4)

    def forward(self, x):
        return self.head(self.pool(self.block(self.stem(x))).flatten(1))


def build():
    torch.manual_seed(0)
    return Net()
"""


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "my_net.py"
    path.write_text(RESIDUAL_NET)
    return path


def test_a_users_own_module_is_inspected_through_hooks(model_file):
    model = load_user_model(f"{model_file}:build", (3, 16, 16))
    session = ModelSession(model, (3, 16, 16), ("a", "b", "c", "d"), identity_normalization(3))
    assert [row.name for row in session.layers] == ["stem", "block.conv", "block.act", "pool", "head"]
    assert session.layers[0].output_shape == (6, 8, 8) and session.layers[1].rf.size == 7
    session.set_input(np.random.default_rng(0).random((3, 16, 16), dtype=np.float32))
    assert session.inspection.activations["block.conv"].shape == (6, 8, 8)
    assert session.probabilities().shape == (4,)
    top, left, bottom, right = session.unit_receptive_field("block.conv", 0, 4, 4).box
    assert (bottom - top, right - left) == (7, 7)


def test_weights_are_loaded_safely_and_must_fit(model_file, tmp_path):
    model = load_user_model(f"{model_file}:build", (3, 16, 16))
    with torch.no_grad():
        model.head.bias.fill_(3.0)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    loaded = load_user_model(f"{model_file}:build", (3, 16, 16), tmp_path / "w.pt")
    assert torch.equal(loaded.head.bias, torch.full((4,), 3.0))
    torch.save({"head.weight": torch.zeros(2, 2)}, tmp_path / "bad.pt")
    with pytest.raises(UserModelError, match="does not fit the model"):
        load_user_model(f"{model_file}:build", (3, 16, 16), tmp_path / "bad.pt")


def test_mistakes_get_clear_messages(model_file, tmp_path):
    cases = {
        f"{model_file}": "FILE.py:FUNCTION",
        f"{tmp_path / 'nope.py'}:build": "does not exist",
        f"{model_file}:missing": "has no function 'missing'",
    }
    for spec, message in cases.items():
        with pytest.raises(UserModelError, match=message):
            load_user_model(spec, (3, 16, 16))
    with pytest.raises(UserModelError, match="fails on a 1x1x16x16 input"):
        load_user_model(f"{model_file}:build", (1, 16, 16))
    broken = tmp_path / "broken.py"
    broken.write_text("def build():\n    raise RuntimeError('no GPU here')\n")
    with pytest.raises(UserModelError, match="RuntimeError: no GPU here"):
        load_user_model(f"{broken}:build", (3, 16, 16))
    assert parse_shape("3x32x32") == (3, 32, 32)
    with pytest.raises(UserModelError, match="CxHxW"):
        parse_shape("32x32")
