"""Test-wide setup: offscreen Qt, one torch thread, and a check that no test leaves a child process."""
import atexit
import multiprocessing
import os
import shutil
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# QSettings("Convscope", "Convscope") lives under $XDG_CONFIG_HOME: tests never touch the user's.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="convscope-test-config-")
atexit.register(shutil.rmtree, os.environ["XDG_CONFIG_HOME"], True)

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def private_convscope_home(tmp_path_factory, monkeypatch):
    """Autosaves go to a fresh folder per test, never to the user's."""
    monkeypatch.setenv("CONVSCOPE_HOME", str(tmp_path_factory.mktemp("convscope_home")))


@pytest.fixture(autouse=True)
def no_dangling_child_processes():
    before = {p.pid for p in multiprocessing.active_children()}
    yield
    left = [p for p in multiprocessing.active_children() if p.pid not in before]
    for proc in left:
        proc.kill()
        proc.join(5)
    assert not left, f"test left child processes running: {left}"
