"""What a channel looks for: an input synthesised by gradient ascent on the channel's mean activation.

Plain pixel ascent gives high-frequency noise that excites a unit without meaning anything. As in
Lucid/Lucent (Olah et al., "Feature Visualization", Distill 2017) the image is parameterised in
a decorrelated space instead: a Fourier spectrum scaled by 1/frequency (so every frequency is
equally easy to change and low ones dominate), RGB colours decorrelated with ImageNet's colour
statistics, and a sigmoid that keeps every pixel inside the range real data occupies. Each step
sees the image shifted by a random few pixels (jitter), so only patterns that excite the channel
wherever they sit survive; a small total-variation penalty removes what is left of the speckle.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from core.insight.model_input import InsightError, eval_mode, input_kind, layer_named
from core.preprocess import Normalization
from core.receptive_field import first_tensor

DEFAULT_STEPS = 128
DEFAULT_VALUE_RANGE = (-3.0, 3.0)
"""Without a normalisation to go by: three standard deviations either side of standardised data."""

TV_WEIGHT = 0.05
"""Total-variation penalty per unit of mean absolute neighbour difference, in normalised units."""

# Lucid's square root of ImageNet's RGB colour covariance (columns normalised to length <= 1).
_COLOUR_CORRELATION = np.asarray([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
_COLOUR_CORRELATION = _COLOUR_CORRELATION / np.max(np.linalg.norm(_COLOUR_CORRELATION, axis=0))


class _Reached(Exception):
    """Stops the forward pass once the wanted layer has run; later layers are not needed."""

    def __init__(self, output: torch.Tensor) -> None:
        super().__init__()
        self.output = output


def value_range_of(normalization: Normalization) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (lowest, highest) model input that a real [0, 1] pixel can become."""
    low = tuple((0.0 - m) / s for m, s in zip(normalization.mean, normalization.std))
    high = tuple((1.0 - m) / s for m, s in zip(normalization.mean, normalization.std))
    return low, high


def visualize_channel(
    model: nn.Module,
    layer: str,
    channel: int,
    input_shape: tuple[int, int, int],
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    *,
    value_range: tuple[float | Sequence[float], float | Sequence[float]] | None = None,
    unit: tuple[int, int] | None = None,
    lr: float = 0.05,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """An input of `input_shape`, in the model's normalised input space, that excites `channel` of
    `layer`: its mean over the map (Lucid's channel objective, which gives textures), or with
    `unit` = (row, col) that one unit of the map (a single pattern inside its receptive field,
    often easier to read on small inputs). For a flat layer it is unit `channel`, e.g. class
    `channel`'s logit when `layer` is the last layer.

    `value_range` is (low, high), numbers or one per channel (see `value_range_of`); every pixel
    stays strictly inside it. `progress(done, steps)` is called after each step;
    `should_stop()` is asked before each step and, when true, the image reached so far is returned.
    The model is copied when the call starts, so the caller may go on using (and training) it from
    another thread; nothing of the caller's model is changed.
    """
    channels, height, width = _checked_shape(input_shape)
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise InsightError(f"steps must be a whole number of at least 0, got {steps!r}")
    low, high = _range_tensors(value_range, channels)
    working = copy.deepcopy(model)
    target = layer_named(working, layer)
    for parameter in working.parameters():
        parameter.requires_grad_(False)
    dtype, device = input_kind(working)
    generator = torch.Generator().manual_seed(int(seed))
    image = _FourierImage(channels, height, width, generator)
    optimizer = _Adam(image.spectrum, lr)
    jitter = max(1, round(min(height, width) / 16))

    def stop_at_layer(_module: nn.Module, _inputs: tuple, output: object) -> None:
        raise _Reached(first_tensor(output))

    handle = target.register_forward_hook(stop_at_layer)
    try:
        with eval_mode(working), torch.enable_grad():
            _check_unit(working, layer, channel, unit, low, high, image, dtype, device)
            for step in range(int(steps)):
                if should_stop is not None and should_stop():
                    break
                pixels = image(low, high)
                dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
                shifted = torch.roll(pixels, shifts=(dy, dx), dims=(-2, -1))
                activation = _objective(_run(working, shifted.to(dtype=dtype, device=device)), channel, unit)
                loss = -activation + TV_WEIGHT * _total_variation(pixels)
                (gradient,) = torch.autograd.grad(loss, image.spectrum)
                optimizer.step(gradient)
                if progress is not None:
                    progress(step + 1, int(steps))
    finally:
        handle.remove()
    with torch.no_grad():
        return image(low, high)[0].to(torch.float32).numpy().copy()


class _FourierImage(nn.Module):
    """Lucent's fft_image + to_valid_rgb: a 1/f-scaled spectrum, decorrelated colour, then a sigmoid."""

    def __init__(self, channels: int, height: int, width: int, generator: torch.Generator) -> None:
        super().__init__()
        frequencies = np.sqrt(np.fft.fftfreq(height)[:, None] ** 2 + np.fft.rfftfreq(width)[None, :] ** 2)
        scale = 1.0 / np.maximum(frequencies, 1.0 / max(height, width))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32)[None, None, :, :, None])
        self.spectrum = nn.Parameter(0.01 * torch.randn((1, channels, *frequencies.shape, 2), generator=generator))
        self.size = (height, width)
        self.colour = torch.tensor(_COLOUR_CORRELATION, dtype=torch.float32) if channels == 3 else None

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.scale * self.spectrum)
        image = torch.fft.irfftn(spectrum, s=self.size, norm="ortho") / 4.0
        if self.colour is not None:
            image = torch.einsum("bchw,dc->bdhw", image, self.colour)
        return low + (high - low) * torch.sigmoid(image)


