"""Figure 4: start-up. ``python main.py`` until its window is first painted, over the bare imports it needs.

App: benchmarks/_first_paint.py runs main.py unchanged and prints "painted" once the main window's first
paint pass is done (see that file). Baseline: ``python -c "import torch, PySide6.QtWidgets"`` printing
"ready". Both are timed here from process launch until their line is read, alternated over repeats
(medians reported) because the machine is shared; both run offscreen.

Run: python benchmarks/startup.py [--repeats 7] [--profile]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from _common import REPO, Figure, median, report

TARGET_RATIO = 1.5
APP = [sys.executable, str(REPO / "benchmarks" / "_first_paint.py")]
BARE = [sys.executable, "-c", "import torch, PySide6.QtWidgets; print('ready', flush=True)"]


def seconds_until_line(command: list[str], line: str) -> float:
    # A fresh autosave home per launch: the app is cut off right after its first paint, which would
    # otherwise look like a crash to the next launch.
    home = tempfile.mkdtemp(dir=os.environ["CONVSCOPE_HOME"])
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CONVSCOPE_HOME": home}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's Python keeps the app's compiled modules (0.1 s a launch)
    start = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=REPO) as process:
        for output in process.stdout:
            if output.strip() == line:
                elapsed = time.perf_counter() - start
                process.wait()
                return elapsed
    raise RuntimeError(f"{' '.join(command)} exited without printing {line!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of main.py up to the first paint")
    args = parser.parse_args()
    seconds_until_line(APP, "painted")  # warm the file cache for both
    seconds_until_line(BARE, "ready")
    app, bare = [], []
    for _ in range(args.repeats):
        app.append(seconds_until_line(APP, "painted"))
        bare.append(seconds_until_line(BARE, "ready"))
    print("main.py to first paint: " + ", ".join(f"{s:.2f}" for s in app) + " s")
    print("import torch, PySide6.QtWidgets: " + ", ".join(f"{s:.2f}" for s in bare) + " s")
    ratio = median(app) / median(bare)
    report(Figure(
        "start-up to first painted window", median(app), "s", f"import torch, PySide6.QtWidgets {median(bare):.2f} s",
        f"ratio <= {TARGET_RATIO:g}", ratio <= TARGET_RATIO, ratio,
    ))
    if args.profile:
        home = tempfile.mkdtemp(dir=os.environ["CONVSCOPE_HOME"])
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CONVSCOPE_HOME": home}
        subprocess.run([*APP, "--profile"], cwd=REPO, env=env, check=True)


if __name__ == "__main__":
    main()
