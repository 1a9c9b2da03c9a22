"""Runs in the window: the app's own training writes a run that open_run reads back as the window saw it,
the Runs panel lays runs over each other with a legend of what differs, a run opens with look-back and
play, a fork starts from a look-back point, slow motion paces the steps, and a search runs from the window."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDoubleSpinBox, QLineEdit, QSlider, QSpinBox

from core.architecture import PRESETS, build_model
from core.preprocess import MNIST_NORMALIZATION
from core.run_status import RunStatus
from core.runs import RunWriter, open_run, runs_home
from core.train_settings import TrainSettings
from tests.gui.user_actions import click

START_TIMEOUT_MS = 60_000  # a spawned worker imports torch before its first batch
XO = PRESETS["xo"]
XO_SETTINGS = {"dataset": "xo", "optimizer": "sgd", "lr": 0.05, "batch_size": 50, "epochs": 1}


def weights_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)


def as_numpy(state: dict) -> dict:
    return {k: v.numpy() for k, v in state.items()}


def use_xo(window, **changes) -> None:
    """The X's and O's set-up a user would pick (quick to train)."""
    settings = {**XO_SETTINGS, **changes}
    window.show_train_settings(TrainSettings(architecture=XO, **settings))


def written_run(folder, seed: int = 0, lr: float = 0.05, steps=(0, 10, 20), losses=None):
    """A finished X's-and-O's run folder, as any training script would leave it."""
    writer = RunWriter(folder, XO, settings={**XO_SETTINGS, "lr": lr}, classes=("x", "o"),
                       normalization=((0.5,), (0.5,)))
    losses = losses if losses is not None else [1.0 / s for s in range(1, steps[-1] + 1)]
    for step, loss in enumerate(losses, start=1):
        writer.log(step, loss=loss, accuracy=0.5 + step / 100)
    writer.log(steps[-1], test_accuracy=0.5 + seed / 10)
    for step in steps:
        torch.manual_seed(seed * 100 + step)
        writer.snapshot(step, build_model(XO).state_dict())
    writer.close()
    return folder


def open_from_runs_panel(window, folder) -> None:
    panel = window.runs.runs_panel
    click(window, "refreshRunsButton")
    panel.select(str(folder))
    click(window, "openRunButton")


def runs_seen(window) -> list:
    ended = []
    window.coordinator.run_ended.connect(ended.append)
    return ended


@pytest.mark.slow
def test_the_windows_training_writes_a_run_that_reads_back_with_the_same_metrics_and_weights(window, qtbot):
    use_xo(window)
    ended = runs_seen(window)
    click(window, "startButton")
    qtbot.waitUntil(lambda: bool(ended), timeout=START_TIMEOUT_MS)
    folder = window.state.run_folder
    assert folder.parent == runs_home() and str(ended[0].folder) == str(folder)
    assert ended[0].status in (RunStatus.FINISHED, RunStatus.FAILED_TO_LEARN)
    assert any(str(folder.name) in m for m in window.messages.history)  # the window said where
    run = open_run(folder)
    history = window.state.history
    steps = [m["step"] for m in run.metrics if "loss" in m]
    assert steps == history.steps and [m["loss"] for m in run.metrics if "loss" in m] == pytest.approx(history.loss)
    assert run.history().test_accuracy == history.test_accuracy == [pytest.approx(history.test_accuracy[-1])]
    assert weights_equal(as_numpy(run.load()), window.state.session.weights())
    assert run.status is ended[0].status and run.settings["lr"] == 0.05 and run.settings["parent"] is None
    assert run.classes == window.state.session.classes == ("X", "O") and run.newest_step == steps[-1]
    click(window, "stopButton")
    click(window, "refreshRunsButton")
    panel = window.runs.runs_panel
    assert panel.folders()[0] == str(folder)
    assert panel.cell_text(str(folder), "best test acc") == f"{history.test_accuracy[-1]:.1%}"
    assert panel.cell_text(str(folder), "status") == ended[0].status.value


@pytest.mark.slow
def test_the_status_over_the_curves_follows_a_stopped_run_and_goes_with_its_model(window, qtbot):
    """Seen in a real window: after Stop, and after Reset weights, it still said 'recording this run in …'."""
    use_xo(window, epochs=50)
    click(window, "startButton")
    qtbot.waitUntil(lambda: window.state.run_folder is not None and len(window.state.history.steps) > 0,
                    timeout=START_TIMEOUT_MS)
    folder = window.state.run_folder
    assert window.curves.status().startswith("recording this run in") and folder.name in window.curves.status()
    click(window, "stopButton")
    assert window.curves.status().startswith("run stopped:") and folder.name in window.curves.status()
    click(window, "resetButton")
    qtbot.waitUntil(lambda: not window.coordinator.building, timeout=30_000)
    qtbot.waitUntil(lambda: window.state.history.steps == [])
    assert window.curves.status() == ""


def test_ticking_two_runs_lays_their_curves_over_the_plots_with_a_legend_of_what_differs(window, tmp_path):
    slow = written_run(runs_home() / "20260101-100000-xo-slow", seed=1, lr=0.01)
    fast = written_run(runs_home() / "20260101-110000-xo-fast", seed=2, lr=0.1, losses=[0.5] * 20)
    panel = window.runs.runs_panel
    click(window, "refreshRunsButton")
    assert panel.folders() == [str(fast), str(slow)]  # newest first
    panel.set_ticked(str(slow))
    panel.set_ticked(str(fast))
    overlays = window.curves.overlays()
    assert [o.label for o in overlays] == ["lr 0.01", "lr 0.1"]
    assert window.curves.legend_labels() == ["lr 0.01", "lr 0.1", "on show"]
    assert overlays[0].color != overlays[1].color
    x, y = window.curves.overlay_items()[1].getOriginalDataset()
    np.testing.assert_array_equal(x, np.arange(1, 21))
    np.testing.assert_array_equal(y, np.full(20, 0.5))
    np.testing.assert_array_equal(overlays[0].accuracy, [0.6])  # test accuracy compares runs
    window.curves.set_smoothing(0.5)  # smoothing reaches the overlays too
    smoothed = window.curves.overlays()[0].loss
    assert smoothed[0] == 1.0 and smoothed[-1] > 1.0 / 20
    colour = overlays[1].color
    panel.set_ticked(str(slow), False)
    remaining, = window.curves.overlays()
    assert remaining.label.startswith("started ")  # alone, it differs in nothing: named by its start
    assert window.curves.overlays()[0].color == colour  # a run keeps its colour
    panel.set_ticked(str(fast), False)
    assert window.curves.overlays() == [] and window.curves.legend_labels() == []


def test_opening_a_run_shows_its_weights_and_plays_through_its_snapshots(window, qtbot):
    folder = written_run(runs_home() / "20260101-100000-xo", seed=3)
    open_from_runs_panel(window, folder)
    state = window.state
    assert state.run_folder == folder and state.session.step == 20 and state.session.classes == ("x", "o")
    assert state.dataset_source == "xo" and window.training.dataset_source() == "xo"
    assert window.curves.status().endswith("finished")
    assert weights_equal(state.session.weights(), as_numpy(open_run(folder).load(20)))
    assert state.timeline_steps == [0, 10, 20] and window.editor.text() == open_run(folder).spec.to_text()
    shown = []
    state.weights_changed.connect(lambda: shown.append(state.session.step))
    click(window, "playButton")
    qtbot.waitUntil(lambda: not window.curves.is_playing(), timeout=10_000)
    assert shown == [0, 10, 20, 20] and window.curves.timeline_position() == -1  # through every snapshot to live
    slider = window.findChild(QSlider, "lookBackSlider")
    slider.setFocus()
    QTest.keyClick(slider, Qt.Key.Key_Home)
    torch.manual_seed(300)
    assert weights_equal(state.session.weights(), as_numpy(build_model(XO).state_dict()))


@pytest.mark.slow
def test_a_fork_from_a_look_back_point_is_a_new_run_that_starts_from_those_weights(window, qtbot):
    folder = written_run(runs_home() / "20260101-100000-xo", seed=4)
    open_from_runs_panel(window, folder)
    slider = window.findChild(QSlider, "lookBackSlider")
    slider.setFocus()
    QTest.keyClick(slider, Qt.Key.Key_Home)  # back to step 0
    looked_at = window.state.session.weights()
    window.findChild(QDoubleSpinBox, "learningRate").setValue(0.2)  # changed settings
    window.findChild(QSpinBox, "epochs").setValue(50)  # still running when Stop is pressed
    click(window, "forkButton")
    fork = window.state.run_folder
    assert fork != folder and fork.name.endswith("-fork")
    qtbot.waitUntil(lambda: window.coordinator.state.value == "running" and window.state.session.step > 0,
                    timeout=START_TIMEOUT_MS)
    click(window, "stopButton")
    qtbot.waitUntil(lambda: not window.coordinator.settling, timeout=30_000)  # the stopped worker closed its run
    run = open_run(fork)
    assert run.settings["parent"] == {"run": str(folder), "step": 0} and run.settings["lr"] == 0.2
    assert run.steps()[0] == 0 and weights_equal(as_numpy(run.load(0)), looked_at)
    assert run.status is RunStatus.STOPPED and run.metrics[0]["step"] == 1


@pytest.mark.slow
def test_slow_motion_paces_the_windows_training(window, qtbot):
    use_xo(window, epochs=50)
    window.findChild(QDoubleSpinBox, "slowMotion").setValue(20.0)
    click(window, "startButton")
    qtbot.waitUntil(lambda: window.coordinator.state.value == "running" and len(window.state.history.steps) > 0,
                    timeout=START_TIMEOUT_MS)
    first = window.state.history.steps[-1]
    qtbot.wait(1000)
    paced = window.state.history.steps[-1] - first
    assert 3 <= paced < 60, f"{paced} steps in a second at 20 steps/s"
    window.findChild(QDoubleSpinBox, "slowMotion").setValue(0.0)  # full speed, while it runs
    qtbot.waitUntil(lambda: window.state.history.steps[-1] > first + paced + 200, timeout=30_000)
    click(window, "stopButton")
    assert open_run(window.state.run_folder).settings["pace"] == 20.0


@pytest.mark.slow
def test_a_search_from_the_window_fills_its_table_and_opens_the_best_run(window, qtbot):
    use_xo(window)
    window.right_tabs.setCurrentWidget(window.runs.search_panel)
    lr = window.findChild(QLineEdit, "searchLr")
    lr.clear()
    QTest.keyClicks(lr, "0.001:0.3:log")
    window.findChild(QSpinBox, "searchTrials").setValue(2)
    with qtbot.waitSignal(window.runs.search.finished, timeout=240_000):
        click(window, "startSearchButton")
    table = window.runs.search_panel.results()
    assert len(table) == 2 and all(0.001 <= float(row[1]) <= 0.3 for row in table) and table[0][1] != table[1][1]
    accuracies = [float(row[2].rstrip("%")) for row in table]
    assert accuracies == sorted(accuracies, reverse=True)  # best first
    assert "search finished: 2 of 2 trials" in window.runs.search_panel.progress()
    click(window, "openBestButton")
    best = window.state.run_folder
    assert best.parent.parent == runs_home() and best.name == f"trial-{table[0][0]}"
    assert open_run(best).status is RunStatus.FINISHED or open_run(best).status is RunStatus.FAILED_TO_LEARN
    assert str(best) in window.runs.runs_panel.folders()
