"""Random image bytes and shapes: every mode and format, odd sizes, damaged data and lying headers.

load_image either gives float32 pixels in [0, 1] that image_to_input makes into a finite model input,
or raises ImageLoadError; in bounded time and memory.
"""
from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from core.image_io import DISPLAY_PIXELS, ImageLoadError, load_image
from core.preprocess import identity_normalization, image_to_input
from tests.core.fuzzing import Case, run_in_child

CASES = 600
FORMATS = {"PNG": ("1", "L", "P", "RGB", "RGBA", "LA", "I;16"), "JPEG": ("L", "RGB", "CMYK"),
           "BMP": ("1", "L", "P", "RGB"), "GIF": ("L", "P"), "TIFF": ("1", "L", "P", "RGB", "RGBA", "I", "F", "I;16", "CMYK"),
           "WEBP": ("RGB", "RGBA"), "PPM": ("L", "RGB")}


def _picture(rng: random.Random) -> bytes:
    fmt = rng.choice(list(FORMATS))
    mode = rng.choice(FORMATS[fmt])
    width, height = rng.choice([(rng.randint(1, 64), rng.randint(1, 64)), (rng.randint(1, 400), rng.randint(1, 400)),
                                (1, rng.randint(1, 5000)), (rng.randint(1, 5000), 1), (1, 1)])
    np_rng = np.random.default_rng(rng.randrange(2**32))
    pixels = np_rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).convert(mode if mode not in ("I;16",) else "I")
    if mode == "I;16":
        image = image.convert("I;16")
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def _lying_png(rng: random.Random) -> bytes:
    """A header claiming any size, with a few bytes of pixels behind it."""
    width = rng.choice([1, 7, 70_000, 2**31 - 1, rng.randint(1, 10_000)])
    height = rng.choice([1, 3, 70_000, 2**31 - 1, rng.randint(1, 10_000)])

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, rng.choice([0, 2, 3, 4, 6]), 0, 0, 0)
    body = zlib.compress(bytes(rng.randrange(256) for _ in range(rng.randint(0, 200))))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _damaged(data: bytes, rng: random.Random) -> bytes:
    mutated = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        how = rng.random()
        if how < 0.4 and mutated:
            for _ in range(rng.randint(1, 12)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        elif how < 0.7 and len(mutated) > 1:
            del mutated[rng.randrange(1, len(mutated)) :]
        else:
            at = rng.randrange(len(mutated) + 1)
            mutated[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
    return bytes(mutated)


def fuzz_images(cases: int, seed: int, _folder: str) -> Iterator[Case]:
    rng = random.Random(seed)
    for _ in range(cases):
        kind = rng.random()
        if kind < 0.45:
            data = _picture(rng)
        elif kind < 0.8:
            data = _damaged(_picture(rng), rng)
        elif kind < 0.9:
            data = _lying_png(rng)
        else:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 400)))
        max_pixels = rng.choice([None, 1, 100, 4096, DISPLAY_PIXELS])
        shape = (rng.choice([1, 3]), rng.choice([1, 8, 28, 64]), rng.choice([1, 9, 28, 64]))

        def case(data: bytes = data, max_pixels: int | None = max_pixels, shape=shape) -> str:
            try:
                pixels = load_image(data, max_pixels=max_pixels)
            except ImageLoadError as error:
                assert "\n" not in str(error)
                return "refused"
            assert pixels.dtype == np.float32 and pixels.ndim in (2, 3) and np.isfinite(pixels).all()
            assert 0.0 <= pixels.min() and pixels.max() <= 1.0
            if max_pixels is not None:
                assert pixels.shape[0] * pixels.shape[1] <= max(max_pixels, 1)
            model_input = image_to_input(pixels, shape, identity_normalization(shape[0]))
            assert model_input.shape == shape and np.isfinite(model_input).all()
            return "decoded"

        yield case


@pytest.mark.slow
def test_random_image_bytes_and_shapes_decode_or_raise_image_load_error_in_bounded_time_and_memory():
    report = run_in_child("tests.core.test_image_io_fuzz:fuzz_images", CASES, seed=13)
    assert report.cases == CASES
    assert not report.problems(), report.problems()
    assert report.outcomes["decoded"] > CASES // 4 and report.outcomes["refused"] > CASES // 10, report.outcomes
