"""The one checker every weights file goes through (checkpoints, autosave, run folders), before use.

``torch.load(weights_only=True)`` guarantees a file cannot run code, not that what it holds is usable:
it happily rebuilds sparse, quantized, nested, meta or complex tensors, and tensors whose strides are 0,
so 4 bytes of storage claim ten million values that a later ``.clone()`` or ``float(x) for x in t``
materialises for minutes. Here each file is checked from the zip's declared sizes (before anything is
read), then each tensor's kind, dtype, storage and values (before anything is copied), and every refusal
is one line that names the first problem: ``fc3.bias is a sparse tensor``, ``conv1.weight contains NaN``.
"""
from __future__ import annotations

import math
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from core.budget import format_bytes, memory_budget, over_budget

MAX_PICKLE_BYTES = 64 * 2**20
"""The pickled part of a checkpoint (text, lists, numbers; tensors live in their own records)."""
MAX_RECORDS = 100_000
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
"""Weights may be stored at any float width; integer tensors only where the model has one of that type
(BatchNorm's num_batches_tracked)."""


class CheckpointError(ValueError):
    """The file is not a usable Convscope checkpoint; the message says why in plain words."""


def check_archive(path: str | Path, name: str | None = None, budget: int | None = None) -> None:
    """Refuse a torch zip archive whose declared sizes could not be real, before torch reads any of it.

    torch.save writes every record uncompressed, so all of them together fit in the file; a record
    that declares more (a crafted header promising 6 GB) or a compressed one was not made by torch.
    """
    path = Path(path)
    name = name or path.name
    if not path.is_file():  # a folder fails, a pipe or a device would block or never end
        raise CheckpointError(f"{name} is not a regular file")
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            records = archive.infolist()
    except Exception as exc:  # zipfile raises assorted types for damaged directories
        raise CheckpointError(
            f"{name} is not a readable checkpoint (truncated or corrupt?): not the zip archive torch.save writes "
            f"({_first_line(exc)})"
        ) from None
    if len(records) > MAX_RECORDS:
        raise CheckpointError(f"{name} holds {len(records):,} records, more than the {MAX_RECORDS:,} a checkpoint may have")
    declared = 0
    for record in records:
        if record.compress_type != zipfile.ZIP_STORED:
            raise CheckpointError(f"{name}: the record {printable(record.filename)} is compressed, which torch.save never does")
        if record.filename.endswith("data.pkl") and record.file_size > MAX_PICKLE_BYTES:
            raise CheckpointError(
                f"{name}: its pickled part declares {format_bytes(record.file_size)}, more than the "
                f"{format_bytes(MAX_PICKLE_BYTES)} a checkpoint's text and numbers take"
            )
        declared += record.file_size
    if declared > size:
        raise CheckpointError(
            f"{name} declares {format_bytes(declared)} of data but the file holds {format_bytes(size)} "
            "(crafted or corrupt)"
        )
    limit = memory_budget() if budget is None else budget
    if declared > limit:
        raise CheckpointError(f"{name}: " + over_budget("loading its weights", declared, limit))


def check_tensor(name: str, tensor: object, dtype: torch.dtype | None = None) -> None:
    """A dense, strided, CPU, real tensor whose storage holds its values, all finite.

    Floating point of any width is accepted, or exactly ``dtype`` where that is not floating point (a
    step counter's int64). Nothing here copies the tensor: a tensor claiming far more values than its
    storage holds is refused before anyone reads it.
    """
    if not isinstance(tensor, torch.Tensor):
        raise CheckpointError(f"{name} is {describe(tensor)}, not a tensor")
    if tensor.is_nested:
        raise CheckpointError(f"{name} is a nested tensor")
    if tensor.layout != torch.strided:
        raise CheckpointError(f"{name} is a sparse tensor ({str(tensor.layout).removeprefix('torch.')})")
    if tensor.is_meta or tensor.device.type == "meta":
        raise CheckpointError(f"{name} is a meta tensor (it has a shape but no values)")
    if tensor.device.type != "cpu":
        raise CheckpointError(f"{name} is on the {tensor.device} device, not the CPU")
    if tensor.is_quantized:
        raise CheckpointError(f"{name} is a quantized tensor ({_dtype_name(tensor.dtype)})")
    if tensor.is_complex():
        raise CheckpointError(f"{name} is a complex tensor")
    integer = dtype is not None and not dtype.is_floating_point
    if tensor.dtype not in ((dtype,) if integer else FLOAT_DTYPES):
        wanted = _dtype_name(dtype) if integer else "floating-point numbers"
        raise CheckpointError(f"{name} holds {_dtype_name(tensor.dtype)}, not {wanted}")
    _check_storage(name, tensor)
    if not integer and tensor.numel():
        finite = torch.isfinite(tensor)
        if not bool(finite.all()):
            bad = tensor[~finite]
            what = "NaN" if bool(torch.isnan(bad).any()) else "infinite values"
            raise CheckpointError(f"{name} contains {what}")


