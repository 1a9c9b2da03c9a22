"""Attributions: what each method costs per input, against a bare forward of the same model in the same run.

Models: the bundled trained LeNet on a test digit (1x28x28, the app's default), and VGG-16 built
from our layer-pattern text (138 M random weights, torchvision is not a dependency) on a random
3x224x224 image. Each method is `core.insight.attribute` as the app calls it (target = the
predicted class, Grad-CAM at the last conv, IG with 32 steps, occlusion windows of 1/7 of the
side). Bare forward: `model(x)` under no_grad in eval mode, batch 1. Bare forwards are timed
before each method's block and their median over the whole run is the baseline. One torch thread,
as in the GUI. A method "follows the pen" when one attribution fits in one 60 Hz frame (16.7 ms),
so a worker can redo it at every pen move while the prediction updates.

Run: python benchmarks/attribution_cost.py [--repeats 30] [--vgg-repeats 2] [--no-vgg]
"""
from __future__ import annotations

import argparse
import time

from _common import Figure, median, report

PEN_FRAME_MS = 1000 / 60


def bare_forward_seconds(model, x, repeats: int) -> list[float]:
    import torch

    samples = []
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            model(x.unsqueeze(0))
            samples.append(time.perf_counter() - start)
    return samples


def measure(name: str, model, x, repeats: int) -> None:
    """Print and report each method's median cost per input and its ratio to a bare forward."""
    import torch

    from core.insight import METHODS, attribute

    model.eval()
    with torch.no_grad():
        target = int(model(x.unsqueeze(0)).argmax())
    image = x.numpy()
    for method in METHODS:  # warm-up: captum's import, the Grad-CAM geometry, allocator pools
        attribute(model, image, target, method)
    bare: list[float] = []
    costs: dict[str, float] = {}
    for method in METHODS:
        bare += bare_forward_seconds(model, x, max(3, repeats))
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            attribute(model, image, target, method)
            samples.append(time.perf_counter() - start)
        costs[method] = median(samples)
    forward_ms = median(bare) * 1e3
    print(f"\n{name}: bare forward median {forward_ms:.3f} ms ({len(bare)} samples)")
    print(f"{'method':<22}{'ms / input':>12}{'x forward':>12}  follows the pen (<= {PEN_FRAME_MS:.1f} ms)")
    for method, seconds in costs.items():
        ms = seconds * 1e3
        print(f"{method:<22}{ms:>12.2f}{ms / forward_ms:>12.1f}  {'yes' if ms <= PEN_FRAME_MS else 'no'}")
    for method, seconds in costs.items():
        ms = seconds * 1e3
        report(Figure(
            f"{name} {METHODS[method].title} per input", ms, "ms", f"bare forward {forward_ms:.3f} ms",
            f"follows the pen: <= {PEN_FRAME_MS:.1f} ms", ms <= PEN_FRAME_MS, ms / forward_ms,
        ))


def lenet():
    import torch

    from core.assets import DEFAULT_CHECKPOINT
    from core.checkpoint import load_checkpoint
    from core.data import load_dataset

    model = load_checkpoint(DEFAULT_CHECKPOINT).build()
    digit = load_dataset("mnist", "test", (1, 28, 28)).images[0]
    return model, torch.from_numpy(digit.copy())


def vgg16():
    import torch

    from core.architecture import build_model
    from vgg_scale import VGG16

    torch.manual_seed(0)
    model = build_model(VGG16)
    return model, torch.rand(3, 224, 224, generator=torch.Generator().manual_seed(0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per method on LeNet")
    parser.add_argument("--vgg-repeats", type=int, default=2, help="timed calls per method on VGG-16")
    parser.add_argument("--no-vgg", action="store_true", help="LeNet only (VGG-16 takes minutes on a CPU)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    measure("LeNet 1x28x28", *lenet(), args.repeats)
    if not args.no_vgg:
        measure("VGG-16 3x224x224", *vgg16(), args.vgg_repeats)


if __name__ == "__main__":
    main()
