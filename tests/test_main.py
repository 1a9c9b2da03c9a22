"""main.py's window start-up: the window's modules load with no garbage collection, and what they made
is left out of later collections."""
from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

from main import collection_paused

REPO = Path(__file__).resolve().parent.parent

FRESH_START = """
import gc, json, sys
import main
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info["generation"]))
run_app = main.import_window()
print(json.dumps({"collections": collections, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                  "run_app": run_app.__module__ + "." + run_app.__name__, "pyqtgraph": "pyqtgraph" in sys.modules}))
"""


def test_the_window_modules_load_in_a_fresh_process_without_one_collection_and_stay_frozen():
    done = subprocess.run([sys.executable, "-c", FRESH_START], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["run_app"] == "gui.app.run_app"
    assert seen["pyqtgraph"]  # the views' modules came with it
    assert seen["collections"] == []  # torch, Qt, pyqtgraph: several full collections when left on
    assert seen["frozen"] > 100_000
    assert seen["enabled"]


def test_collection_comes_back_when_an_import_fails_and_stays_off_if_it_was_off():
    assert gc.isenabled()
    with pytest.raises(ImportError), collection_paused():
        assert not gc.isenabled()
        import convscope_no_such_module  # noqa: F401
    assert gc.isenabled()
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
