"""Run a seeded fuzz loop in a fresh process and report what matters: what escaped, the slowest case,
and the process's peak memory.

A fresh (spawned) process per fuzz loop, because ``ru_maxrss`` is a process's peak so far: measured
inside the test process it would carry whatever earlier tests allocated. The child gets a small memory
budget, so "refused as over budget" is exercised too, and one torch thread.
"""
from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import resource
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

CASE_LIMIT_S = 10.0
PEAK_LIMIT_MB = 2048
CHILD_BUDGET = "256MB"
_CONTEXT = mp.get_context("spawn")


@dataclass
class FuzzReport:
    cases: int = 0
    outcomes: Counter = field(default_factory=Counter)
    escaped: list[str] = field(default_factory=list)
    slowest_s: float = 0.0
    slowest_case: int = -1
    peak_mb: float = 0.0

    def problems(self) -> list[str]:
        """Everything the issue's bar forbids: an escaped exception, a slow case, too much memory."""
        found = [f"{len(self.escaped)} escaped, e.g. {self.escaped[0]}"] if self.escaped else []
        if self.slowest_s > CASE_LIMIT_S:
            found.append(f"case {self.slowest_case} took {self.slowest_s:.1f} s")
        if self.peak_mb > PEAK_LIMIT_MB:
            found.append(f"peak memory {self.peak_mb:.0f} MB")
        return found


Case = Callable[[], str]
"""One fuzz case: runs the entry point and returns an outcome label, or raises what escaped."""


def run_in_child(target: str, cases: int, seed: int, timeout_s: float = 300) -> FuzzReport:
    """Run ``target`` ('module:function', a generator of cases given (cases, seed, folder)) in a spawned
    process and return its report."""
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    process = _CONTEXT.Process(target=_child, args=(target, cases, seed, sender), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout_s):
            raise TimeoutError(f"{target} did not finish {cases} cases in {timeout_s:.0f} s")
        report = receiver.recv()
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join(5)
        receiver.close()
    if isinstance(report, str):
        raise RuntimeError(f"{target} failed to run:\n{report}")
    return report


def _child(target: str, cases: int, seed: int, sender) -> None:
    import tempfile

    os.environ["CONVSCOPE_MEMORY_BUDGET"] = CHILD_BUDGET
    warnings.simplefilter("ignore")
    try:
        import torch

        torch.set_num_threads(1)
        module_name, function_name = target.split(":")
        generate: Callable[[int, int, str], Iterator[Case]] = getattr(importlib.import_module(module_name), function_name)
        report = FuzzReport()
        with tempfile.TemporaryDirectory() as folder:
            for index, case in enumerate(generate(cases, seed, folder)):
                started = time.perf_counter()
                try:
                    report.outcomes[case()] += 1
                except Exception as error:  # noqa: BLE001 -- anything unexpected is the finding
                    frame = traceback.extract_tb(error.__traceback__)[-1]
                    report.escaped.append(
                        f"case {index}: {type(error).__module__}.{type(error).__name__}: {str(error)[:300]} "
                        f"(at {os.path.basename(frame.filename)}:{frame.lineno})"
                    )
                elapsed = time.perf_counter() - started
                if elapsed > report.slowest_s:
                    report.slowest_s, report.slowest_case = elapsed, index
                report.cases += 1
        report.peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        sender.send(report)
    except BaseException:  # noqa: BLE001 -- report the harness's own failure instead of hanging the parent
        sender.send(traceback.format_exc())
    finally:
        sender.close()
