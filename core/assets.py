"""Where the files the app ships with live, so no module has to know another module's paths."""
from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_CHECKPOINT = ASSETS / "models" / "lenet_mnist.pt"
MNIST_ASSET = ASSETS / "mnist" / "mnist_5k.npz"
