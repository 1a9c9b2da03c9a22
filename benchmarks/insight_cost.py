"""Embedding, out-of-domain hint, channel ranking, faithfulness: their cost against bare forwards in the same run.

All on the bundled trained LeNet and the bundled MNIST subset (4,000 train / 1,000 test digits),
one torch thread as in the GUI:
- embed, PCA and t-SNE, over the 1,000 test digits, against a bare batched forward over the same digits;
- OodDetector.calibrate (4,000 reference + 1,000 calibration digits) against a bare batched forward
  over those 5,000, and one `check` per input against one bare forward of batch 1;
- rank_channels on conv2 (16 channels) and faithfulness, per input, against one bare forward;
- with --vgg, rank_channels on VGG-16's last conv (512 channels, random weights, 3x224x224).
scikit-learn's import is paid before timing starts (the app pays it once, in the worker).

Run: python benchmarks/insight_cost.py [--repeats 20] [--vgg]
"""
from __future__ import annotations

import argparse
import time

from _common import Figure, median, report


def timed(call, repeats: int) -> float:
    """Median seconds of `call()` over `repeats` calls."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return median(samples)


def bare_forward(model, images, batch: int = 256) -> None:
    import torch

    with torch.no_grad():
        for start in range(0, len(images), batch):
            model(torch.from_numpy(images[start : start + batch].copy()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--vgg", action="store_true", help="also rank VGG-16's last conv channels (slow)")
    args = parser.parse_args()
    import numpy as np
    import sklearn.decomposition  # noqa: F401  (import cost paid before timing, as in a warm worker)
    import sklearn.manifold  # noqa: F401
    import torch

    from core.assets import DEFAULT_CHECKPOINT
    from core.checkpoint import load_checkpoint
    from core.data import load_dataset
    from core.insight import OodDetector, attribute, embed, faithfulness, rank_channels

    torch.set_num_threads(1)
    model = load_checkpoint(DEFAULT_CHECKPOINT).build().eval()
    train, test = load_dataset("mnist", "train"), load_dataset("mnist", "test")
    digit = test.images[0]
    single = lambda: bare_forward(model, digit[None])  # noqa: E731
    single_ms = timed(single, 200) * 1e3
    test_forward = timed(lambda: bare_forward(model, test.images), 5)
    print(f"bare forward: {single_ms:.3f} ms per digit, {test_forward * 1e3:.1f} ms over the 1,000 test digits")

    for layer in ("conv1", "relu4"):
        embed(model, test, layer)
        seconds = timed(lambda: embed(model, test, layer), max(3, args.repeats // 4))
        projection_ms = (seconds - test_forward) * 1e3
        report(Figure(
            f"embed PCA, 1,000 test digits at {layer}", seconds * 1e3, "ms",
            f"bare forward over them {test_forward * 1e3:.1f} ms", "at once: PCA adds <= 100 ms to the forward",
            projection_ms <= 100, seconds / test_forward,
        ))
    seconds = timed(lambda: embed(model, test, "relu4", "tsne"), 1)
    report(Figure(
        "embed t-SNE, 1,000 test digits at relu4", seconds, "s", f"bare forward over them {test_forward:.3f} s",
        "on request, none set", True, seconds / test_forward,
    ))

    both = np.concatenate([train.images, test.images])
    calibration_forward = timed(lambda: bare_forward(model, both), 3)
    detector = OodDetector.calibrate(model, train, test)
    seconds = timed(lambda: OodDetector.calibrate(model, train, test), 3)
    report(Figure(
        "OOD calibration, 4,000 + 1,000 digits", seconds, "s", f"bare forward over them {calibration_forward:.3f} s",
        "none set (once per set of weights)", True, seconds / calibration_forward,
    ))
    check_ms = timed(lambda: detector.check(model, digit), args.repeats * 5) * 1e3
    report(Figure(
        "OOD check per input", check_ms, "ms", f"bare forward {single_ms:.3f} ms", "every stroke: <= 5 ms",
        check_ms <= 5, check_ms / single_ms,
    ))

    rank_ms = timed(lambda: rank_channels(model, digit, "conv2"), args.repeats) * 1e3
    report(Figure(
        "rank_channels conv2 (16) per input", rank_ms, "ms", f"bare forward {single_ms:.3f} ms",
        "none set", True, rank_ms / single_ms,
    ))
    heatmap = attribute(model, digit, int(test.labels[0]), "saliency")
    faithful_ms = timed(lambda: faithfulness(model, digit, heatmap, int(test.labels[0])), args.repeats * 5) * 1e3
    report(Figure(
        "faithfulness per input", faithful_ms, "ms", f"bare forward {single_ms:.3f} ms", "none set", True,
        faithful_ms / single_ms,
    ))

    if args.vgg:
        from core.architecture import build_model
        from vgg_scale import VGG16

        torch.manual_seed(0)
        vgg = build_model(VGG16).eval()
        image = torch.rand(3, 224, 224, generator=torch.Generator().manual_seed(0)).numpy()
        vgg_forward = timed(lambda: bare_forward(vgg, image[None]), 3)
        seconds = timed(lambda: rank_channels(vgg, image, "conv13"), 1)
        report(Figure(
            "VGG-16 rank_channels conv13 (512) per input", seconds, "s", f"bare forward {vgg_forward:.3f} s",
            "none set", True, seconds / vgg_forward,
        ))


if __name__ == "__main__":
    main()
