"""A practitioner's own nn.Module, from a Python file, inspected like ours (layers found by hooks).

Loading a model from code runs that code: it is the user's own file, named on the command line, never a
file opened from the window. Weights files are still read with ``torch.load(weights_only=True)`` and go
through the same checks as checkpoints. Whatever the user's code does (raise anything, call sys.exit,
return odd outputs, allocate without end) comes back as one UserModelError line, never a traceback.
"""
from __future__ import annotations

import importlib.util
import math
import os
import sys
from pathlib import Path

import torch
from torch import nn

from core.architecture import BYTES_PER_VALUE, MAX_VALUES_PER_LAYER
from core.budget import format_bytes, memory_budget, over_budget
from core.preprocess import check_input_shape
from core.validation import CheckpointError, check_archive, check_state_dict

MAX_CLASSES = 100_000


class UserModelError(ValueError):
    """The model file, factory, weights or input shape did not give a working model; says which."""


class _OverBudget(Exception):
    """Raised from a forward hook to stop a probe whose activations outgrow the memory budget."""


def parse_shape(text: str) -> tuple[int, int, int]:
    """'3x32x32' -> (3, 32, 32), refused up front (before any tensor) when one input would be too big."""
    try:
        parts = text.lower().split("x")
        if len(parts) != 3 or not all(part.strip().isdigit() and len(part.strip()) <= 9 for part in parts):
            raise ValueError("three whole numbers of at most 9 digits are needed")
        shape = check_input_shape(tuple(int(part) for part in parts))
    except ValueError as exc:
        raise UserModelError(f"input shape {text[:40]!r} is not CxHxW with C 1 or 3 (e.g. 3x32x32): {exc}") from None
    values = math.prod(shape)
    if values > MAX_VALUES_PER_LAYER:
        raise UserModelError(
            f"input shape {text} has {values:,} values ({format_bytes(values * BYTES_PER_VALUE)}), "
            f"more than the {MAX_VALUES_PER_LAYER:,} a model input may have"
        )
    return shape


def load_user_model(
    spec: str,
    input_shape: tuple[int, int, int],
    weights: str | os.PathLike | None = None,
    notes: list[str] | None = None,
) -> nn.Module:
    """``spec`` is 'path/to/file.py:factory'; ``factory()`` returns the nn.Module.

    A model whose forward returns a tuple, list or dict is shown through its first tensor (a forward
    hook on the model swaps the output, so layer names stay as written); ``notes`` receives a line
    saying so.
    """
    path_text, _, factory_name = spec.rpartition(":")
    if not path_text or not factory_name:
        raise UserModelError(f"'{spec}' should be FILE.py:FUNCTION, e.g. my_net.py:build_model")
    path = Path(path_text)
    if not path.is_file():
        raise UserModelError(f"{path} does not exist or is not a file")
    module_spec = importlib.util.spec_from_file_location(f"convscope_user_model_{path.stem}", path)
    if module_spec is None or module_spec.loader is None:
        raise UserModelError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    folder = str(path.parent.resolve())
    sys.path.insert(0, folder)
    try:
        try:
            module_spec.loader.exec_module(module)
        except BaseException as exc:  # noqa: BLE001 -- the user's code may raise anything, sys.exit included
            raise UserModelError(f"{path.name} failed while loading: {_described(exc)}") from None
        factory = getattr(module, factory_name, None)
        if not callable(factory):
            raise UserModelError(f"{path} has no function '{factory_name}'")
        try:
            model = factory()
        except BaseException as exc:  # noqa: BLE001
            raise UserModelError(f"{spec} failed: {_described(exc)}") from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    if not isinstance(model, nn.Module):
        raise UserModelError(f"{factory_name}() returned {type(model).__name__}, not a torch.nn.Module")
    if weights is not None:
        _load_weights(model, Path(weights))
    model.eval()
    _probe(model, factory_name, input_shape, notes)
    return model