def check_state_dict(
    state: object,
    expected: Mapping[str, torch.Tensor] | None,
    source: str,
) -> dict[str, torch.Tensor]:
    """Every tensor of ``state`` checked, and (with ``expected``, e.g. a meta-device model's state_dict)
    exactly the names, shapes and kinds of numbers the model has. Returns the state with each tensor
    copied into ordinary memory, so nothing refers to the file afterwards."""
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{source} has no weight tensors (its weights are {describe(state)})")
    names = list(state.keys())
    if not all(isinstance(key, str) for key in names):
        odd = next(key for key in names if not isinstance(key, str))
        raise CheckpointError(f"{source}: a weight is named by {describe(odd)}, not by text")
    if expected is not None:
        missing = [key for key in expected if key not in state]
        extra = [key for key in names if key not in expected]
        if missing or extra:
            raise CheckpointError(
                f"{source} does not fit this architecture: "
                + (f"missing weights for {_names(missing)}" if missing else f"unexpected weights {_names(extra)}")
            )
        names = list(expected)
    elif len(names) > MAX_RECORDS:
        raise CheckpointError(f"{source} holds {len(names):,} tensors, more than the {MAX_RECORDS:,} allowed")
    checked: dict[str, torch.Tensor] = {}
    for key in names:
        tensor = state[key]
        want = expected[key] if expected is not None else None
        check_tensor(f"{source}: {printable(key)}", tensor, None if want is None else want.dtype)
        if want is not None and tuple(tensor.shape) != tuple(want.shape):
            raise CheckpointError(
                f"{source} does not fit this architecture: {key} has shape {tuple(tensor.shape)}, "
                f"the model needs {tuple(want.shape)}"
            )
        checked[key] = tensor.detach().clone(memory_format=torch.contiguous_format)
    return checked


def check_numbers(name: str, values: object, limit: int, integer: bool = False) -> list[float] | list[int]:
    """A list (or tuple) of at most ``limit`` finite plain numbers; tensors and text are refused."""
    if not isinstance(values, (list, tuple)):
        raise CheckpointError(f"{name} is {describe(values)}, not a list of numbers")
    if len(values) > limit:
        raise CheckpointError(f"{name} has {len(values):,} entries, more than the {limit:,} allowed")
    kinds = (int,) if integer else (int, float)
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, kinds):
            wanted = "whole numbers" if integer else "numbers"
            raise CheckpointError(f"{name}[{index}] is {describe(value)}; expected {wanted}")
        if not integer and not math.isfinite(value):
            raise CheckpointError(f"{name}[{index}] is {value}, not a finite number")
    return list(values)


def check_text(name: str, value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise CheckpointError(f"{name} is {describe(value)}, not text")
    if len(value) > limit:
        raise CheckpointError(f"{name} is {len(value):,} characters long, more than the {limit:,} allowed")
    return value


def _check_storage(name: str, tensor: torch.Tensor) -> None:
    """The storage must really hold every value the shape claims (no zero or overlapping strides)."""
    numel = tensor.numel()
    if numel == 0:
        return
    if any(stride < 0 for stride in tensor.stride()):
        raise CheckpointError(f"{name} has negative strides")
    itemsize = tensor.element_size()
    try:
        nbytes = tensor.untyped_storage().nbytes()
    except (RuntimeError, NotImplementedError) as exc:
        raise CheckpointError(f"{name} has no ordinary storage ({_first_line(exc)})") from None
    extent = tensor.storage_offset() + 1 + sum((size - 1) * stride for size, stride in zip(tensor.shape, tensor.stride()))
    if numel * itemsize > nbytes:
        raise CheckpointError(
            f"{name} claims {numel:,} values but its storage holds {nbytes // itemsize:,} "
            "(zero or overlapping strides)"
        )
    if extent * itemsize > nbytes:
        raise CheckpointError(f"{name} reaches past the end of its storage")


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def describe(value: object) -> str:
    """'a tensor', 'a list', 'empty (None)': what a field holds, for a message."""
    if isinstance(value, torch.Tensor):
        return "a tensor"
    if value is None:
        return "empty (None)"
    article = "an" if type(value).__name__[:1] in "aeiou" else "a"
    return f"{article} {type(value).__name__}"


def _names(keys: list[str]) -> str:
    shown = ", ".join(printable(key) for key in keys[:3])
    return shown + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def printable(text: str, limit: int = 60) -> str:
    """Printable and short, for a message: odd characters (lone surrogates too) escaped, long text cut."""
    safe = text.encode("ascii", "backslashreplace").decode("ascii")
    safe = "".join(c if c.isprintable() else "?" for c in safe)
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