class _Adam:
    """Adam (Kingma & Ba 2015) on one tensor. torch.optim's first use imports torch._dynamo, which
    takes seconds, a stall the first visualisation in the window should not have."""

    def __init__(self, parameter: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.parameter, self.lr, self.betas, self.eps = parameter, lr, betas, eps
        self.mean = torch.zeros_like(parameter)
        self.square = torch.zeros_like(parameter)
        self.steps = 0

    @torch.no_grad()
    def step(self, gradient: torch.Tensor) -> None:
        beta1, beta2 = self.betas
        self.steps += 1
        self.mean.mul_(beta1).add_(gradient, alpha=1 - beta1)
        self.square.mul_(beta2).addcmul_(gradient, gradient, value=1 - beta2)
        corrected = (self.square / (1 - beta2**self.steps)).sqrt_().add_(self.eps)
        self.parameter.addcdiv_(self.mean, corrected, value=-self.lr / (1 - beta1**self.steps))


def _checked_shape(input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    if len(input_shape) != 3 or any(not isinstance(v, (int, np.integer)) or v < 1 for v in input_shape):
        raise InsightError(f"input_shape must be three positive whole numbers (channels, height, width), got {input_shape!r}")
    return int(input_shape[0]), int(input_shape[1]), int(input_shape[2])


def _range_tensors(
    value_range: tuple[float | Sequence[float], float | Sequence[float]] | None, channels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    low, high = DEFAULT_VALUE_RANGE if value_range is None else value_range
    try:
        lows = np.broadcast_to(np.asarray(low, dtype=np.float64), (channels,))
        highs = np.broadcast_to(np.asarray(high, dtype=np.float64), (channels,))
    except ValueError:
        raise InsightError(f"value_range needs one number or {channels} per end, got {value_range!r}") from None
    if not (np.isfinite(lows).all() and np.isfinite(highs).all() and (lows < highs).all()):
        raise InsightError(f"value_range must be finite with low < high, got {value_range!r}")
    shape = (1, channels, 1, 1)
    return torch.tensor(lows, dtype=torch.float32).reshape(shape), torch.tensor(highs, dtype=torch.float32).reshape(shape)


def _run(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    try:
        model(x)
    except _Reached as reached:
        if reached.output is None:
            raise InsightError("the layer did not return a tensor") from None
        return reached.output
    raise InsightError("the layer did not run in the model's forward pass")


def _objective(output: torch.Tensor, channel: int, unit: tuple[int, int] | None) -> torch.Tensor:
    if output.dim() == 2:
        return output[0, channel]
    if unit is None:
        return output[0, channel].mean()
    return output[0, channel, unit[0], unit[1]]


def _check_unit(
    model: nn.Module,
    layer: str,
    channel: int,
    unit: tuple[int, int] | None,
    low: torch.Tensor,
    high: torch.Tensor,
    image: _FourierImage,
    dtype: torch.dtype,
    device: torch.device,
) -> None:
    """One forward before any step, so a bad layer, channel or input shape fails in one line."""
    try:
        with torch.no_grad():
            output = _run(model, image(low, high).to(dtype=dtype, device=device))
    except (RuntimeError, ValueError, TypeError) as error:
        if isinstance(error, InsightError):
            raise InsightError(f"{layer}: {error}") from None
        shape = "x".join(map(str, (low.shape[1], *image.size)))
        raise InsightError(f"the model cannot run on a {shape} input: {error}") from None
    if output.dim() not in (2, 4):
        raise InsightError(f"{layer}: an output shaped {tuple(output.shape)} has no channel to visualise")
    if not 0 <= channel < output.shape[1]:
        raise InsightError(f"{layer}: channel {channel} is outside its {output.shape[1]} channels")
    if unit is not None and output.dim() == 4:
        rows, cols = output.shape[-2:]
        if len(unit) != 2 or not (0 <= unit[0] < rows and 0 <= unit[1] < cols):
            raise InsightError(f"{layer}: unit {tuple(unit)} is outside its {rows}x{cols} map")


def _total_variation(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels[..., 1:, :] - pixels[..., :-1, :]).abs().mean() + (pixels[..., :, 1:] - pixels[..., :, :-1]).abs().mean()
