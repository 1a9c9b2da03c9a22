"""How fast each CPU of this machine ran at every moment, measured by a probe process pinned to it.

The GUI-thread benchmark's long turns were cheap code running many times slower than usual, with no
page faults, no interrupts and no other runnable thread to account for it. A probe outside the app is
meant to tell the app's slowness from the machine's: one process per CPU, pinned there, runs
the same tiny piece of work in a loop and writes, for every 5 ms, how many pieces it finished and how
much CPU time it got. Pieces per CPU millisecond, against the probe's own median over the run, is how
fast that CPU was running then (1.0 usual; 0.03 measured here during a 56 ms turn of the window).

A probe runs at SCHED_IDLE, so it takes only a CPU nobody else wants; on a busy CPU it still gets a few
slices, and measures the speed during those only: a CPU slow while the app held it can read as usual.
The probes keep every CPU busy, and that perturbs the machine: on this VM the host then took both CPUs
away for 24-35 ms at a time (steal), which an idle window shows as gaps of that length (2.8 ms without
probes; one busy CPU alone did not do it). Use them to diagnose, not to measure.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

WINDOW_S = 0.005

_PROBE = """
import os, signal, sys, time
os.sched_setaffinity(0, {int(sys.argv[1])})
os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
out = open(sys.argv[2], "w", buffering=1 << 16)
signal.signal(signal.SIGTERM, lambda *_: (out.flush(), os._exit(0)))
window, pieces, cpu = time.perf_counter(), 0, time.thread_time()
while True:
    x = 0
    for i in range(50):
        x += i
    pieces += 1
    now = time.perf_counter()
    if now - window >= WINDOW_S:
        spent = time.thread_time()
        out.write(f"{window:.6f} {now:.6f} {pieces} {(spent - cpu) * 1e3:.3f}\\n")
        window, pieces, cpu = now, 0, spent
""".replace("WINDOW_S", repr(WINDOW_S))


class CpuSpeed:
    """A probe on each CPU this process may use, for the length of a ``with`` block; afterwards,
    ``speed(cpu, start, end)`` says how fast that CPU ran between two ``time.perf_counter()`` times.

    perf_counter is CLOCK_MONOTONIC on Linux, shared by all processes, so times compare across them.
    Where CPUs cannot be pinned (not Linux) there are no probes and every speed is None."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="cpu-speed-")
        self._probes: dict[int, subprocess.Popen] = {}
        self._windows: dict[int, list[tuple[float, float, int, float]]] = {}
        self._median: dict[int, float] = {}

    def __enter__(self) -> "CpuSpeed":
        if hasattr(os, "sched_getaffinity"):
            for cpu in sorted(os.sched_getaffinity(0)):
                self._probes[cpu] = subprocess.Popen([sys.executable, "-c", _PROBE, str(cpu), self._log(cpu)])
        return self

    def __exit__(self, *exc) -> None:
        for probe in self._probes.values():
            probe.terminate()
        for cpu, probe in self._probes.items():
            probe.wait()
            self._windows[cpu] = _read(Path(self._log(cpu)))
            rates = [pieces / cpu_ms for _, _, pieces, cpu_ms in self._windows[cpu] if cpu_ms > 1.0]
            self._median[cpu] = statistics.median(rates) if rates else 0.0
        self._folder.cleanup()

    def _log(self, cpu: int) -> str:
        return os.path.join(self._folder.name, f"{cpu}.txt")

    def speed(self, cpu: int, start: float, end: float) -> float | None:
        """The probe's pieces per CPU ms between start and end over its median; None without a probe on
        that CPU or with under 0.2 ms of CPU time for it then."""
        windows = [w for w in self._windows.get(cpu, ()) if w[0] >= start and w[1] <= end]
        cpu_ms = sum(w[3] for w in windows)
        if cpu_ms < 0.2 or not self._median.get(cpu):
            return None
        return sum(w[2] for w in windows) / cpu_ms / self._median[cpu]


def _read(path: Path) -> list[tuple[float, float, int, float]]:
    """The probe's windows; a line cut short when the probe was ended is left out."""
    windows = []
    try:
        text = path.read_text()
    except OSError:
        return windows
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 4:
            windows.append((float(fields[0]), float(fields[1]), int(fields[2]), float(fields[3])))
    return windows
