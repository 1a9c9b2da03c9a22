import os
import sys

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


# ----------------------------------------------------------------------------- hostile factories (issue 13)


def write_model(tmp_path, body: str, name: str = "odd.py"):
    path = tmp_path / name
    path.write_text("import sys\nimport torch\nfrom torch import nn\n\n" + body)
    return path


OUTPUT_OF = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.head = nn.Linear(2 * 6 * 6, 3)

    def forward(self, x):
        features = self.conv(x)
        scores = self.head(features.flatten(1))
        return {output}


def build():
    return Net()
"""


@pytest.mark.parametrize(
    "output, note",
    [
        ("(scores, features)", "build()'s model returns a tuple of 2; its first item is shown as the class scores"),
        ("[scores]", "build()'s model returns a list of 1; its first item is shown as the class scores"),
        ("{'logits': scores, 'features': features}",
         "build()'s model returns a dict; its first entry 'logits' is shown as the class scores"),
    ],
)
def test_tuple_list_and_dict_outputs_are_shown_through_their_first_tensor(tmp_path, output, note):
    path = write_model(tmp_path, OUTPUT_OF.format(output=output))
    notes: list[str] = []
    model = load_user_model(f"{path}:build", (1, 8, 8), notes=notes)
    assert notes == [note]
    assert model(torch.zeros(1, 1, 8, 8)).shape == (1, 3)
    session = ModelSession(model, (1, 8, 8), ("a", "b", "c"), identity_normalization(1))
    assert [row.name for row in session.layers] == ["conv", "head"]
    session.set_input(np.zeros((1, 8, 8), np.float32))
    assert session.probabilities().shape == (3,)


@pytest.mark.parametrize(
    "output, message",
    [
        ("None", "build()'s model returns None; Convscope needs a tensor of class scores"),
        ("'cat'", "build()'s model returns a str; Convscope needs a tensor of class scores"),
        ("(1, scores)", "build()'s model returns a tuple; Convscope needs a tensor"),
        ("scores * float('nan')", "the model's output for a blank 1x8x8 input contains NaN"),
        ("scores + float('inf')", "the model's output for a blank 1x8x8 input contains infinite values"),
        ("scores[:, :0]", "build() gives 0 output values; class scores need 1 to 100,000"),
        ("scores.to(torch.complex64)", "build() gives torch.complex64 outputs; class scores must be real numbers"),
    ],
)
def test_odd_outputs_are_one_clear_line(tmp_path, output, message):
    path = write_model(tmp_path, OUTPUT_OF.format(output=output))
    with pytest.raises(UserModelError) as caught:
        load_user_model(f"{path}:build", (1, 8, 8))
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "body, message",
    [
        ("def build():\n    raise KeyboardInterrupt\n", "build failed: KeyboardInterrupt"),
        ("def build():\n    sys.exit(3)\n", "build failed: it called sys.exit(3)"),
        ("def build():\n    raise SystemExit\n", "build failed: it called sys.exit(None)"),
        ("sys.exit('bye')\n", "odd.py failed while loading: it called sys.exit('bye')"),
        ("raise KeyboardInterrupt\n", "odd.py failed while loading: KeyboardInterrupt"),
        ("def build(:\n", "odd.py failed while loading: SyntaxError"),
        ("def build():\n    return 42\n", "build() returned int, not a torch.nn.Module"),
    ],
)
def test_nothing_the_factory_does_escapes_as_a_traceback_or_an_exit(tmp_path, body, message):
    path = write_model(tmp_path, body)
    with pytest.raises(UserModelError) as caught:
        load_user_model(f"{path}:build", (1, 8, 8))
    assert message in str(caught.value)


def test_a_forward_that_interrupts_is_one_line(tmp_path):
    body = "class Net(nn.Module):\n    def forward(self, x):\n        raise KeyboardInterrupt\n\n\ndef build():\n    return Net()\n"
    with pytest.raises(UserModelError, match=r"fails on a 1x1x8x8 input \(KeyboardInterrupt\)"):
        load_user_model(f"{write_model(tmp_path, body)}:build", (1, 8, 8))


def test_the_users_folder_leaves_sys_path_even_if_the_code_removed_it(tmp_path):
    body = "sys.path.pop(0)\n\ndef build():\n    return nn.Sequential(nn.Flatten(), nn.Linear(64, 2))\n"
    before = list(sys.path)
    load_user_model(f"{write_model(tmp_path, body)}:build", (1, 8, 8))
    assert sys.path == before[1:] or sys.path == before


def test_a_huge_input_shape_is_refused_before_any_tensor():
    with pytest.raises(UserModelError) as caught:
        parse_shape("1x40000x40000")
    assert str(caught.value) == (
        "input shape 1x40000x40000 has 1,600,000,000 values (6.0 GB), more than the 20,000,000 a model input may have"
    )


@pytest.mark.parametrize("text", ["1x2x3x4", "axbxc", "1e3x1x1", "-1x5x5", "1x" + "9" * 5000 + "x1", "2x8x8", "\ud800"])
def test_input_shapes_that_are_not_one_are_refused(text):
    with pytest.raises(UserModelError, match="is not CxHxW"):
        parse_shape(text)


def test_a_model_whose_activations_outgrow_the_budget_is_stopped_at_the_layer(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVSCOPE_MEMORY_BUDGET", "16MB")
    body = (
        "def build():\n"
        "    layers = [nn.Conv2d(1, 64, 3, padding=1)] + [nn.Conv2d(64, 64, 3, padding=1) for _ in range(40)]\n"
        "    return nn.Sequential(*layers, nn.Flatten(), nn.LazyLinear(2))\n"
    )
    with pytest.raises(UserModelError) as caught:
        load_user_model(f"{write_model(tmp_path, body)}:build", (1, 64, 64))
    message = str(caught.value)
    assert message.startswith("the model's activations for one 1x64x64 input outgrow the memory budget at layer 15: ")
    assert "the budget is 16 MB" in message


def test_weights_go_through_the_checkpoint_checks(model_file, tmp_path):
    model = load_user_model(f"{model_file}:build", (3, 16, 16))
    state = model.state_dict()
    state["head.bias"] = torch.tensor([0.0, float("nan"), 0.0, 0.0])
    torch.save(state, tmp_path / "nan.pt")
    with pytest.raises(UserModelError, match=r"^nan.pt: head.bias contains NaN$"):
        load_user_model(f"{model_file}:build", (3, 16, 16), tmp_path / "nan.pt")
    state["head.bias"] = torch.zeros(4).to_sparse()
    torch.save(state, tmp_path / "sparse.pt")
    with pytest.raises(UserModelError, match="head.bias is a sparse tensor"):
        load_user_model(f"{model_file}:build", (3, 16, 16), tmp_path / "sparse.pt")


def test_a_weights_pipe_is_refused_without_blocking(model_file, tmp_path):
    os.mkfifo(tmp_path / "pipe.pt")
    with pytest.raises(UserModelError, match="pipe.pt is not a regular file"):
        load_user_model(f"{model_file}:build", (3, 16, 16), tmp_path / "pipe.pt")
