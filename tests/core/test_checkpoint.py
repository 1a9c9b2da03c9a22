import os
import pickle

import numpy as np
import pytest
import torch

from core.architecture import PRESETS, build_model, parse
from core.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from core.preprocess import MNIST_NORMALIZATION
from core.trainer import MetricsHistory


def _checkpoint(preset="lenet") -> Checkpoint:
    torch.manual_seed(1)
    arch = parse(PRESETS[preset])
    model = build_model(arch)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.zeros(2, *arch.input_shape)).sum().backward()
    optimizer.step()
    history = MetricsHistory(steps=[1, 2], loss=[2.3, 2.1], accuracy=[0.1, 0.2], test_steps=[2], test_accuracy=[0.3])
    return Checkpoint(
        architecture=arch,
        state=model.state_dict(),
        classes=tuple(str(i) for i in range(arch.num_classes)),
        normalization=MNIST_NORMALIZATION,
        history=history,
        optimizer_state=optimizer.state_dict(),
        dataset="mnist",
    )


def test_round_trip_keeps_everything(tmp_path):
    original = _checkpoint()
    path = tmp_path / "model.pt"
    save_checkpoint(path, original)
    loaded = load_checkpoint(path)
    assert loaded.architecture == original.architecture
    assert loaded.classes == original.classes and loaded.normalization == original.normalization
    assert loaded.history == original.history and loaded.dataset == "mnist"
    for key, tensor in original.state.items():
        torch.testing.assert_close(loaded.state[key], tensor)
    momentum = loaded.optimizer_state["state"][0]["momentum_buffer"]
    torch.testing.assert_close(momentum, original.optimizer_state["state"][0]["momentum_buffer"])
    x = torch.randn(1, 1, 28, 28)
    model = build_model(original.architecture)
    model.load_state_dict(original.state)
    torch.testing.assert_close(loaded.build()(x), model(x))


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "convscope-checkpoint", "payload": RunsCode(str(marker))}, path)
    with pytest.raises(CheckpointError, match="could run code"):
        load_checkpoint(path)
    assert not marker.exists()
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps(RunsCode(str(marker))))
    with pytest.raises(CheckpointError):
        load_checkpoint(raw)
    assert not marker.exists()


def test_other_programs_and_broken_files_get_clear_messages(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(good, _checkpoint())
    data = good.read_bytes()
    cases = {
        "empty.pt": (b"", "is empty"),
        "truncated.pt": (data[: len(data) // 2], "truncated or corrupt"),
        "text.pt": (b"hello, I am not a checkpoint\n", "not a readable checkpoint"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CheckpointError, match=message) as caught:
            load_checkpoint(tmp_path / name)
        assert name in str(caught.value)
    torch.save(build_model(PRESETS["lenet"]).state_dict(), tmp_path / "plain_state_dict.pt")
    with pytest.raises(CheckpointError, match="another program"):
        load_checkpoint(tmp_path / "plain_state_dict.pt")
    with pytest.raises(CheckpointError, match="folder"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_weights_of_another_architecture_are_named(tmp_path):
    checkpoint = _checkpoint("lenet")
    checkpoint.architecture = parse(PRESETS["lenet"].replace("CONV(8,5)", "CONV(6,5)"))
    path = tmp_path / "mismatch.pt"
    save_checkpoint(path, checkpoint)
    with pytest.raises(CheckpointError, match=r"conv1.weight has shape \(8, 1, 5, 5\)"):
        load_checkpoint(path)


def test_seeded_fuzz_of_corrupted_checkpoints_never_crashes(tmp_path):
    path = tmp_path / "good.pt"
    save_checkpoint(path, _checkpoint("xo"))
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    outcomes = {"loaded": 0, "refused": 0}
    for i in range(600):
        mutated = bytearray(data)
        if i % 3 == 0:
            mutated = mutated[: rng.integers(0, len(mutated))]
        else:
            for pos in rng.integers(0, len(mutated), size=rng.integers(1, 20)):
                mutated[pos] = rng.integers(0, 256)
        target = tmp_path / f"fuzz{i}.pt"
        target.write_bytes(bytes(mutated))
        try:
            load_checkpoint(target)
            outcomes["loaded"] += 1
        except CheckpointError:
            outcomes["refused"] += 1
        os.remove(target)
    assert outcomes["refused"] > 300
