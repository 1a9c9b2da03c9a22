"""The bundled trained LeNet and MNIST test split, loaded once for all insight tests."""
from functools import lru_cache

from torch import nn

from core.assets import DEFAULT_CHECKPOINT
from core.checkpoint import load_checkpoint
from core.data import Dataset, load_dataset


def trained_lenet() -> nn.Module:
    """A fresh copy each call (cheap), so no test can disturb another's weights."""
    return load_checkpoint(DEFAULT_CHECKPOINT).build().eval()


@lru_cache(maxsize=1)
def mnist_test() -> Dataset:
    return load_dataset("mnist", "test", (1, 28, 28))
