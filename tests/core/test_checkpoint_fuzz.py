"""Checkpoints with randomly mutated tensors (dtypes, layouts, strides, devices, values), fields and zip
records: load_checkpoint either gives a checkpoint that builds and runs, or raises CheckpointError; in
bounded time and memory. (The pickle-stream fuzz, for code that must never run, is in
test_checkpoint_safety.py.)"""
from __future__ import annotations

import random
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from core.architecture import PRESETS, build_model, parse
from core.checkpoint import FORMAT, VERSION, CheckpointError, load_checkpoint
from tests.core.fuzzing import Case, run_in_child

CASES = 600
ARCHITECTURES = [PRESETS["xo"], "INPUT(1x9x9) -> CONV(2,3) -> BN -> RELU -> FC(3)", "INPUT(3x8x8) -> FC(4)"]


def _payload(rng: random.Random) -> dict:
    text = rng.choice(ARCHITECTURES)
    architecture = parse(text)
    torch.manual_seed(rng.randrange(1000))
    model = build_model(architecture)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.zeros(2, *architecture.input_shape)).sum().backward()
    optimizer.step()
    channels = architecture.input_shape[0]
    return {
        "format": FORMAT, "version": VERSION, "architecture": text,
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "classes": [f"c{i}" for i in range(architecture.num_classes)],
        "normalization": {"mean": [0.1] * channels, "std": [0.3] * channels},
        "history": {"steps": [1, 2], "loss": [1.0, 0.5], "accuracy": [0.5, 0.6], "test_steps": [2], "test_accuracy": [0.6]},
        "optimizer": optimizer.state_dict(), "config": {"lr": 0.1}, "dataset": "xo",
    }


def _plain(value: object) -> bool:
    """An ordinary float tensor, which the mutations below start from."""
    return (
        isinstance(value, torch.Tensor) and not value.is_nested and value.layout == torch.strided
        and not value.is_meta and not value.is_quantized and value.dtype == torch.float32
        and value.numel() * 4 <= value.untyped_storage().nbytes()  # not one of the broadcasts made here
    )


def _broadcast(count: int, dtype=torch.float32) -> torch.Tensor:
    return torch.empty(0, dtype=dtype).set_(torch.zeros(1, dtype=dtype).untyped_storage(), 0, (count,), (0,))


def _odd_tensor(rng: random.Random, like: torch.Tensor) -> torch.Tensor:
    """A tensor weights_only accepts but that may not be usable: each kind the issue found, and valid odd ones."""
    shape = tuple(like.shape)
    kind = rng.randrange(16)
    if kind == 0:
        return like.to_sparse()
    if kind == 1:
        return torch.empty(shape, device="meta")
    if kind == 2:
        return torch.quantize_per_tensor(like.float(), 0.1, 0, torch.qint8)
    if kind == 3:
        return torch.nested.nested_tensor([torch.zeros(2), torch.zeros(3)])
    if kind == 4:
        return like.to(rng.choice([torch.complex64, torch.int32, torch.int8, torch.bool, torch.uint8, torch.int64]))
    if kind == 5:
        return _broadcast(rng.choice([10, 10**7, 10**12]))
    if kind == 6 and like.numel():
        size = like.numel()
        return torch.empty(0).set_(torch.zeros(1).untyped_storage(), 0, shape, (0,) * len(shape)) if size > 1 else like
    if kind == 7:
        bad = like.clone().float()
        if bad.numel():
            bad.view(-1)[rng.randrange(bad.numel())] = rng.choice([float("nan"), float("inf"), -float("inf")])
        return bad
    if kind == 8:
        return torch.zeros(tuple(max(0, n + rng.choice([-1, 1, 5])) for n in shape) or (3,))
    if kind == 9 and like.dim() >= 2:
        return like.transpose(0, 1).contiguous().transpose(0, 1)  # valid: non-contiguous strides
    if kind == 10:
        return torch.cat([torch.zeros(3), like.reshape(-1).float()])[3:].reshape(shape)  # valid: storage offset
    if kind == 11:
        return like.to(rng.choice([torch.float16, torch.float64, torch.bfloat16]))  # valid: another float width
    if kind == 12:
        return torch.tensor(rng.random())
    if kind == 13:
        return torch.zeros(0)
    if kind == 14:
        return like.to_sparse_csr() if like.dim() == 2 else like.to_sparse()
    return like


