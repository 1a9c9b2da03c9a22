"""Runs every benchmark in turn and prints one table of figures (markdown), as in benchmarks/README.md.

Each script prints its own details too; they run one after another in separate processes so one's
memory, threads or Qt state never colours the next. Run offscreen: .venv/bin/python benchmarks/run_all.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from _common import REPO, RESULT_PREFIX

SCRIPTS = (
    "draw_latency.py", "live_training.py", "timer_lateness.py", "startup.py", "vgg_scale.py", "time_to_accuracy.py",
    "top_examples.py", "feature_visualization.py", "large_image.py", "gui_responsiveness.py", "run_writer.py",
)


def main() -> int:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    rows, failed = [], []
    for script in SCRIPTS:
        print(f"== {script}", flush=True)
        process = subprocess.run([sys.executable, str(REPO / "benchmarks" / script)], env=env, cwd=REPO,
                                 capture_output=True, text=True)
        for line in process.stdout.splitlines():
            if line.startswith(RESULT_PREFIX):
                rows.append(json.loads(line[len(RESULT_PREFIX):]))
            else:
                print(line)
        if process.returncode != 0:
            failed.append(script)
            print(process.stderr[-3000:], file=sys.stderr)
    print("\n| figure | measured | baseline (same run) | ratio | target | result |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        ratio = f"{row['ratio']:.3f}" if row["ratio"] is not None else "—"
        print(f"| {row['name']} | {row['value']:.4g} {row['unit']} | {row['baseline']} | {ratio} | {row['target']} | "
              f"{'PASS' if row['passed'] else 'MISS'} |")
    if failed:
        print(f"\nscripts that failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
