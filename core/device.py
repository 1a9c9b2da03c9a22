"""Which device trains: CUDA when there is one, MPS on a Mac, the CPU otherwise.

The choice is made in one place so the trainer, the command line and the example scripts agree, and so
tests can check it on a machine without a GPU by faking what torch reports.
"""
from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


class DeviceError(ValueError):
    """The requested device does not exist on this machine; the message says what does."""


def available_devices() -> tuple[str, ...]:
    """The kinds usable here, best first ("cpu" is always last)."""
    kinds = []
    if torch.cuda.is_available():
        kinds.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        kinds.append("mps")
    return (*kinds, "cpu")


def pick_device(preference: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or None) takes the best device available; ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"``
    is honoured if it exists here and refused with a DeviceError naming what does otherwise."""
    if preference is None or str(preference) == "auto":
        return torch.device(available_devices()[0])
    try:
        device = torch.device(preference)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(f"'{preference}' is not a device: choose one of {', '.join(DEVICE_CHOICES)}") from None
    here = available_devices()
    if device.type not in here:
        raise DeviceError(f"there is no {device.type} device on this machine (available: {', '.join(here)})")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceError(
            f"there is no {device}: this machine has {torch.cuda.device_count()} CUDA device(s)"
        )
    return device


def describe(device: torch.device) -> str:
    """A short name for messages: 'cpu', 'cuda:0 (NVIDIA H100)', 'mps'."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return str(device)
