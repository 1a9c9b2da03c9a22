"""The runs table: each run once opened then read incrementally, a search's trials one level down, a run
whose writer died shown as stopped, and legends naming only what differs."""
import json
import os
import subprocess
import sys

from core.architecture import PRESETS, build_model
from core.run_catalog import RunCatalog, describe_settings, differing_settings
from core.run_status import RunStatus
from core.runs import RunWriter

XO = PRESETS["xo"]
SETTINGS = {"optimizer": "sgd", "lr": 0.05, "batch_size": 50, "epochs": 2, "dataset": "xo", "device": "cpu"}


def _write(folder, settings=SETTINGS, accuracies=(0.6, 0.8, 0.7), close=True):
    writer = RunWriter(folder, XO, settings=settings)
    for step, accuracy in enumerate(accuracies, start=1):
        writer.log(step, loss=1.0 / step, accuracy=0.5)
        writer.log(step, test_accuracy=accuracy)
    writer.snapshot(len(accuracies), build_model(XO).state_dict())
    if close:
        writer.close()
    return writer


def test_runs_are_listed_newest_first_with_their_best_test_accuracy_and_grow(tmp_path):
    _write(tmp_path / "20260101-100000-old")
    growing = _write(tmp_path / "20260102-100000-new", accuracies=(0.5,), close=False)
    (tmp_path / "notes").mkdir()  # not a run: left out
    catalog = RunCatalog(tmp_path)
    old, new = sorted(catalog.refresh(), key=lambda s: s.name)
    assert old.best_test_accuracy == 0.8 and old.last_step == 3 and old.status is RunStatus.FINISHED
    assert new.status is RunStatus.RUNNING and new.best_test_accuracy == 0.5 and new.last_loss == 1.0
    assert old.description == "sgd lr 0.05, batch 50, 2 epochs" and old.seconds is not None
    growing.log(2, loss=0.25, test_accuracy=0.9)
    growing.close("diverged", "the loss went up")
    rows = catalog.refresh()
    assert [r.name for r in rows] == [new.name, old.name]  # newest first
    row = next(r for r in rows if r.folder == new.folder)
    assert row.best_test_accuracy == 0.9 and row.last_step == 2 and row.last_loss == 0.25
    assert row.status is RunStatus.DIVERGED and row.message == "the loss went up"


def test_a_searchs_trials_are_found_one_level_down(tmp_path):
    _write(tmp_path / "search" / "trial-1")
    _write(tmp_path / "search" / "trial-2", accuracies=(0.9,))
    names = sorted(r.name for r in RunCatalog(tmp_path).refresh())
    assert names == ["search/trial-1", "search/trial-2"]


def test_a_run_whose_writer_died_without_closing_it_reads_as_stopped(tmp_path):
    script = f"from core.runs import RunWriter\nRunWriter({str(tmp_path / 'run')!r}, {XO!r}).log(1, loss=0.5)\n"
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "running"  # the file says so
    row, = RunCatalog(tmp_path).refresh()
    assert row.status is RunStatus.STOPPED and "ended without closing" in row.message
    _write(tmp_path / "mine", close=False)  # this process is alive: still running
    assert {r.name: r.status for r in RunCatalog(tmp_path).refresh()}["mine"] is RunStatus.RUNNING


def test_legends_name_only_the_settings_that_differ(tmp_path):
    _write(tmp_path / "a")
    _write(tmp_path / "b", settings={**SETTINGS, "lr": 0.5, "batch_size": 32, "device": "cuda", "pace": 4})
    _write(tmp_path / "c", settings={**SETTINGS, "parent": {"run": "a", "step": 3}})
    rows = sorted(RunCatalog(tmp_path).refresh(), key=lambda r: r.name)
    labels = differing_settings(rows)
    assert labels[0] == labels[2] == "lr 0.05, batch 50"  # device, pace and parent are not differences
    assert labels[1] == "lr 0.5, batch 32"
    same = differing_settings(rows[:1] * 2)
    assert same[0].startswith("started ")


def test_describing_settings_skips_what_is_not_there():
    assert describe_settings({}) == ""
    assert describe_settings({"lr": 0.1, "augment": True, "schedule": "cosine", "weight_decay": 1e-4}) == \
        "lr 0.1, wd 0.0001, augmented, cosine schedule"
