"""Large images: a 7000x7000 photo (JPEG and PNG) made into a model input, against a bare decode.

The app: ``load_image`` (header checked against the budget, JPEG decoded at a fraction of its size,
others reduced to 1 megapixel) then ``image_to_input`` for a 3x224x224 model. Baseline, same run: the
same two calls with ``max_pixels=None``, i.e. every pixel decoded and converted to float, as the app did
before. Ratio = app / baseline. Also printed: Pillow's bare full decode (``Image.open(...).load()``), the
floor for a format that cannot decode at a smaller size (PNG). Peak memory is the process's VmHWM after
all repeats (the baseline's full-size float copies and the test pictures included).

Run: python benchmarks/large_image.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import io
import time

from _common import Figure, median, peak_rss_mib, report

SIDE = 7000
TARGET_RATIO = 0.5


def pictures() -> dict[str, bytes]:
    """A photo-like 7000x7000 RGB picture (smooth gradients plus noise), encoded as JPEG and PNG."""
    import numpy as np
    from PIL import Image

    rows, cols = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32) / SIDE
    noise = np.random.default_rng(0).normal(0, 8, (SIDE, SIDE)).astype(np.float32)
    channels = [(rows * 200 + noise), (cols * 180 + noise), ((rows + cols) * 90 + noise)]
    image = Image.fromarray(np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8))
    encoded = {}
    for fmt in ("JPEG", "PNG"):
        buffer = io.BytesIO()
        image.save(buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {"compress_level": 1}))
        encoded[fmt] = buffer.getvalue()
    return encoded


def timed(action, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import torch
    from PIL import Image

    from core.image_io import load_image
    from core.preprocess import identity_normalization, image_to_input

    torch.set_num_threads(1)
    normalization = identity_normalization(3)
    for fmt, data in pictures().items():
        def app(data: bytes = data) -> None:
            image_to_input(load_image(data), (3, 224, 224), normalization)

        def every_pixel(data: bytes = data) -> None:
            image_to_input(load_image(data, max_pixels=None), (3, 224, 224), normalization)

        def bare_decode(data: bytes = data) -> None:
            with Image.open(io.BytesIO(data)) as image:
                image.load()

        app_times, baseline_times, decode_times = [], [], []
        for _ in range(args.repeats):  # alternate, so load on the machine hits all alike
            app_times += timed(app, 1)
            baseline_times += timed(every_pixel, 1)
            decode_times += timed(bare_decode, 1)
        ratio = median(app_times) / median(baseline_times)
        report(Figure(
            name=f"7000x7000 {fmt} to a 3x224x224 input",
            value=median(app_times), unit="s",
            baseline=f"every pixel decoded and converted {median(baseline_times):.2f} s "
                     f"(Pillow's bare full decode {median(decode_times):.2f} s)",
            target=f"<= {TARGET_RATIO:.1f} x baseline", passed=ratio <= TARGET_RATIO, ratio=ratio,
        ))
    print(f"peak memory (VmHWM, test pictures included): {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
