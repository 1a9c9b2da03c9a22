"""Figure 2: live training costs nothing. App throughput with every view refreshing / a bare PyTorch loop.

Four runs of the default model (lenet preset) on the bundled MNIST train split, batch size and learning
rate as the training panel's defaults, one torch thread each, for the same wall time, alternated over
repeats because the machine is shared:

  bare       benchmarks/_bare_loop.py: plain torch loop, nothing else (the baseline the issue names)
  bare+test  the same loop plus the test-set pass at every epoch end that core.trainer.Trainer makes
  headless   the app's worker (core.training_process) with a parent that only drains its queues
  app        the real MainWindow: Start pressed, every panel visible, each snapshot repainted

Throughput is samples/s as each loop counts it itself from its first step (the worker's own Stopwatch,
reported in its Progress events), so process start-up is excluded for all four. The app's refresh rate
is counted from weight snapshots delivered and Paint events on the feature-map viewport.

Run: python benchmarks/live_training.py [--seconds 8] [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _common import REPO, Figure, median, pump, report, set_epochs

TARGET_RATIO = 0.90
TARGET_REFRESH_HZ = 10.0


def bare_loop(seconds: float, lr: float, batch_size: int, test_each_epoch: bool) -> float:
    command = [sys.executable, str(REPO / "benchmarks" / "_bare_loop.py"), "--seconds", str(seconds),
               "--lr", str(lr), "--batch-size", str(batch_size)]
    if test_each_epoch:
        command.append("--test-each-epoch")
    lines = subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()
    return json.loads(lines[-1])["samples_per_s"]


def _job(lr: float, batch_size: int):
    from core.architecture import PRESETS, parse
    from core.trainer import TrainConfig
    from core.training_process import TrainingJob

    config = TrainConfig(optimizer="sgd", lr=lr, batch_size=batch_size, epochs=1000)
    return TrainingJob(architecture=parse(PRESETS["lenet"]).to_text(), dataset="mnist", config=config)


def headless_worker(seconds: float, lr: float, batch_size: int) -> float:
    """The app's worker process with a parent that drains its queues every 40 ms like the controller."""
    from core.training_process import Progress, TrainingProcess

    process = TrainingProcess(_job(lr, batch_size))
    process.start()
    process.send("run")
    first_running, rate = None, 0.0
    try:
        while first_running is None or time.perf_counter() - first_running < seconds:
            time.sleep(0.04)
            for event in process.poll_events():
                if isinstance(event, Progress) and event.state.value == "running":
                    first_running = first_running or time.perf_counter()
                    rate = event.samples_per_s
            process.newest_snapshot()
            if not process.is_alive():
                raise RuntimeError("the training worker died during the benchmark")
    finally:
        stop_draining(process)
    return rate


def stop_draining(process, timeout: float = 10.0) -> None:
    """Stop a worker while reading its queues, so its last snapshot never sits unread in a full pipe."""
    process.send("stop")
    deadline = time.perf_counter() + timeout
    while process.is_alive() and time.perf_counter() < deadline:
        process.poll_events()
        process.newest_snapshot()
        time.sleep(0.02)
    process.stop()


def app_training(window, seconds: float) -> tuple[float, float, float]:
    """Press Start in the real window; samples/s, snapshots/s delivered, feature-map repaints/s."""
    from _common import paint_counter

    set_epochs(window, 1000)
    counter = paint_counter([window.feature_maps.view_widget().viewport()])
    running: list[tuple[float, object]] = []
    snapshots: list[float] = []
    on_progress = lambda p: p.state.value == "running" and running.append((time.perf_counter(), p))  # noqa: E731
    on_weights = lambda: snapshots.append(time.perf_counter())  # noqa: E731
    window.coordinator.progressed.connect(on_progress)
    window.state.weights_changed.connect(on_weights)
    window.start_training()
    try:
        deadline = time.perf_counter() + 30
        while not running and time.perf_counter() < deadline:
            pump(0.05)
        if not running:
            raise RuntimeError("training did not start within 30 s")
        start, paints_before = running[0][0], counter.total(window.feature_maps.view_widget().viewport())
        pump(seconds)
        elapsed = time.perf_counter() - start
        paints = counter.total(window.feature_maps.view_widget().viewport()) - paints_before
        delivered = sum(1 for t in snapshots if t >= start)
        return running[-1][1].samples_per_s, delivered / elapsed, paints / elapsed
    finally:
        window.coordinator.stop()
        window.coordinator.progressed.disconnect(on_progress)
        window.state.weights_changed.disconnect(on_weights)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from _common import main_window

    rates: dict[str, list[float]] = {"bare": [], "bare+test": [], "headless": [], "app": []}
    refresh: list[tuple[float, float]] = []
    with main_window() as window:
        settings = window.train_settings()
        lr, batch_size = settings.lr, settings.batch_size
        for repeat in range(args.repeats):
            rates["bare"].append(bare_loop(args.seconds, lr, batch_size, test_each_epoch=False))
            rates["bare+test"].append(bare_loop(args.seconds, lr, batch_size, test_each_epoch=True))
            rates["headless"].append(headless_worker(args.seconds, lr, batch_size))
            app_rate, snapshot_hz, paint_hz = app_training(window, args.seconds)
            rates["app"].append(app_rate)
            refresh.append((snapshot_hz, paint_hz))
            print(f"repeat {repeat + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in rates.items())
                  + f" samples/s; app refresh: {snapshot_hz:.1f} snapshots/s, {paint_hz:.1f} feature-map paints/s",
                  flush=True)
    m = {k: median(v) for k, v in rates.items()}
    slowest_refresh = min(min(pair) for pair in refresh)
    print(f"lenet, batch {batch_size}, lr {lr:g}, 1 torch thread, {args.seconds:g} s per run, medians of {args.repeats}")
    print(f"headless worker / bare+test: {m['headless'] / m['bare+test']:.3f} (the worker's own overhead); "
          f"app / headless: {m['app'] / m['headless']:.3f} (what the GUI costs the worker)")
    report(Figure(
        "live training throughput, app / bare loop", m["app"], "samples/s", f"bare torch loop {m['bare']:,.0f} samples/s",
        f">= {TARGET_RATIO:g} with views >= {TARGET_REFRESH_HZ:g} Hz",
        m["app"] / m["bare"] >= TARGET_RATIO and slowest_refresh >= TARGET_REFRESH_HZ, m["app"] / m["bare"],
    ))
    report(Figure(
        "live training throughput, app / bare loop with the same per-epoch test pass", m["app"], "samples/s",
        f"bare torch loop + test pass {m['bare+test']:,.0f} samples/s",
        f">= {TARGET_RATIO:g} with views >= {TARGET_REFRESH_HZ:g} Hz",
        m["app"] / m["bare+test"] >= TARGET_RATIO and slowest_refresh >= TARGET_REFRESH_HZ, m["app"] / m["bare+test"],
    ))
    report(Figure(
        "live training view refresh rate (slowest run)", slowest_refresh, "Hz",
        "snapshots delivered and feature-map repaints per second", f">= {TARGET_REFRESH_HZ:g} Hz",
        slowest_refresh >= TARGET_REFRESH_HZ,
    ))


if __name__ == "__main__":
    main()
