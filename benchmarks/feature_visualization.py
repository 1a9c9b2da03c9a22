"""What a channel looks for: time of core.insight.visualize_channel, against the bare gradient steps it makes.

Two cases, one torch thread as in the GUI process (or its worker):
  lenet 28x28   the bundled trained model, a conv2 channel, the default 128 steps
  VGG-16 224    the layer-pattern VGG-16 of vgg_scale.py (random weights), channel 0 of conv7 (the
                middle of the network), --vgg-steps steps; printed per step and extrapolated to 128
                (no target: it runs in a worker, with progress and cancel)

Baseline, measured in the same run: the same number of plain steps, each one forward of a 1-image
batch up to the layer plus one backward to the input, nothing else. The ratio is what the image
parameterisation, jitter and the optimiser add.

Run: python benchmarks/feature_visualization.py [--vgg-steps 16]
"""
from __future__ import annotations

import argparse
import time

from _common import Figure, median, report
from vgg_scale import VGG16

DEFAULT_STEPS = 128
TARGET_LENET_S = 1.5  # "runs in ~1 s for lenet at 28x28 with 1 thread"


def bare_steps(model, layer: str, shape: tuple[int, int, int], steps: int) -> float:
    import torch

    modules = dict(model.named_modules())
    captured = {}

    class Reached(Exception):
        pass

    def stop(_module, _inputs, output):
        captured["out"] = output
        raise Reached

    handle = modules[layer].register_forward_hook(stop)
    x = torch.randn(1, *shape, requires_grad=True)
    start = time.perf_counter()
    try:
        for _ in range(steps):
            try:
                model(x)
            except Reached:
                pass
            torch.autograd.grad(captured["out"][0, 0].mean(), x)
    finally:
        handle.remove()
    return time.perf_counter() - start


def timed_visualisation(model, layer: str, shape: tuple[int, int, int], steps: int) -> float:
    from core.insight import visualize_channel

    start = time.perf_counter()
    visualize_channel(model, layer, 0, shape, steps=steps)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vgg-steps", type=int, default=16)
    args = parser.parse_args()

    import torch

    from core.architecture import build_model
    from core.assets import DEFAULT_CHECKPOINT
    from core.checkpoint import load_checkpoint

    torch.set_num_threads(1)
    lenet = load_checkpoint(DEFAULT_CHECKPOINT).build().eval()
    timed_visualisation(lenet, "conv2", (1, 28, 28), 4)  # warm-up
    visual, bare = [], []
    for _ in range(3):
        visual.append(timed_visualisation(lenet, "conv2", (1, 28, 28), DEFAULT_STEPS))
        bare.append(bare_steps(lenet, "conv2", (1, 28, 28), DEFAULT_STEPS))
    report(Figure(
        "feature visualisation, lenet conv2, 28x28, 128 steps", median(visual), "s",
        f"128 bare forward+backward steps {median(bare):.3f} s", f"≤ {TARGET_LENET_S} s",
        median(visual) <= TARGET_LENET_S, median(visual) / median(bare),
    ))

    torch.manual_seed(0)
    vgg = build_model(VGG16).eval()
    timed_visualisation(vgg, "conv7", (3, 224, 224), 1)  # warm-up
    visual_vgg = timed_visualisation(vgg, "conv7", (3, 224, 224), args.vgg_steps)
    bare_vgg = bare_steps(vgg, "conv7", (3, 224, 224), args.vgg_steps)
    per_step = visual_vgg / args.vgg_steps
    print(f"VGG-16 conv7 at 224x224: {per_step:.3f} s per step, so {per_step * DEFAULT_STEPS:.0f} s for "
          f"{DEFAULT_STEPS} steps; a bare forward+backward step {bare_vgg / args.vgg_steps:.3f} s "
          f"(ratio {visual_vgg / bare_vgg:.2f})")

if __name__ == "__main__":
    main()
