"""Soak: a long training run with every view open and refreshing must not leak memory, threads, timers or Qt objects.

The real MainWindow trains LeNet on the bundled MNIST for the whole run (1000 epochs, restarted should
it ever finish), while a 150 ms QTimer walks the layer strip, hovers a random unit of every spatial
layer (so the receptive-field box and effective receptive field are computed and drawn) and, every
tenth tick, shows a random test sample. Once a second the GUI process's resident memory (VmRSS),
Python threads, live QObjects under the top-level widgets, active QTimers and Python wrappers of Qt
objects (graphics items, pens... which no QObject tree holds) are sampled, with the size of the
epoch weights the window keeps for looking back (bounded by its budget, so reported apart). The first
10% of the run is warm-up (caches, plot buffers, the worker's first snapshots); the figures compare
the last five samples of the run with the first five after warm-up, by their medians.

Run: python benchmarks/soak.py [--minutes 10]
"""
from __future__ import annotations

import argparse
import gc
import multiprocessing
import statistics
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field

from _common import Figure, current_rss_mib, main_window, pump, report, set_epochs

TARGET_RSS_GROWTH_PERCENT = 10.0
WARM_UP_FRACTION = 0.10
CYCLE_INTERVAL_MS = 150
SAMPLE_WINDOW = 5


@dataclass(frozen=True)
class Sample:
    seconds: float
    rss_mib: float
    threads: int
    qobjects: int
    qt_wrappers: int
    active_timers: int
    step: int
    worker_rss_mib: float
    timeline_mib: float
    wrapper_types: Counter = field(default_factory=Counter, compare=False, repr=False)


def live_qobjects() -> list:
    from PySide6.QtCore import QObject
    from PySide6.QtWidgets import QApplication

    objects = []
    for widget in QApplication.topLevelWidgets():
        objects.append(widget)
        objects.extend(widget.findChildren(QObject))
    return objects


def qt_wrapper_types() -> Counter:
    """Python objects wrapping a Qt object or value, by type, counted after a full collection so that
    only what is still referenced counts."""
    import shiboken6

    gc.collect()
    with warnings.catch_warnings():  # isinstance on some torch module objects warns about deprecated names
        warnings.simplefilter("ignore")
        return Counter(type(obj).__name__ for obj in gc.get_objects() if isinstance(obj, shiboken6.Shiboken.Object))


