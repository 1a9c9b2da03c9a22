"""Figure 5: scale. VGG-16 (random weights) at 224x224: one forward per input, every layer rendered.

The model is built from our layer-pattern text (torchvision is not a dependency). ModelSession runs
one forward per input with every activation kept; then each layer is selected the way
MainWindow._refresh_layer does it (feature maps, and filters for conv layers) in the real
FeatureMapView and FilterView, shown offscreen at the main window's sizes; "rendered" means
``repaint()`` on both views' viewports has returned, i.e. QGraphicsView painted the new images.
Overhead: the session's forward (hooks + numpy copies + filters) over a bare ``model(x)`` under
no_grad, both with one torch thread as the GUI uses, medians of the repeats. Memory: the process's
peak RSS (VmHWM), and RSS after a first and a second pass over every layer (bounded = no growth).

Run: python benchmarks/vgg_scale.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import time

from _common import Figure, current_rss_mib, median, peak_rss_mib, qt_app, report

VGG16 = (
    "INPUT(3x224x224) -> [CONV(64,3,p=1) -> RELU]*2 -> POOL(2) -> [CONV(128,3,p=1) -> RELU]*2 -> POOL(2)"
    " -> [CONV(256,3,p=1) -> RELU]*3 -> POOL(2) -> [CONV(512,3,p=1) -> RELU]*3 -> POOL(2)"
    " -> [CONV(512,3,p=1) -> RELU]*3 -> POOL(2) -> FC(4096) -> RELU -> FC(4096) -> RELU -> FC(1000)"
)
TARGET_RENDER_MS = 150.0
TARGET_OVERHEAD = 1.20


def make_session():
    import numpy as np
    import torch

    from gui.app import keep_freed_memory_for_reuse

    keep_freed_memory_for_reuse()  # as the app does at start-up

    from core.architecture import parse
    from core.model_session import ModelSession
    from core.preprocess import Normalization

    architecture = parse(VGG16)
    normalization = Normalization(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    session = ModelSession.from_architecture(architecture, tuple(str(i) for i in range(1000)), normalization)
    x = torch.Generator().manual_seed(0)
    image = torch.rand(3, 224, 224, generator=x).numpy().astype(np.float32)
    return session, image


def forward_times(session, image, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds per bare forward and per session forward (set_input + inspection), interleaved."""
    import torch

    bare, inspected = [], []
    x = torch.from_numpy(image).unsqueeze(0)
    for _ in range(repeats):
        with torch.no_grad():
            start = time.perf_counter()
            session.model(x)
            bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        session.set_input(image)
        session.inspection
        inspected.append(time.perf_counter() - start)
    return bare, inspected


def render_every_layer(session, feature_maps, filters) -> dict[str, float]:
    """ms to show each layer as MainWindow does, until both views' viewports have repainted."""
    import pyqtgraph as pg

    viewports = (feature_maps.view_widget().viewport(), filters.findChild(pg.GraphicsLayoutWidget).viewport())
    times = {}
    for row in session.layers:
        start = time.perf_counter()
        feature_maps.set_maps(session.inspection.activations[row.name], row.name)
        layer_filters = session.filters()
        if row.name in layer_filters:
            first = next(iter(layer_filters)) == row.name
            filters.set_filters(layer_filters[row.name], row.name, first_layer=first)
        else:
            filters.show_message(f"{row.name} has no weights to show: pick a conv layer")
        for viewport in viewports:
            viewport.repaint()  # a parent's repaint() does not paint a QGraphicsView's viewport
        times[row.name] = (time.perf_counter() - start) * 1e3
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    app = qt_app()
    from gui.panels.feature_map_view import FeatureMapView
    from gui.panels.filter_view import FilterView

    session, image = make_session()
    params = sum(p.numel() for p in session.model.parameters())
    bare, inspected = forward_times(session, image, args.repeats)
    activation_mib = sum(a.nbytes for a in session.inspection.activations.values()) / 2**20
    feature_maps, filters = FeatureMapView(), FilterView()
    feature_maps.resize(760, 560)
    filters.resize(760, 300)
    feature_maps.show()
    filters.show()
    app.processEvents()
    first_pass = render_every_layer(session, feature_maps, filters)
    rss_first = current_rss_mib()
    second_pass = render_every_layer(session, feature_maps, filters)
    rss_second = current_rss_mib()
    feature_maps.close()
    filters.close()
    worst = {name: max(first_pass[name], second_pass[name]) for name in first_pass}
    slowest = max(worst, key=worst.get)
    print(f"VGG-16: {params / 1e6:.1f} M parameters ({params * 4 / 2**20:.0f} MiB), activations kept {activation_mib:.0f} MiB")
    print("render ms per layer (worst of two passes): " + ", ".join(f"{k} {v:.0f}" for k, v in worst.items()))
    print(f"forward: bare median {median(bare):.2f} s, session median {median(inspected):.2f} s ({args.repeats} each, 1 thread)")
    print(f"RSS after pass 1 {rss_first:.0f} MiB, after pass 2 {rss_second:.0f} MiB")
    report(Figure(
        f"VGG-16 layer render, slowest ({slowest})", worst[slowest], "ms", "none (absolute target)",
        f"<= {TARGET_RENDER_MS:g} ms", worst[slowest] <= TARGET_RENDER_MS,
    ))
    overhead = median(inspected) / median(bare)
    report(Figure(
        "VGG-16 forward, session / bare", median(inspected), "s", f"bare model(x) {median(bare):.2f} s",
        f"ratio <= {TARGET_OVERHEAD:g}", overhead <= TARGET_OVERHEAD, overhead,
    ))
    peak = peak_rss_mib()
    report(Figure(
        "VGG-16 peak memory (VmHWM)", peak, "MiB", f"parameters alone {params * 4 / 2**20:.0f} MiB",
        "bounded: no growth between passes", rss_second <= rss_first * 1.05, peak / (params * 4 / 2**20),
    ))


if __name__ == "__main__":
    main()
