import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.architecture import PRESETS, build_model, parse
from core.checkpoint import Checkpoint, CheckpointError
from core.preprocess import MNIST_NORMALIZATION
from core.session_store import MARKER_FILE, AutosaveError, SessionStore
from core.trainer import MetricsHistory


def _checkpoint() -> Checkpoint:
    arch = parse(PRESETS["xo"])
    return Checkpoint(arch, build_model(arch).state_dict(), ("X", "O"), MNIST_NORMALIZATION,
                      MetricsHistory(steps=[1], loss=[0.5], accuracy=[1.0]))


def test_save_and_load_round_trip(tmp_path):
    store = SessionStore(tmp_path)
    x = np.random.default_rng(0).normal(size=(1, 9, 9)).astype(np.float32)
    store.save(_checkpoint(), {"layer": "conv1", "training": {"lr": 0.1}}, x)
    saved = store.load()
    assert saved.settings == {"layer": "conv1", "training": {"lr": 0.1}}
    np.testing.assert_array_equal(saved.input, x)
    assert saved.checkpoint.history.loss == [0.5]
    for key, value in _checkpoint().state.items():
        assert saved.checkpoint.state[key].shape == value.shape
    store.save(_checkpoint(), {}, None)
    assert store.load().input is None


def test_crash_is_detected_only_when_the_owner_died_without_closing(tmp_path):
    store = SessionStore(tmp_path)
    assert not store.crashed()
    store.mark_running()
    store.save(_checkpoint(), {}, None)
    assert not store.crashed()  # we are the owner and alive
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / MARKER_FILE).write_text(str(dead.pid))
    assert store.crashed()
    store.mark_closed()
    assert not store.crashed()


