"""Checkpoints: architecture text, weights, optimizer state and metrics in one file that never runs code.

Loading always uses ``torch.load(weights_only=True)``, so a pickle carrying code is refused by torch's
restricted unpickler before anything executes; everything it does rebuild then goes through
``core.validation`` (declared sizes, tensor kinds, storage, finiteness, the fields' types and lengths).
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
from core.budget import BudgetError
from core.preprocess import Normalization
from core.trainer import MetricsHistory
from core.validation import (
    CheckpointError,
    check_archive,
    check_numbers,
    check_state_dict,
    check_tensor,
    check_text,
    describe,
    printable,
)

__all__ = ["FORMAT", "VERSION", "Checkpoint", "CheckpointError", "expected_state", "load_checkpoint", "save_checkpoint"]

MAX_ARCHITECTURE_CHARS = 100_000
MAX_CLASS_NAME_CHARS = 200
MAX_HISTORY_POINTS = 1_000_000
MAX_CONFIG_ENTRIES = 100
IMAGE_CHANNELS = (1, 3)

FORMAT = "convscope-checkpoint"
VERSION = 1


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
    """Read and validate a checkpoint; any problem is a CheckpointError of one line naming it."""
    path = Path(path)
    name = printable(path.name, limit=120)
    try:
        if path.is_dir():
            raise CheckpointError(f"{name} is a folder, not a checkpoint file")
        if not path.exists():
            raise CheckpointError(f"{name} does not exist")
        if path.stat().st_size == 0:
            raise CheckpointError(f"{name} is empty")
        check_archive(path, name)
    except OSError as exc:
        raise CheckpointError(f"{name} cannot be read: {exc.strerror or exc}") from None
    try:
        # mmap: storages stay in the file until validated, so a tensor claiming more than it holds costs nothing.
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(_refusal(name, str(exc))) from None
    except Exception as exc:  # any failure of the restricted unpickler means an unreadable file
        raise CheckpointError(f"{name} is not a readable checkpoint (truncated or corrupt?): {_first_line(exc)}") from None
    return _from_payload(payload, name)


def expected_state(architecture: Architecture) -> dict[str, torch.Tensor]:
    """The names, shapes and dtypes of the architecture's weights, as meta tensors (nothing allocated)."""
    with torch.device("meta"):
        return dict(build_model(architecture).state_dict())


def _from_payload(payload: object, name: str) -> Checkpoint:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{name} is not a Convscope checkpoint (it was made by another program)")
    version = payload.get("version")
    if version != VERSION or isinstance(version, bool):
        raise CheckpointError(f"{name} is a Convscope checkpoint of version {printable(repr(version))}, expected {VERSION}")
    for key in ("architecture", "state", "classes", "normalization"):
        if key not in payload:
            raise CheckpointError(f"{name} is missing its {key}")
    try:
        architecture = parse(check_text(f"{name}: the architecture", payload["architecture"], MAX_ARCHITECTURE_CHARS))
    except (ArchitectureError, BudgetError) as exc:
        raise CheckpointError(f"{name} describes an impossible architecture: {exc}") from None
    channels = architecture.input_shape[0]
    if channels not in IMAGE_CHANNELS:
        raise CheckpointError(
            f"{name}: the model takes {channels}-channel inputs; images can only be made into 1 or 3 channels"
        )
    state = check_state_dict(payload["state"], expected_state(architecture), name)
    classes = _classes(payload["classes"], architecture.num_classes, name)
    normalization = _normalization(payload["normalization"], channels, name)
    history = _history(payload.get("history"), name)
    return Checkpoint(
        architecture=architecture,
        state=state,
        classes=classes,
        normalization=normalization,
        history=history,
        optimizer_state=_optimizer_state(payload.get("optimizer"), architecture, name),
        config=_config(payload.get("config"), name),
        dataset=check_text(f"{name}: the dataset name", payload.get("dataset", ""), MAX_ARCHITECTURE_CHARS),
    )