def _probe(model: nn.Module, factory_name: str, input_shape: tuple[int, int, int], notes: list[str] | None) -> None:
    """One forward of a blank input, watched by hooks that stop it once its outputs outgrow the budget."""
    shape_text = "x".join(map(str, input_shape))
    budget = memory_budget()
    used = [math.prod(input_shape) * BYTES_PER_VALUE]

    def count(module: nn.Module, _inputs, output) -> None:
        used[0] += sum(t.numel() * t.element_size() for t in _tensors(output))
        if used[0] > budget:
            raise _OverBudget(next(name for name, m in model.named_modules() if m is module) or "the model")

    # Leaf layers, as the app keeps their outputs (a container's output is its last layer's, counted once).
    handles = [m.register_forward_hook(count) for m in model.modules() if not any(m.children())]
    try:
        with torch.no_grad():
            output = model(torch.zeros(1, *input_shape))
    except _OverBudget as exc:
        raise UserModelError(
            f"the model's activations for one {shape_text} input outgrow the memory budget at layer {exc}: "
            + over_budget("the forward up to there", used[0], budget)
        ) from None
    except BaseException as exc:  # noqa: BLE001 -- a forward is the user's code too
        raise UserModelError(
            f"the model fails on a 1x{shape_text} input ({_described(exc)}); pass its input shape with --input-shape"
        ) from None
    finally:
        for handle in handles:
            handle.remove()
    scores, note = _class_scores(output, factory_name)
    if note:
        model.register_forward_hook(lambda _module, _inputs, out: _class_scores(out, factory_name)[0])
        if notes is not None:
            notes.append(note)
    if scores.is_complex() or not (scores.is_floating_point() or scores.dtype in (torch.int64, torch.int32)):
        raise UserModelError(f"{factory_name}() gives {scores.dtype} outputs; class scores must be real numbers")
    if not 1 <= scores.numel() <= MAX_CLASSES:
        raise UserModelError(
            f"{factory_name}() gives {scores.numel():,} output values; class scores need 1 to {MAX_CLASSES:,}"
        )
    if scores.is_floating_point() and not bool(torch.isfinite(scores).all()):
        what = "NaN" if bool(torch.isnan(scores).any()) else "infinite values"
        raise UserModelError(
            f"the model's output for a blank {shape_text} input contains {what}; Convscope needs finite class scores"
        )


def _class_scores(output: object, factory_name: str) -> tuple[torch.Tensor, str]:
    """The output tensor itself, or the first tensor of a tuple, list or dict (with a note saying so)."""
    if isinstance(output, torch.Tensor):
        return output, ""
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0], (
            f"{factory_name}()'s model returns a {type(output).__name__} of {len(output)}; "
            "its first item is shown as the class scores"
        )
    if isinstance(output, dict) and output:
        key, value = next(iter(output.items()))
        if isinstance(value, torch.Tensor):
            return value, f"{factory_name}()'s model returns a dict; its first entry {str(key)[:40]!r} is shown as the class scores"
    raise UserModelError(
        f"{factory_name}()'s model returns {_kind(output)}; Convscope needs a tensor of class scores "
        "(or a tuple, list or dict whose first item is one)"
    )


def _tensors(output: object) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for item in output[:64] for t in _tensors(item)]
    if isinstance(output, dict):
        return [t for item in list(output.values())[:64] for t in _tensors(item)]
    return []


def _load_weights(model: nn.Module, path: Path) -> None:
    try:
        check_archive(path)
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except CheckpointError as exc:
        raise UserModelError(str(exc)) from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UserModelError(f"{path.name} is not a readable weights file (only tensors are accepted): {first}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    try:
        checked = check_state_dict(state, model.state_dict(), path.name)
    except CheckpointError as exc:
        raise UserModelError(str(exc).replace("does not fit this architecture", "does not fit the model")) from None
    try:
        model.load_state_dict(checked)
    except (RuntimeError, TypeError, AttributeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserModelError(f"{path.name} does not fit the model: {first}") from None


def _described(exc: BaseException) -> str:
    """'RuntimeError: no GPU here', 'sys.exit(3)', 'KeyboardInterrupt': one line, whatever was raised."""
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r})"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _kind(value: object) -> str:
    return "None" if value is None else f"a {type(value).__name__}"
