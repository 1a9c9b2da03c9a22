"""Checkpoints: architecture text, weights, optimizer state and metrics in one file that never runs code.

Loading always uses ``torch.load(weights_only=True)``, so a pickle carrying code is refused by torch's
restricted unpickler before anything executes.
"""
from __future__ import annotations

import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from core.architecture import Architecture, ArchitectureError, build_model, parse
from core.preprocess import Normalization
from core.trainer import MetricsHistory

FORMAT = "convscope-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """The file is not a usable Convscope checkpoint; the message says why in plain words."""


@dataclass
class Checkpoint:
    architecture: Architecture
    state: dict[str, torch.Tensor]
    classes: tuple[str, ...]
    normalization: Normalization
    history: MetricsHistory = field(default_factory=MetricsHistory)
    optimizer_state: dict | None = None
    config: dict = field(default_factory=dict)
    dataset: str = ""

    def build(self) -> nn.Module:
        """A fresh model of the checkpoint's architecture carrying its weights."""
        model = build_model(self.architecture)
        model.load_state_dict(self.state)
        return model


def save_checkpoint(path: str | os.PathLike, checkpoint: Checkpoint) -> None:
    """Write atomically (temp file then rename), so a crash mid-save never destroys the previous file."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": checkpoint.architecture.to_text(),
        "state": {k: v.detach().cpu().clone() for k, v in checkpoint.state.items()},
        "classes": list(checkpoint.classes),
        "normalization": {"mean": list(checkpoint.normalization.mean), "std": list(checkpoint.normalization.std)},
        "history": checkpoint.history.to_dict(),
        "optimizer": checkpoint.optimizer_state,
        "config": dict(checkpoint.config),
        "dataset": checkpoint.dataset,
    }
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    path = Path(path)
    name = path.name
    if path.is_dir():
        raise CheckpointError(f"{name} is a folder, not a checkpoint file")
    if not path.exists():
        raise CheckpointError(f"{name} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{name} is empty")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(_refusal(name, str(exc))) from None
    except Exception as exc:  # any failure of the restricted unpickler means an unreadable file
        raise CheckpointError(f"{name} is not a readable checkpoint (truncated or corrupt?): {_first_line(exc)}") from None
    return _from_payload(payload, name)


def _from_payload(payload: object, name: str) -> Checkpoint:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{name} is not a Convscope checkpoint (it was made by another program)")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{name} is a Convscope checkpoint of version {payload.get('version')}, expected {VERSION}")
    try:
        architecture = parse(str(payload["architecture"]))
        state = payload["state"]
        classes = tuple(str(c) for c in payload["classes"])
        norm = payload["normalization"]
        normalization = Normalization(tuple(float(x) for x in norm["mean"]), tuple(float(x) for x in norm["std"]))
        history = MetricsHistory.from_dict(payload.get("history") or {})
    except ArchitectureError as exc:
        raise CheckpointError(f"{name} describes an impossible architecture: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{name} is missing or has a malformed field: {_first_line(exc)}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{name} has no weight tensors")
    if len(classes) != architecture.num_classes:
        raise CheckpointError(
            f"{name} names {len(classes)} classes but its last layer has {architecture.num_classes} outputs"
        )
    checkpoint = Checkpoint(
        architecture=architecture,
        state=state,
        classes=classes,
        normalization=normalization,
        history=history,
        optimizer_state=payload.get("optimizer"),
        config=dict(payload.get("config") or {}),
        dataset=str(payload.get("dataset", "")),
    )
    check_weights_fit(checkpoint.state, build_model(architecture), name)
    return checkpoint


def check_weights_fit(state: dict[str, torch.Tensor], model: nn.Module, name: str) -> None:
    """Name the first mismatching layer instead of torch's long load_state_dict report."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise CheckpointError(
            f"{name} does not fit this architecture: "
            + (f"missing weights for {', '.join(missing[:3])}" if missing else f"unexpected weights {', '.join(extra[:3])}")
        )
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{name} does not fit this architecture: {key} has shape {tuple(state[key].shape)}, "
                f"the model needs {tuple(tensor.shape)}"
            )


def _refusal(name: str, torch_message: str) -> str:
    """Name what the file asked to run, without torch's advice to load it unsafely."""
    wanted = re.search(r"Unsupported global: GLOBAL ([\w.]+)", torch_message)
    if wanted:
        return (
            f"{name} was refused: it could run code when loaded (it asks for {wanted.group(1)}). "
            "Only plain tensors and values are accepted"
        )
    detail = re.search(r"WeightsUnpickler error: ([^\n]+)", torch_message)
    reason = _ANSI.sub("", detail.group(1) if detail else torch_message.strip().splitlines()[0])[:200]
    return f"{name} was refused: it holds Python objects that could run code when loaded ({reason})"


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