def _classes(value: object, expected: int, name: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise CheckpointError(f"{name}: the class names are {describe(value)}, not a list of text")
    if len(value) != expected:
        raise CheckpointError(f"{name} names {len(value):,} classes but its last layer has {expected} outputs")
    return tuple(check_text(f"{name}: class name {index}", c, MAX_CLASS_NAME_CHARS) for index, c in enumerate(value))


def _normalization(value: object, channels: int, name: str) -> Normalization:
    if not isinstance(value, dict) or "mean" not in value or "std" not in value:
        raise CheckpointError(f"{name}: the normalisation is {describe(value)}, not a mean and a std per channel")
    mean = check_numbers(f"{name}: the normalisation mean", value["mean"], 16)
    std = check_numbers(f"{name}: the normalisation std", value["std"], 16)
    for what, values in (("mean", mean), ("std", std)):
        if len(values) != channels:
            raise CheckpointError(
                f"{name}: the normalisation {what} has {len(values)} channels, the model takes {channels}"
            )
    if not all(s > 0 for s in std):
        raise CheckpointError(f"{name}: the normalisation std must be positive, got {std}")
    return Normalization(tuple(float(m) for m in mean), tuple(float(s) for s in std))


_HISTORY_FIELDS = {"steps": True, "loss": False, "accuracy": False, "test_steps": True, "test_accuracy": False}


def _history(value: object, name: str) -> MetricsHistory:
    if value is None:
        return MetricsHistory()
    if not isinstance(value, dict):
        raise CheckpointError(f"{name}: the metrics history is {describe(value)}, not a table of lists")
    columns = {
        key: check_numbers(f"{name}: history {key}", value.get(key, []), MAX_HISTORY_POINTS, integer)
        for key, integer in _HISTORY_FIELDS.items()
    }
    for first, second in (("steps", "loss"), ("steps", "accuracy"), ("test_steps", "test_accuracy")):
        if len(columns[first]) != len(columns[second]):
            raise CheckpointError(
                f"{name}: the history has {len(columns[first]):,} {first} but {len(columns[second]):,} {second} values"
            )
    return MetricsHistory.from_dict(columns)


_OPTIMIZER_BUFFERS = ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")


def _optimizer_state(value: object, architecture: Architecture, name: str) -> dict | None:
    """An optimizer state_dict whose buffers have the shapes of the model's parameters, or None."""
    if value is None:
        return None
    where = f"{name}: the optimizer state"
    if not isinstance(value, dict) or not isinstance(value.get("state"), dict) or not isinstance(
        value.get("param_groups"), list
    ):
        raise CheckpointError(f"{where} is not a torch optimizer state (state and param_groups)")
    with torch.device("meta"):
        shapes = [tuple(p.shape) for p in build_model(architecture).parameters()]
    indices: list[int] = []
    for group in value["param_groups"]:
        if not isinstance(group, dict) or not isinstance(group.get("params"), list):
            raise CheckpointError(f"{where} has a parameter group without a list of parameters")
        indices.extend(check_numbers(f"{where} parameters", group["params"], len(shapes), integer=True))
        for key, setting in group.items():
            if key != "params" and not _plain(setting):
                raise CheckpointError(f"{where}: the setting {printable(str(key))} is {describe(setting)}")
    if sorted(indices) != list(range(len(shapes))):
        raise CheckpointError(f"{where} is for {len(indices)} parameters; the model has {len(shapes)}")
    state: dict = {}
    for index, buffers in value["state"].items():
        if index not in indices or not isinstance(buffers, dict):
            raise CheckpointError(f"{where} has an entry for an unknown parameter {printable(repr(index))[:40]}")
        state[index] = {}
        for key, buffer in buffers.items():
            label = f"{where}: {printable(str(key))[:40]} of parameter {index}"
            if isinstance(buffer, torch.Tensor):
                check_tensor(label, buffer)
                if key in _OPTIMIZER_BUFFERS and tuple(buffer.shape) != shapes[index]:
                    raise CheckpointError(f"{label} has shape {tuple(buffer.shape)}, the parameter {shapes[index]}")
                if buffer.numel() > max(1, _numel(shapes[index])):
                    raise CheckpointError(f"{label} has more values than its parameter")
                buffer = buffer.detach().clone(memory_format=torch.contiguous_format)
            elif not _plain(buffer):
                raise CheckpointError(f"{label} is {describe(buffer)}")
            state[index][key] = buffer
    return {"state": state, "param_groups": [dict(group) for group in value["param_groups"]]}


def _config(value: object, name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_CONFIG_ENTRIES:
        raise CheckpointError(f"{name}: the training settings are {describe(value)}, not a short table")
    for key, setting in value.items():
        if not isinstance(key, str) or not _plain(setting):
            raise CheckpointError(f"{name}: the training setting {printable(repr(key))[:40]} is {describe(setting)}")
    return dict(value)


def _plain(value: object) -> bool:
    """A setting's value: a number, short text, a truth value, None, or a short tuple of numbers (betas)."""
    if value is None or isinstance(value, (bool, int)):
        return True
    if isinstance(value, float):
        return True
    if isinstance(value, str):
        return len(value) <= 1000
    if isinstance(value, (list, tuple)):
        return len(value) <= 8 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    return False


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for dimension in shape:
        count *= dimension
    return count


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