def worker_rss_mib() -> float:
    """Resident memory of the training worker(s), from /proc; 0 between runs."""
    total = 0.0
    for child in multiprocessing.active_children():
        try:
            with open(f"/proc/{child.pid}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024
        except (OSError, StopIteration):
            continue
    return total


def take_sample(started: float, window) -> Sample:
    from PySide6.QtCore import QTimer

    objects = live_qobjects()
    wrappers = qt_wrapper_types()
    timers = sum(1 for obj in objects if isinstance(obj, QTimer) and obj.isActive())
    return Sample(
        seconds=time.perf_counter() - started,
        rss_mib=current_rss_mib(),
        threads=threading.active_count(),
        qobjects=len(objects),
        qt_wrappers=sum(wrappers.values()),
        active_timers=timers,
        step=window.state.session.step,
        worker_rss_mib=worker_rss_mib(),
        timeline_mib=window.state.timeline_bytes() / 2**20,
        wrapper_types=wrappers,
    )


class ViewCycler:
    """What a curious student does all day: next layer, hover a unit, now and then another sample."""

    def __init__(self, window, seed: int = 0) -> None:
        import numpy as np
        from PySide6.QtCore import QTimer

        self.window = window
        self.rng = np.random.default_rng(seed)
        self.ticks = 0
        self.hovers = 0
        window.feature_maps.unitHovered.connect(self._count_hover)
        self.timer = QTimer(window)
        self.timer.setInterval(CYCLE_INTERVAL_MS)
        self.timer.timeout.connect(self.tick)

    def _count_hover(self, *_unit) -> None:
        self.hovers += 1

    def tick(self) -> None:
        from PySide6.QtTest import QTest

        window, strip = self.window, self.window.layer_strip
        self.ticks += 1
        last = len(window.state.session.layers) - 1
        strip.set_current(0 if strip.current_index() >= last else strip.current_index() + 1)
        row = window.state.session.layer(window.state.layer)
        if row.rf.spatial and window.feature_maps.map_count() > 0:
            h, w = window.feature_maps.map_shape()
            unit = (int(self.rng.integers(window.feature_maps.map_count())), int(self.rng.integers(h)), int(self.rng.integers(w)))
            QTest.mouseMove(window.feature_maps.view_widget().viewport(), window.feature_maps.unit_position(*unit))
        if self.ticks % 10 == 0:
            window.state.show_random_sample()


def keep_training(window, deadline_s: float = 60.0) -> None:
    """Start (or restart) training and wait until the worker is really running."""
    window.start_training()
    end = time.perf_counter() + deadline_s
    while window.coordinator.state.value != "running" and time.perf_counter() < end:
        pump(0.05)
    if window.coordinator.state.value != "running":
        raise RuntimeError(f"training did not start within {deadline_s:.0f} s: {window.last_message()}")


def soak(minutes: float) -> tuple[list[Sample], int, ViewCycler]:

    samples: list[Sample] = []
    restarts = 0
    with main_window() as window:
        set_epochs(window, 1000)
        keep_training(window)
        cycler = ViewCycler(window)
        cycler.timer.start()
        started = time.perf_counter()
        end = started + minutes * 60
        try:
            while time.perf_counter() < end:
                pump(1.0)
                if window.coordinator.state.value not in ("running", "starting"):
                    restarts += 1
                    keep_training(window)
                samples.append(take_sample(started, window))
        finally:
            cycler.timer.stop()
            window.coordinator.stop()
    return samples, restarts, cycler


def median_of(samples: list[Sample], field_name: str) -> float:
    """Median over a few consecutive samples, so one noisy second does not decide."""
    return statistics.median(getattr(s, field_name) for s in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    samples, restarts, cycler = soak(args.minutes)
    if len(samples) < 2 * SAMPLE_WINDOW:
        raise SystemExit(f"only {len(samples)} samples: run for at least {2 * SAMPLE_WINDOW} s")
    warm = min(int(len(samples) * WARM_UP_FRACTION), len(samples) - 2 * SAMPLE_WINDOW)
    after_warm_up, at_end = samples[warm : warm + SAMPLE_WINDOW], samples[-SAMPLE_WINDOW:]
    first_s, last_s = after_warm_up[0], at_end[-1]
    print(f"{args.minutes:g} min soak: {len(samples)} samples, {cycler.ticks} view-cycle ticks, {cycler.hovers} units hovered, "
          f"{last_s.step - samples[0].step} training steps, {restarts} training restarts")
    print(f"after warm-up ({first_s.seconds:.0f} s) -> end ({last_s.seconds:.0f} s):")
    for field, unit in [("rss_mib", "MiB"), ("threads", ""), ("qobjects", ""), ("qt_wrappers", ""),
                        ("active_timers", ""), ("worker_rss_mib", "MiB"), ("timeline_mib", "MiB")]:
        start_value, end_value = median_of(after_warm_up, field), median_of(at_end, field)
        peak = max(getattr(s, field) for s in samples[warm:])
        print(f"  {field:15s} {start_value:10.1f} -> {end_value:10.1f} {unit:3s} (peak after warm-up {peak:.1f})")
    grown = (last_s.wrapper_types - first_s.wrapper_types).most_common(5)
    if grown:
        print("  Qt wrapper types that grew: " + ", ".join(f"{name} +{count}" for name, count in grown))

    rss_start, rss_end = median_of(after_warm_up, "rss_mib"), median_of(at_end, "rss_mib")
    growth = (rss_end - rss_start) / rss_start * 100
    report(Figure("soak: GUI resident memory growth after warm-up", growth, "%",
                  f"{rss_start:.1f} MiB at the end of warm-up", f"<= {TARGET_RSS_GROWTH_PERCENT:g} %",
                  growth <= TARGET_RSS_GROWTH_PERCENT))
    kept = median_of(at_end, "timeline_mib") - median_of(after_warm_up, "timeline_mib")
    other = (rss_end - rss_start - kept) / rss_start * 100
    report(Figure("soak: GUI resident memory growth besides the look-back weights it keeps by design", other, "%",
                  f"{rss_start:.1f} MiB at the end of warm-up, {kept:.1f} MiB of look-back weights added",
                  f"<= {TARGET_RSS_GROWTH_PERCENT:g} %", other <= TARGET_RSS_GROWTH_PERCENT))
    for field, name in [("threads", "Python threads"), ("active_timers", "active QTimers"),
                        ("qobjects", "live QObjects"), ("qt_wrappers", "Python wrappers of Qt objects")]:
        start_value, end_value = median_of(after_warm_up, field), median_of(at_end, field)
        report(Figure(f"soak: {name} growth after warm-up", end_value - start_value, "",
                      f"{start_value:g} at the end of warm-up", "<= 0", end_value <= start_value))


if __name__ == "__main__":
    main()
