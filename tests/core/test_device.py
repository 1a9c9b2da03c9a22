import pytest
import torch

from core.device import DeviceError, available_devices, describe, pick_device


@pytest.fixture
def machine(monkeypatch):
    """Pretend which accelerators exist, as CI has none."""

    def set_(cuda: bool = False, mps: bool = False, cuda_count: int = 1) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda_count if cuda else 0)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)

    return set_


def test_auto_prefers_cuda_then_mps_then_cpu(machine):
    machine(cuda=True, mps=True)
    assert pick_device() == torch.device("cuda") and pick_device(None) == torch.device("cuda")
    machine(mps=True)
    assert pick_device("auto") == torch.device("mps")
    machine()
    assert pick_device() == torch.device("cpu") and available_devices() == ("cpu",)


def test_an_asked_for_device_is_honoured_or_refused_in_words(machine):
    machine(cuda=True, cuda_count=2)
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(DeviceError, match="there is no cuda:2: this machine has 2 CUDA device"):
        pick_device("cuda:2")
    machine()
    with pytest.raises(DeviceError, match=r"no cuda device on this machine \(available: cpu\)"):
        pick_device("cuda")
    with pytest.raises(DeviceError, match="'gpu' is not a device"):
        pick_device("gpu")


def test_the_trainer_uses_the_picked_device(machine):
    from core.architecture import PRESETS, build_model
    from core.data import make_xo
    from core.trainer import TrainConfig, Trainer

    machine()
    trainer = Trainer(build_model(PRESETS["xo"]), make_xo(40), None, TrainConfig(batch_size=20))
    assert trainer.device == torch.device("cpu") and next(trainer.model.parameters()).device.type == "cpu"
    assert describe(trainer.device) == "cpu"
    machine(cuda=True)
    with pytest.raises(DeviceError):
        pick_device("mps")
