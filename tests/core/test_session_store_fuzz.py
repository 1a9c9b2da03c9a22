"""Autosave folders with random damage (settings JSON, the saved input, the checkpoint, missing or
swapped files): SessionStore.load either restores a session whose fields are usable or raises
AutosaveError, and move_aside always clears the way; in bounded time and memory."""
from __future__ import annotations

import json
import math
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from core.architecture import PRESETS, build_model, parse
from core.checkpoint import Checkpoint
from core.preprocess import MNIST_NORMALIZATION
from core.session_store import (
    BATCH_SIZE_RANGE,
    CHECKPOINT_FILE,
    INPUT_FILE,
    OPTIMIZERS,
    SETTINGS_FILE,
    AutosaveError,
    SessionStore,
)
from tests.core.fuzzing import Case, run_in_child

CASES = 500
SETTINGS = {
    "training": {"dataset": "xo", "architecture": PRESETS["xo"], "optimizer": "sgd", "lr": 0.1, "batch_size": 32,
                 "epochs": 3},
    "layer": "conv1",
    "dataset": "xo",
    "caption": "a drawing",
}
ODD_VALUES = [None, True, -1, 0, 10**30, 1e20, math.nan, math.inf, -math.inf, "", "rmsprop", "\ud800", [], {}, [1, 2],
              {"a": 1}, "x" * 200_000, 3.5, 4097, 1e-9]


DEEP = "__deep__"


def _odd(rng: random.Random) -> object:
    return DEEP if rng.random() < 0.1 else rng.choice(ODD_VALUES)


def _damage_settings(path: Path, rng: random.Random) -> None:
    data = path.read_bytes()
    try:
        meta = json.loads(data)
        settings = meta["settings"]
        training = settings["training"]
        if not isinstance(training, dict):
            raise TypeError("damaged already")
    except (ValueError, KeyError, TypeError, RecursionError):
        meta = None
    how = rng.randrange(5)
    if how == 0 or meta is None:
        path.write_bytes(data[: rng.randrange(max(1, len(data)))])
    elif how == 1:
        path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(0, 100))))
    else:
        if how == 2:
            meta[rng.choice(["saved_at", "settings", "extra"])] = _odd(rng)
        elif how == 3:
            settings[rng.choice(["layer", "dataset", "caption", "training", "new"])] = _odd(rng)
        else:
            training[rng.choice(list(SETTINGS["training"]) + ["momentum"])] = _odd(rng)
        depth = rng.choice([10, 100, 5000])  # deeper than json.dumps (or a recursive reader) can go
        text = json.dumps(meta).replace(json.dumps(DEEP), "[" * depth + "1" + "]" * depth)
        path.write_text(text)  # json writes NaN and Infinity as Python's json reads them


def _damage_input(path: Path, rng: random.Random) -> None:
    how = rng.randrange(6)
    if how == 0:
        np.save(path, np.array(["a", "bc"]))
    elif how == 1:
        np.save(path, np.full((1, 9, 9), rng.choice([np.nan, np.inf]), np.float32))
    elif how == 2:
        np.save(path, np.zeros(rng.choice([(3, 9, 9), (9, 9), (1, 9, 9, 1), (0,), (1, 9, 9)]),
                               rng.choice([np.float16, np.float64, np.int64, np.uint8, np.bool_, np.complex64])))
    elif how == 3:
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif how == 4:
        data = bytearray(path.read_bytes())
        for _ in range(rng.randint(1, 10)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data))
    else:
        path.write_bytes(path.read_bytes()[: rng.randrange(1, 200)])


def _damage_checkpoint(path: Path, rng: random.Random, good: Path) -> None:
    """Cut, emptied, or rewritten from the good file with NaN weights or a junk field."""
    how = rng.randrange(4)
    if how == 0:
        path.write_bytes(path.read_bytes()[: rng.randrange(len(path.read_bytes()))])
    elif how == 1:
        payload = torch.load(good, weights_only=True)
        key = rng.choice(sorted(payload["state"]))
        payload["state"][key] = payload["state"][key].clone()
        payload["state"][key].view(-1)[0] = rng.choice([math.nan, math.inf])
        torch.save(payload, path)
    elif how == 2:
        payload = torch.load(good, weights_only=True)
        payload[rng.choice(["history", "classes", "normalization", "architecture"])] = _odd(rng)
        torch.save(payload, path)
    else:
        path.write_bytes(b"")


def fuzz_autosaves(cases: int, seed: int, folder: str) -> Iterator[Case]:
    rng = random.Random(seed)
    architecture = parse(PRESETS["xo"])
    checkpoint = Checkpoint(architecture, build_model(architecture).state_dict(), ("X", "O"), MNIST_NORMALIZATION)
    good = Path(folder) / "good"
    SessionStore(good).save(checkpoint, SETTINGS, np.zeros((1, 9, 9), np.float32))
    root = Path(folder) / "autosave"
    for index in range(cases):
        if root.exists():
            shutil.rmtree(root)
        for moved in Path(folder).glob("autosave.bad-*"):
            shutil.rmtree(moved)
        shutil.copytree(good, root)
        for _ in range(rng.choice([0, 1, 1, 2])):
            target = rng.choice([SETTINGS_FILE, SETTINGS_FILE, INPUT_FILE, CHECKPOINT_FILE, "missing", "folder"])
            if target == SETTINGS_FILE and (root / SETTINGS_FILE).is_file():
                _damage_settings(root / SETTINGS_FILE, rng)
            elif target == INPUT_FILE and (root / INPUT_FILE).is_file():
                _damage_input(root / INPUT_FILE, rng)
            elif target == CHECKPOINT_FILE and (root / CHECKPOINT_FILE).is_file():
                _damage_checkpoint(root / CHECKPOINT_FILE, rng, good / CHECKPOINT_FILE)
            else:
                name = rng.choice([SETTINGS_FILE, INPUT_FILE, CHECKPOINT_FILE])
                if (root / name).is_file():
                    (root / name).unlink()
                    if target == "folder":
                        (root / name).mkdir()

        def case(index: int = index) -> str:
            store = SessionStore(root)
            try:
                saved = store.load()
            except AutosaveError as error:
                assert "\n" not in str(error) and error.field
                moved = store.move_aside()
                assert moved.exists() and store.folder.is_dir() and not any(store.folder.iterdir())
                return "moved aside"
            training = saved.settings.get("training", {})
            assert math.isfinite(saved.saved_at)
            assert training.get("optimizer", "sgd") in OPTIMIZERS
            assert BATCH_SIZE_RANGE[0] <= training.get("batch_size", 1) <= BATCH_SIZE_RANGE[1]
            if saved.input is not None:
                assert saved.input.shape == (1, 9, 9) and np.isfinite(saved.input).all()
            assert torch.isfinite(saved.checkpoint.build()(torch.zeros(1, 1, 9, 9))).all()
            return "restored"

        yield case


@pytest.mark.slow
def test_damaged_autosaves_restore_or_are_moved_aside_in_bounded_time_and_memory():
    report = run_in_child("tests.core.test_session_store_fuzz:fuzz_autosaves", CASES, seed=13)
    assert report.cases == CASES
    assert not report.problems(), report.problems()
    assert report.outcomes["moved aside"] > CASES // 3 and report.outcomes["restored"] > CASES // 10, report.outcomes
