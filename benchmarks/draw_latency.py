"""Figure 1: draw to pixels. From a canvas mouse-move event until the prediction and feature maps are repainted.

How "repainted" is measured: the real MainWindow is shown on the offscreen platform; a left-button
QMouseEvent is sent to the DrawCanvas, then the event loop runs until a Paint event has been delivered to
BOTH the feature-map view's viewport and the prediction plot's viewport (counted by an event filter) and
processEvents has returned, i.e. QGraphicsView has rendered the new mosaic and bars into the window's
backing store. The floor beside it is the bare ``model(x)`` forward of the same model on the input the
moves made, timed back to back in blocks between the moves (same thread count, same load).

Run: .venv/bin/python benchmarks/draw_latency.py [--moves 300] [--profile]
"""
from __future__ import annotations

import argparse
import math
import time

from _common import Figure, median, main_window, paint_counter, percentile, profile_top, report

TARGET_RATIO = 15.0
FLOOR_EVERY = 50
TARGET_MEDIAN_MS = 8.0
TARGET_P95_MS = 16.0


def stroke_points(moves: int) -> list[tuple[float, float]]:
    """A looping, digit-sized pen path over the 280 px canvas, a few pixels per move like a real mouse."""
    return [
        (140 + 70 * math.sin(2 * math.pi * i / 150) * math.cos(i / 97), 140 + 90 * math.sin(2 * math.pi * i / 75))
        for i in range(moves)
    ]


def _mouse(kind, x: float, y: float):
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QMouseEvent

    button = Qt.MouseButton.LeftButton if kind != QMouseEvent.Type.MouseMove else Qt.MouseButton.NoButton
    return QMouseEvent(kind, QPointF(x, y), QPointF(x, y), button, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)


def measure_draw(window, moves: int) -> tuple[list[float], list[float], list[float]]:
    """Per move: ms inside the event handler and ms until both views have painted; after every
    FLOOR_EVERY moves, as many bare forwards of the same model on the input just made (so the floor
    shares the machine's load of the moment)."""
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    canvas = window.canvas
    watched = (window.feature_maps.view_widget().viewport(), window.prediction.plot.viewport())
    counter = paint_counter(watched)
    points = stroke_points(moves)
    QApplication.sendEvent(canvas, _mouse(QEvent.Type.MouseButtonPress, *points[0]))
    QApplication.processEvents()
    handler_ms, painted_ms, forward_ms = [], [], []
    for x, y in points[1:]:
        before = [counter.total(w) for w in watched]
        start = time.perf_counter()
        QApplication.sendEvent(canvas, _mouse(QEvent.Type.MouseMove, x, y))
        handled = time.perf_counter()
        for _ in range(100):
            QApplication.processEvents()
            if all(counter.total(w) > b for w, b in zip(watched, before)):
                break
        else:
            raise RuntimeError("the views were not repainted after a stroke: the measurement is invalid")
        done = time.perf_counter()
        handler_ms.append((handled - start) * 1e3)
        painted_ms.append((done - start) * 1e3)
        if len(painted_ms) % FLOOR_EVERY == 0:
            forward_ms += bare_forwards(window, FLOOR_EVERY)
    QApplication.sendEvent(canvas, _mouse(QEvent.Type.MouseButtonRelease, *points[-1]))
    return handler_ms, painted_ms, forward_ms


def bare_forwards(window, repeats: int) -> list[float]:
    """Back-to-back bare forwards of the model on show with its input: the warm floor no viewer can
    beat (a lone forward right after a repaint measured about twice as long, its caches cold)."""
    import torch

    session = window.state.session
    x = torch.from_numpy(session.input).unsqueeze(0)
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            begin = time.perf_counter()
            session.model(x)
            times.append((time.perf_counter() - begin) * 1e3)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one more stroke")
    args = parser.parse_args()
    with main_window() as window:
        measure_draw(window, 30)  # warm-up: first-use allocations, lazy pyqtgraph set-up
        handler_ms, painted_ms, forward_ms = measure_draw(window, args.moves)
        if args.profile:
            profile_top(lambda: measure_draw(window, args.moves))
    floor = median(forward_ms)
    print(f"{len(painted_ms)} mouse moves; event handler alone: median {median(handler_ms):.2f} ms, "
          f"p95 {percentile(handler_ms, 95):.2f} ms; bare forward median {floor:.3f} ms")
    ratio = median(painted_ms) / floor
    report(Figure(
        "draw to pixels / bare forward, median", median(painted_ms), "ms", f"bare forward {floor:.3f} ms",
        f"ratio <= {TARGET_RATIO:g} (and <= {TARGET_MEDIAN_MS:g} ms)", ratio <= TARGET_RATIO, ratio,
    ))
    p95 = percentile(painted_ms, 95)
    report(Figure(
        "draw to pixels, p95", p95, "ms", f"bare forward p95 {percentile(forward_ms, 95):.3f} ms",
        f"<= {TARGET_P95_MS:g} ms", p95 <= TARGET_P95_MS, p95 / percentile(forward_ms, 95),
    ))


if __name__ == "__main__":
    main()
