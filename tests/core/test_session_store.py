import subprocess
import sys

import numpy as np
import pytest

from core.architecture import PRESETS, build_model, parse
from core.checkpoint import Checkpoint, CheckpointError
from core.preprocess import MNIST_NORMALIZATION
from core.session_store import MARKER_FILE, SessionStore
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
    with pytest.raises(CheckpointError, match="settings are unreadable"):
        store.load()


def test_default_folder_follows_convscope_home(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVSCOPE_HOME", str(tmp_path))
    assert SessionStore().folder == tmp_path / "autosave"
