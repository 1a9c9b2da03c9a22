"""Issue 11, window side: what the insight tabs add to drawing. Draw to pixels (as draw_latency.py measures
it) with each tab beside the filters on show, in alternating blocks in one window, so each tab is judged
against the Filters tab measured in the same run; and the out-of-domain verdict per input against a bare
forward.

The Attribution tab's Grad-CAM follows the pen on the GUI thread (at most every 33 ms); the other tabs
and the hint must add next to nothing while the pen moves.

Run: python benchmarks/insight_stroke.py [--moves 100] [--rounds 3]
"""
from __future__ import annotations

import argparse
import time

from _common import Figure, main_window, median, pump, report
from draw_latency import forward_floor_ms, measure_draw

TABS = ("Filters", "Attribution", "Embedding", "Channels")
VERDICTS = 300


def show_tab(window, title: str) -> None:
    bar = window.tabs.tabBar()
    window.tabs.setCurrentIndex(next(i for i in range(bar.count()) if bar.tabText(i) == title))
    pump(0.3)
    for binder in (window.insight.attribution, window.insight.embedding, window.insight.channels):
        binder.wait(60)  # the tab's first computation, e.g. the embedding's projection
    pump(0.2)


def verdict_ms(window) -> list[float]:
    ood = window.insight.ood
    times = []
    for _ in range(VERDICTS):
        start = time.perf_counter()
        ood.show_verdict()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    painted: dict[str, list[float]] = {tab: [] for tab in TABS}
    with main_window() as window:
        window.insight.ood.calibrate()
        window.insight.ood.wait(60)
        pump(0.2)
        measure_draw(window, 30)  # warm-up
        for _ in range(args.rounds):
            for tab in TABS:
                show_tab(window, tab)
                painted[tab] += measure_draw(window, args.moves)[1]
        floor = forward_floor_ms(window)
        verdicts = verdict_ms(window)
    plain = median(painted["Filters"])
    for tab in TABS[1:]:
        value = median(painted[tab])
        report(Figure(
            f"draw to pixels with the {tab} tab on show, median", value, "ms",
            f"Filters tab {plain:.2f} ms", "≈ 1 (Attribution: follows the pen)", tab == "Attribution" or value / plain < 1.15,
            value / plain,
        ))
    report(Figure(
        "out-of-domain verdict per input (on the GUI thread, once the pen rests)", median(verdicts), "ms",
        f"bare forward {median(floor):.3f} ms", "cheap", True, median(verdicts) / median(floor),
    ))


if __name__ == "__main__":
    main()
