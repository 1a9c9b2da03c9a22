"""A practitioner's own nn.Module, from a Python file, inspected like ours (layers found by hooks).

Loading a model from code runs that code: it is the user's own file, named on the command line, never a
file opened from the window. Weights files are still read with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import torch
from torch import nn

from core.preprocess import check_input_shape


class UserModelError(ValueError):
    """The model file, factory, weights or input shape did not give a working model; says which."""


def parse_shape(text: str) -> tuple[int, int, int]:
    """'3x32x32' -> (3, 32, 32)."""
    try:
        shape = tuple(int(part) for part in text.lower().split("x"))
        return check_input_shape(shape)
    except ValueError as exc:
        raise UserModelError(f"input shape '{text}' is not CxHxW with C 1 or 3 (e.g. 3x32x32): {exc}") from None


def load_user_model(spec: str, input_shape: tuple[int, int, int], weights: str | os.PathLike | None = None) -> nn.Module:
    """``spec`` is 'path/to/file.py:factory'; ``factory()`` returns the nn.Module."""
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
    sys.path.insert(0, str(path.parent.resolve()))
    try:
        module_spec.loader.exec_module(module)
        factory = getattr(module, factory_name, None)
        if not callable(factory):
            raise UserModelError(f"{path} has no function '{factory_name}'")
        model = factory()
    except UserModelError:
        raise
    except Exception as exc:
        raise UserModelError(f"{spec} failed: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(str(path.parent.resolve()))
    if not isinstance(model, nn.Module):
        raise UserModelError(f"{factory_name}() returned {type(model).__name__}, not a torch.nn.Module")
    if weights is not None:
        _load_weights(model, Path(weights))
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    except Exception as exc:
        raise UserModelError(
            f"the model fails on a 1x{'x'.join(map(str, input_shape))} input ({type(exc).__name__}: {exc}); "
            "pass its input shape with --input-shape"
        ) from None
    return model


def _load_weights(model: nn.Module, path: Path) -> None:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserModelError(f"{path.name} is not a readable weights file (only tensors are accepted): {exc}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserModelError(f"{path.name} does not fit the model: {first}") from None