def test_unreadable_autosave_is_a_checkpoint_error(tmp_path):
    store = SessionStore(tmp_path)
    store.save(_checkpoint(), {}, None)
    (tmp_path / "session.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="the autosaved session.json is unreadable"):
        store.load()


def test_default_folder_follows_convscope_home(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVSCOPE_HOME", str(tmp_path))
    assert SessionStore().folder == tmp_path / "autosave"


# ----------------------------------------------------------------------------- every field checked (issue 13)

REPO = Path(__file__).resolve().parents[2]
GOOD_SETTINGS = {
    "training": {"dataset": "xo", "architecture": PRESETS["xo"], "optimizer": "sgd", "lr": 0.1, "batch_size": 32,
                 "epochs": 3},
    "layer": "conv1",
    "dataset": "xo",
    "caption": "restored",
}


def saved_store(folder) -> SessionStore:
    store = SessionStore(folder)
    store.save(_checkpoint(), GOOD_SETTINGS, np.zeros((1, 9, 9), np.float32))
    return store


def rewrite_json(store: SessionStore, change) -> None:
    path = store.folder / "session.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def test_a_good_autosave_loads_with_its_settings(tmp_path):
    saved = saved_store(tmp_path).load()
    assert saved.settings == GOOD_SETTINGS and saved.input.shape == (1, 9, 9)


@pytest.mark.parametrize(
    "change, field, problem",
    [
        (lambda m: m.update(saved_at=1e20), "session.json saved_at", "is 1e+20, not a time this computer could have"),
        (lambda m: m.update(saved_at=math.nan), "session.json saved_at", "is nan, not a time"),
        (lambda m: m.update(saved_at="yesterday"), "session.json saved_at", "is 'yesterday', not a time"),
        (lambda m: m["settings"]["training"].update(optimizer="rmsprop"), "session.json settings.training.optimizer",
         "is 'rmsprop', not one of sgd, adam"),
        (lambda m: m["settings"]["training"].update(batch_size=10**30), "session.json settings.training.batch_size",
         "is 1000000000000000000000000000000, outside 1..4096"),
        (lambda m: m["settings"]["training"].update(batch_size=True), "session.json settings.training.batch_size",
         "is True, not a whole number"),
        (lambda m: m["settings"]["training"].update(lr=math.inf), "session.json settings.training.lr", "outside"),
        (lambda m: m["settings"]["training"].update(architecture="CONV(8,3"), "session.json settings.training.architecture",
         "is impossible"),
        (lambda m: m["settings"].update(layer=["conv1"]), "session.json settings.layer", "not text"),
        (lambda m: m.update(settings=[1, 2]), "session.json settings", "are a list, not a table"),
    ],
)
def test_a_bad_settings_field_is_named(tmp_path, change, field, problem):
    store = saved_store(tmp_path)
    rewrite_json(store, change)
    with pytest.raises(AutosaveError) as caught:
        store.load()
    assert caught.value.field == field
    assert problem in str(caught.value) and str(caught.value).startswith(f"the autosaved {field} ")


@pytest.mark.parametrize(
    "values, problem",
    [
        (np.array(["a", "bc"]), "holds <U2, not floating-point numbers"),
        (np.full((1, 9, 9), np.nan, np.float32), "contains NaN or infinite values"),
        (np.zeros((3, 9, 9), np.float32), "has shape (3, 9, 9), the model takes (1, 9, 9)"),
        (np.zeros((1, 9, 9), np.int64), "holds int64, not floating-point numbers"),
    ],
)
def test_a_bad_input_is_named(tmp_path, values, problem):
    store = saved_store(tmp_path)
    np.save(store.folder / "input.npy", values)
    with pytest.raises(AutosaveError, match=r"^the autosaved input.npy ") as caught:
        store.load()
    assert problem in str(caught.value) and caught.value.field == "input.npy"


def test_an_input_that_is_not_npy_is_named(tmp_path):
    store = saved_store(tmp_path)
    (store.folder / "input.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(AutosaveError, match="input.npy is unreadable"):
        store.load()


def test_nan_weights_in_the_autosave_are_named(tmp_path):
    store = SessionStore(tmp_path)
    checkpoint = _checkpoint()
    checkpoint.state["conv1.weight"][0, 0, 0, 0] = float("nan")
    store.save(checkpoint, GOOD_SETTINGS, None)
    with pytest.raises(AutosaveError) as caught:
        store.load()
    assert caught.value.field == "session.pt"
    assert str(caught.value) == "the autosaved session.pt is unusable: session.pt: conv1.weight contains NaN"


def test_a_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(AutosaveError, match="the autosaved session.pt is missing"):
        SessionStore(tmp_path).load()


def test_move_aside_keeps_everything_and_starts_fresh(tmp_path):
    store = saved_store(tmp_path / "autosave")
    store.mark_running()
    before = sorted(p.name for p in store.folder.iterdir())
    moved = store.move_aside()
    assert moved.parent == tmp_path and moved.name.startswith("autosave.bad-")
    assert sorted(p.name for p in moved.iterdir()) == before
    assert store.folder.is_dir() and not any(store.folder.iterdir())
    assert not store.crashed()
    assert store.move_aside() != moved  # a second bad autosave in the same second gets its own name


# ----------------------------------------------------------------------------- one slot per window

HOLDER = """
import sys, time
sys.path.insert(0, {repo!r})
from core.session_store import SessionStore
from tests.core.test_session_store import _checkpoint
store = SessionStore.claim({home!r})
store.mark_running()
store.save(_checkpoint(), {{}}, None)
print(store.folder.name, flush=True)
sys.stdin.readline()
"""


def hold_a_slot(home: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(repo=str(REPO), home=str(home))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    return process, process.stdout.readline().strip()


def test_a_second_window_takes_its_own_slot_and_a_dead_ones_slot_is_offered(tmp_path):
    home = tmp_path / "autosave"
    first, slot = hold_a_slot(home)
    try:
        assert slot == "1"
        mine = SessionStore.claim(home)
        assert mine.folder == home / "2" and not mine.crashed()
        assert SessionStore.crashed_slots(home) == []  # the first window is alive
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        crashed = SessionStore.crashed_slots(home)
        assert [store.folder for store in crashed] == [home / "1"]
        assert crashed[0].load().checkpoint.classes == ("X", "O")
        third = SessionStore.claim(home)  # the crashed slot is free again: taken, and offered
        assert third.folder == home / "1" and third.crashed()
        third.mark_running()
        assert not third.crashed()
        third.release()
        mine.release()
    finally:
        first.kill()
        first.wait(10)
        first.stdout.close()
        first.stdin.close()


def test_a_clean_close_frees_the_slot_without_offering_it(tmp_path):
    store = SessionStore.claim(tmp_path)
    store.mark_running()
    store.save(_checkpoint(), {}, None)
    store.mark_closed()
    store.release()
    assert SessionStore.crashed_slots(tmp_path) == []
    again = SessionStore.claim(tmp_path)
    assert again.folder == store.folder and not again.crashed()
    again.release()


def test_an_autosave_of_the_single_folder_kind_becomes_a_slot(tmp_path):
    old = saved_store(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (old.folder / MARKER_FILE).write_text(str(dead.pid))
    crashed = SessionStore.crashed_slots(tmp_path)
    assert [store.folder for store in crashed] == [tmp_path / "1"]
    assert not (tmp_path / "session.pt").exists()
    assert crashed[0].load().settings == GOOD_SETTINGS


def test_a_claimed_slot_moved_aside_keeps_its_lock(tmp_path):
    store = SessionStore.claim(tmp_path)
    store.save(_checkpoint(), {}, None)
    moved = store.move_aside()
    assert moved.name.startswith("1.bad-") and (moved / "session.pt").exists()
    other = SessionStore.claim(tmp_path)
    assert other.folder == tmp_path / "2"
    store.release()
    other.release()
    assert os.path.isdir(tmp_path / "1")
    assert torch.load(moved / "session.pt", weights_only=True)["format"] == "convscope-checkpoint"


@pytest.mark.parametrize("name", ["session.json", "input.npy"])
def test_a_pipe_in_place_of_a_file_is_refused_without_blocking(tmp_path, name):
    store = saved_store(tmp_path)
    (store.folder / name).unlink()
    os.mkfifo(store.folder / name)
    with pytest.raises(AutosaveError, match=f"the autosaved {name} is (missing or )?not a file"):
        store.load()
