"""What every insight computation checks first: the input, the target class, the layer, the model's mode.

All of core.insight takes a model and one input in the model's normalised space, as a (C, H, W)
numpy array or tensor, and answers in numpy; these helpers turn bad arguments into one-line
messages and run the model on its own device, in eval mode, restoring its mode afterwards.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from core.inspect import leaf_layers
from core.preprocess import Normalization


BATCH_VALUES = 1_000_000
"""Input values per batch when many inputs run at once: 64 MNIST digits, 6 images of 3x224x224."""


class InsightError(ValueError):
    """An argument an insight computation cannot use; the message names it and says why."""


def model_device(model: nn.Module) -> torch.device:
    """Where the model's weights live (CPU for a model without any)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def input_kind(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    """The dtype and device the model's floating-point parameters live in, which its input must match."""
    reference = next((p for p in model.parameters() if p.is_floating_point()), None)
    if reference is None:
        return torch.float32, torch.device("cpu")
    return reference.dtype, reference.device


def batch_of_one(model: nn.Module, x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(H, W), (C, H, W) or (1, C, H, W) -> a detached (1, C, H, W) copy in the model's dtype and device."""
    image = (x if isinstance(x, torch.Tensor) else torch.tensor(np.array(x))).detach()
    if image.dim() == 2:
        image = image[None, None]
    elif image.dim() == 3:
        image = image[None]
    if image.dim() != 4 or image.shape[0] != 1:
        raise InsightError(f"x must be one image shaped (H, W), (C, H, W) or (1, C, H, W), got {tuple(image.shape)}")
    dtype, device = input_kind(model)
    return image.to(dtype=dtype, device=device).clone()


def shape_text(shape: tuple[int, ...] | torch.Size) -> str:
    return "x".join(str(int(v)) for v in shape)


def input_array(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """One finite float32 (C, H, W) input as a numpy copy (so torch may write to it)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        array = np.array(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise InsightError(f"the input must be a (C, H, W) array of numbers, got {type(x).__name__}") from None
    if array.ndim != 3 or 0 in array.shape:
        raise InsightError(f"the input must be one (C, H, W) image, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise InsightError("the input holds NaN or infinite values")
    return array


def input_batch(model: nn.Module, x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """The input as a (1, C, H, W) float32 tensor on the model's device."""
    return torch.from_numpy(input_array(x)).unsqueeze(0).to(model_device(model))


def images_per_batch(values_per_image: int, most: int) -> int:
    """How many inputs of this size one forward may carry (at most `most`), so memory stays bounded."""
    return max(1, min(most, BATCH_VALUES // max(1, values_per_image)))


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode (dropout off, batch-norm running statistics) for the duration, then every module's own
    mode back, as if nothing happened (a model may hold a frozen block in eval mode while it trains)."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes.items():
            module.train(training)


def logits_of(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """The model's class scores as (N, classes), whatever extra dimensions its output has; N is the
    output's own batch size, which a hook may have made larger than the input's."""
    output = model(batch)
    return output.reshape(len(output) if output.dim() > 1 else 1, -1)


def checked_class(target: int, num_classes: int, what: str = "target") -> int:
    if isinstance(target, (bool, np.bool_)) or not isinstance(target, (int, np.integer)):
        raise InsightError(f"the {what} class must be a whole number, got {target!r}")
    if not 0 <= target < num_classes:
        raise InsightError(f"the {what} class {target} is out of range: this model has {num_classes} classes")
    return int(target)


def layer_named(model: nn.Module, name: str) -> nn.Module:
    """The leaf layer called `name` (as core.inspect.leaf_layers names it); a block of layers is refused."""
    modules = dict(model.named_modules())
    if name and name in modules and any(True for _ in modules[name].children()):
        raise InsightError(f"{name!r} is a block of layers, not one layer; pick one of its layers")
    layers = dict(leaf_layers(model))
    if name in layers:
        return layers[name]
    close = difflib.get_close_matches(str(name), list(layers), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; its layers are {', '.join(layers) or 'none'}"
    raise InsightError(f"the model has no layer named {name!r}{hint}")


def last_conv_name(model: nn.Module) -> str:
    """The last Conv2d in registration order: the default layer for Grad-CAM and interventions."""
    convs = [name for name, module in leaf_layers(model) if isinstance(module, nn.Conv2d)]
    if not convs:
        raise InsightError("the model has no convolutional layer")
    return convs[-1]


def black_baseline(normalization: Normalization) -> np.ndarray:
    """Each channel's normalised value of a black (zero) pixel: MNIST's background."""
    return normalization.apply(np.zeros((normalization.channels, 1, 1), np.float32)).reshape(-1)


def baseline_image(x: np.ndarray, baseline: float | np.ndarray | None) -> np.ndarray:
    """A (C, H, W) image of the baseline pixel: given per channel (or one value for all), or by
    default each channel's darkest value in `x`, which is the background of a drawn or MNIST digit
    and black for any picture with a black pixel."""
    channels = x.shape[0]
    if baseline is None:
        values = x.reshape(channels, -1).min(axis=1)
    else:
        values = np.asarray(baseline, dtype=np.float32).reshape(-1)
        if values.size == 1:
            values = np.repeat(values, channels)
        if values.size != channels or not np.isfinite(values).all():
            raise InsightError(
                f"the baseline must be one finite value or one per channel ({channels}), got {np.shape(baseline)}"
            )
    return np.broadcast_to(values.astype(np.float32).reshape(channels, 1, 1), x.shape).copy()
