"""Models and data the insight tests share: the bundled trained LeNet with its test digits, and a
colour model written as a user would (in-place ReLU, batch norm, a residual add)."""
import pytest
import torch
from torch import nn

from core.assets import DEFAULT_CHECKPOINT
from core.checkpoint import load_checkpoint
from core.data import load_dataset


@pytest.fixture(scope="session")
def trained_lenet() -> nn.Module:
    return load_checkpoint(DEFAULT_CHECKPOINT).build().eval()


@pytest.fixture(scope="session")
def mnist_test():
    return load_dataset("mnist", "test", (1, 28, 28))


@pytest.fixture(scope="session")
def mnist_train():
    return load_dataset("mnist", "train", (1, 28, 28))


class ColourNet(nn.Module):
    """3x16x16 in, 4 classes; in-place ReLUs, which break naive hooks, and a skip connection."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.norm = nn.BatchNorm2d(8)
        self.act = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.act2 = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        y = self.act(self.norm(self.stem(x)))
        y = y + self.act2(self.conv(y))
        return self.head(self.pool(y).flatten(1))


@pytest.fixture
def colour_net() -> nn.Module:
    torch.manual_seed(0)
    return ColourNet()