def _junk(rng: random.Random) -> object:
    """A value for a field that should hold text, numbers or a small table."""
    choices = [
        lambda: _broadcast(10**9), lambda: torch.zeros(3), lambda: None, lambda: 7, lambda: float("nan"),
        lambda: "text \ud800", lambda: [0.1] * rng.choice([0, 1, 3, 100_000]), lambda: ["x"] * rng.randint(0, 20),
        lambda: {"mean": [0.1], "std": [0.3]}, lambda: [[[[1]]]] * 3, lambda: {"a": torch.zeros(2)},
        lambda: [float("inf")], lambda: ("a", "b"), lambda: 10**30, lambda: [True, False], lambda: b"bytes",
    ]
    return rng.choice(choices)()


def _mutated(rng: random.Random) -> dict:
    data = _payload(rng)
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        how = rng.randrange(10)
        state = data.get("state")
        optimizer = data.get("optimizer")
        if how < 4 and isinstance(state, dict):
            key = rng.choice(sorted(state))
            if _plain(state[key]):
                state[key] = _odd_tensor(rng, state[key])
        elif how == 4:
            data[rng.choice(["history", "normalization", "classes", "config", "optimizer", "dataset", "architecture"])] = (
                _junk(rng)
            )
        elif how == 5:
            field = rng.choice(["history", "normalization"])
            if isinstance(data.get(field), dict):
                data[field][rng.choice(list(data[field]) + ["extra"])] = _junk(rng)
        elif how == 6 and isinstance(optimizer, dict) and isinstance(optimizer.get("state"), dict) and optimizer["state"]:
            buffers = optimizer["state"][rng.choice(list(optimizer["state"]))]
            if _plain(buffers.get("momentum_buffer")):
                buffers["momentum_buffer"] = _odd_tensor(rng, buffers["momentum_buffer"])
        elif how == 7:
            data.pop(rng.choice(["state", "classes", "normalization", "history", "optimizer", "format", "version"]), None)
        elif how == 8:
            data["architecture"] = rng.choice(ARCHITECTURES + ["INPUT(2x9x9) -> FC(2)", "CONV(8,3", "INPUT(3x8x8) -> FC(4)"])
        elif isinstance(state, dict):
            state[rng.choice(["extra.weight", "conv9.bias"])] = torch.zeros(2)
    return data


def _damage_archive(path: Path, rng: random.Random) -> None:
    """Zip-level damage: a record declaring more than the file holds, a cut file, flipped record bytes."""
    data = bytearray(path.read_bytes())
    how = rng.randrange(3)
    if how == 0:
        with zipfile.ZipFile(path) as archive:
            info = rng.choice(archive.infolist())
        struct.pack_into("<I", data, info.header_offset + 22, rng.choice([2**31, 0xFFFF_FFF0, info.file_size + 1]))
        central = data.find(b"PK\x01\x02")
        while central != -1:
            length = struct.unpack_from("<H", data, central + 28)[0]
            if bytes(data[central + 46 : central + 46 + length]) == info.filename.encode():
                struct.pack_into("<I", data, central + 24, rng.choice([2**31, 0xFFFF_FFF0]))
            central = data.find(b"PK\x01\x02", central + 4)
    elif how == 1:
        del data[rng.randrange(1, len(data)) :]
    else:
        with zipfile.ZipFile(path) as archive:
            records = [i for i in archive.infolist() if "/data/" in i.filename and i.file_size]
        if records:
            info = rng.choice(records)
            start = info.header_offset + 30 + len(info.filename) + len(info.extra)
            for _ in range(rng.randint(1, 8)):
                data[start + rng.randrange(info.file_size)] = rng.randrange(256)
    path.write_bytes(bytes(data))


def fuzz_checkpoints(cases: int, seed: int, folder: str) -> Iterator[Case]:
    rng = random.Random(seed)
    path = Path(folder) / "fuzz.pt"
    for _ in range(cases):
        torch.save(_mutated(rng), path)
        if rng.random() < 0.2:
            _damage_archive(path, rng)

        def case() -> str:
            try:
                checkpoint = load_checkpoint(path)
            except CheckpointError as error:
                assert "\n" not in str(error)
                return "refused"
            model = checkpoint.build().eval()  # what loads must be usable, not silently wrong
            scores = model(torch.zeros(1, *checkpoint.architecture.input_shape))
            assert torch.isfinite(scores).all() and scores.shape[1] == len(checkpoint.classes)
            assert checkpoint.normalization.channels == checkpoint.architecture.input_shape[0]
            assert all(isinstance(v, float) for v in checkpoint.history.loss)
            return "loaded"

        yield case


@pytest.mark.slow
def test_mutated_checkpoints_load_usably_or_raise_checkpoint_error_in_bounded_time_and_memory():
    report = run_in_child("tests.core.test_checkpoint_fuzz:fuzz_checkpoints", CASES, seed=13)
    assert report.cases == CASES
    assert not report.problems(), report.problems()
    assert report.outcomes["refused"] > CASES // 3 and report.outcomes["loaded"] > CASES // 10, report.outcomes
