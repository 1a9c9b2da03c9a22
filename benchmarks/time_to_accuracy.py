"""Figure 6: time to 97% test accuracy, training the default net from scratch, app over a bare torch loop.

Recipe of the bundled model (lenet, bundled MNIST, SGD momentum 0.9, lr 0.02, batch 64, cosine schedule
over 20 epochs, random 2-px shifts), from the same random initial weights for both, one torch thread:

  app   the real MainWindow (every panel visible, each snapshot repainted): the recipe is set in the
        training panel, the weights on show are replaced by the initial ones, and Start is pressed
  bare  benchmarks/_bare_loop.py, the same recipe and random stream in a plain loop

Each is timed from the request to start (process launch included for both) until the parent learns of
the first epoch-end test accuracy >= 97%; the in-loop training time is printed beside it. Alternated
over repeats, medians reported.

Run: .venv/bin/python benchmarks/time_to_accuracy.py [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, Figure, median, pump, report

TARGET_ACCURACY = 0.97
TARGET_RATIO = 1.15
RECIPE = dict(optimizer="sgd", lr=0.02, momentum=0.9, batch_size=64, epochs=20, augment=True, schedule="cosine", seed=0)


def initial_weights(path: Path) -> dict:
    import torch

    from core.architecture import PRESETS, build_model

    torch.manual_seed(1)
    model = build_model(PRESETS["lenet"])
    torch.save(model.state_dict(), path)
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def bare_run(init: Path) -> tuple[float, float, int]:
    """Wall seconds from launch to the 97% line, the loop's own seconds, and the epoch."""
    command = [sys.executable, str(REPO / "benchmarks" / "_bare_loop.py"), "--until", str(TARGET_ACCURACY),
               "--init", str(init), "--augment"]
    for key in ("lr", "momentum", "batch_size", "epochs", "schedule", "seed"):
        command += [f"--{key.replace('_', '-')}", str(RECIPE[key])]
    start = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        for line in process.stdout:
            event = json.loads(line)
            if event["event"] == "reached":
                wall = time.perf_counter() - start
                process.wait()
                return wall, event["seconds"], event["epoch"]
    raise RuntimeError(f"the bare loop did not reach {TARGET_ACCURACY:.0%} in {RECIPE['epochs']} epochs")


def app_run(window, weights: dict) -> tuple[float, float, int]:
    from core.architecture import PRESETS
    from core.train_settings import TrainSettings
    from core.weights import WeightsSnapshot

    window.show_train_settings(TrainSettings(
        "mnist", PRESETS["lenet"], RECIPE["optimizer"], RECIPE["lr"], RECIPE["batch_size"], RECIPE["epochs"],
        augment=RECIPE["augment"], schedule=RECIPE["schedule"],
    ))
    state = window.state
    state.apply_snapshot(WeightsSnapshot(state.session.step, weights, state.session.id))  # the bare loop's start
    known = len(state.history.test_accuracy)
    latest: list = []

    def on_progress(progress) -> None:
        latest[:] = [progress]

    def reached_target() -> bool:
        # The window measures test accuracy itself on each epoch's weights, off its GUI thread (ViewerState.epoch_test).
        return any(a >= TARGET_ACCURACY for a in state.history.test_accuracy[known:])

    window.coordinator.progressed.connect(on_progress)
    start = time.perf_counter()
    window.start_training()
    try:
        deadline = start + 120
        while not reached_target() and window.coordinator.active and time.perf_counter() < deadline:
            pump(0.02)
        if not reached_target():
            raise RuntimeError(f"the app did not reach {TARGET_ACCURACY:.0%} in {RECIPE['epochs']} epochs")
        when = time.perf_counter()
        epoch = next(i for i, a in enumerate(state.history.test_accuracy[known:], 1) if a >= TARGET_ACCURACY)
        progress = latest[0]
        in_loop = progress.step * RECIPE["batch_size"] / progress.samples_per_s
        return when - start, in_loop, epoch
    finally:
        window.coordinator.stop()
        window.coordinator.progressed.disconnect(on_progress)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from _common import main_window

    app, bare = [], []
    with tempfile.TemporaryDirectory() as folder, main_window() as window:
        init = Path(folder) / "init.pt"
        weights = initial_weights(init)
        for repeat in range(args.repeats):
            bare.append(bare_run(init))
            app.append(app_run(window, weights))
            print(f"repeat {repeat + 1}: app {app[-1][0]:.2f} s (in loop {app[-1][1]:.2f} s, epoch {app[-1][2]}), "
                  f"bare {bare[-1][0]:.2f} s (in loop {bare[-1][1]:.2f} s, epoch {bare[-1][2]})", flush=True)
    app_wall, bare_wall = median([a[0] for a in app]), median([b[0] for b in bare])
    app_loop, bare_loop = median([a[1] for a in app]), median([b[1] for b in bare])
    print(f"in-loop training time only: app {app_loop:.2f} s / bare {bare_loop:.2f} s = {app_loop / bare_loop:.3f}")
    report(Figure(
        f"time to {TARGET_ACCURACY:.0%} test accuracy, app / bare loop", app_wall, "s",
        f"bare torch loop {bare_wall:.2f} s", f"ratio <= {TARGET_RATIO:g}", app_wall / bare_wall <= TARGET_RATIO,
        app_wall / bare_wall,
    ))


if __name__ == "__main__":
    main()
