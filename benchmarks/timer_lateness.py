"""Figure 3: responsive while training. How late a 10 ms QTimer on the GUI thread fires while training runs.

The real MainWindow is shown with every panel; a 10 ms Qt.PreciseTimer (so Qt's own coarse-timer slack
is not counted) runs on the GUI thread under app.exec-style event processing. Lateness of a tick is
its interval minus 10 ms (early ticks count as 0). Baseline: the same timer in the same window with training idle, same run (it is ~0,
so no ratio is printed).
Training is started with the Start action, with as many epochs as the run needs.

Run: python benchmarks/timer_lateness.py [--seconds 10]
"""
from __future__ import annotations

import argparse
import time

from _common import Figure, main_window, percentile, pump, report, set_epochs

TARGET_P99_MS = 50.0
INTERVAL_MS = 10


def timer_lateness_ms(seconds: float) -> list[float]:
    from PySide6.QtCore import Qt, QTimer

    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(INTERVAL_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    try:
        pump(seconds)
    finally:
        timer.stop()
    return [max(0.0, (b - a) * 1e3 - INTERVAL_MS) for a, b in zip(ticks, ticks[1:])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    with main_window() as window:
        idle = timer_lateness_ms(args.seconds)
        set_epochs(window, 1000)
        window.start_training()
        deadline = time.perf_counter() + 30
        while window.coordinator.state.value != "running" and time.perf_counter() < deadline:
            pump(0.05)
        if window.coordinator.state.value != "running":
            raise RuntimeError("training did not start within 30 s")
        try:
            training = timer_lateness_ms(args.seconds)
        finally:
            window.coordinator.stop()
    idle_p99, training_p99 = percentile(idle, 99), percentile(training, 99)
    print(f"{len(training)} ticks while training: median {percentile(training, 50):.2f} ms, "
          f"p99 {training_p99:.2f} ms, max {max(training):.2f} ms; idle: {len(idle)} ticks, p99 {idle_p99:.2f} ms")
    report(Figure(
        "timer lateness while training, p99", training_p99, "ms", f"idle window p99 {idle_p99:.2f} ms",
        f"<= {TARGET_P99_MS:g} ms", training_p99 <= TARGET_P99_MS,
    ))


if __name__ == "__main__":
    main()
