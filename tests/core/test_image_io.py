"""load_image: every common format and mode decodes to float32 in [0, 1]; every failure is an ImageLoadError."""
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from core.image_io import DISPLAY_PIXELS, MAX_PIXELS, ImageLoadError, load_image


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def gradient(height: int = 12, width: int = 16) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width]
    return ((rows * 7 + cols * 13) % 256).astype(np.uint8)


def colour_pattern(height: int = 12, width: int = 16) -> np.ndarray:
    base = gradient(height, width)
    return np.stack([base, 255 - base, np.full_like(base, 90)], axis=-1)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims the given size, with almost no pixel data behind it."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        checksum = struct.pack(">I", zlib.crc32(kind + payload))
        return struct.pack(">I", len(payload)) + kind + payload + checksum

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixel_data = chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + pixel_data + chunk(b"IEND", b"")


def assert_valid(pixels: np.ndarray) -> None:
    assert pixels.dtype == np.float32
    assert pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)
    assert np.isfinite(pixels).all()
    assert pixels.min() >= 0.0 and pixels.max() <= 1.0


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "GIF", "TIFF", "PPM"])
def test_lossless_gray_formats_decode_exactly(tmp_path, fmt):
    expected = gradient()
    path = tmp_path / f"digit.{fmt.lower()}"
    Image.fromarray(expected).save(path, fmt)
    pixels = load_image(path)
    assert_valid(pixels)
    assert pixels.shape == expected.shape
    np.testing.assert_allclose(pixels * 255, expected, atol=1e-3)


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "WEBP"])
def test_lossless_colour_formats_keep_every_channel(tmp_path, fmt):
    expected = colour_pattern()
    path = tmp_path / f"photo.{fmt.lower()}"
    Image.fromarray(expected).save(path, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    pixels = load_image(str(path))
    assert_valid(pixels)
    np.testing.assert_allclose(pixels * 255, expected, atol=1e-3)


def test_jpeg_colour_is_close_to_the_original():
    expected = np.zeros((16, 16, 3), np.uint8)
    expected[...] = (200, 40, 90)
    pixels = load_image(encode(Image.fromarray(expected), "JPEG", quality=95))
    assert pixels.shape == (16, 16, 3)
    np.testing.assert_allclose(pixels * 255, expected, atol=4)


def test_cmyk_jpeg_becomes_rgb():
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[...] = (200, 50, 10)
    data = encode(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    pixels = load_image(data)
    assert pixels.shape == (16, 16, 3)
    np.testing.assert_allclose(pixels * 255, rgb, atol=6)


def test_colour_image_with_equal_channels_comes_back_gray():
    gray = gradient()
    pixels = load_image(encode(Image.fromarray(np.stack([gray] * 3, axis=-1)), "PNG"))
    assert pixels.shape == gray.shape
    np.testing.assert_allclose(pixels * 255, gray, atol=1e-3)


def test_sixteen_bit_png_keeps_its_precision():
    values = (np.arange(12 * 16, dtype=np.int64).reshape(12, 16) * 331) % 65536
    data = encode(Image.fromarray(values.astype(np.uint16)), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    pixels = load_image(data)
    np.testing.assert_allclose(pixels, values / 65535.0, atol=1e-6)
    assert np.abs(pixels * 255 - np.round(pixels * 255)).max() > 0.1  # finer than 8 bits


def test_palette_image_uses_its_palette_colours():
    rgb = colour_pattern()
    palette_image = Image.fromarray(rgb).quantize(colors=8)
    pixels = load_image(encode(palette_image, "PNG"))
    np.testing.assert_allclose(pixels * 255, np.asarray(palette_image.convert("RGB")), atol=1e-3)


def test_dark_drawing_on_transparent_canvas_lands_on_white():
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[4:16, 9:11] = (0, 0, 0, 255)
    pixels = load_image(encode(Image.fromarray(rgba), "PNG"))
    assert pixels.shape == (20, 20)
    assert pixels[0, 0] == 1.0 and pixels[10, 10] == 0.0


def test_light_drawing_on_transparent_canvas_lands_on_black():
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[4:16, 9:11] = (255, 255, 255, 255)
    pixels = load_image(encode(Image.fromarray(rgba), "PNG"))
    assert pixels[0, 0] == 0.0 and pixels[10, 10] == 1.0


def test_half_transparent_pixels_blend_with_the_background():
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[...] = (0, 0, 0, 128)
    pixels = load_image(encode(Image.fromarray(rgba), "PNG"))
    np.testing.assert_allclose(pixels, 1 - 128 / 255, atol=1e-6)


def test_palette_gif_with_transparent_index_is_composited():
    image = Image.new("P", (10, 10), 0)
    image.putpalette([255, 0, 0, 0, 0, 0] + [0] * 762)
    image.paste(1, (3, 3, 7, 7))
    pixels = load_image(encode(image, "GIF", transparency=0))
    assert pixels[0, 0] == 1.0 and pixels[5, 5] == 0.0


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (8, 8), colour) for colour in [(250, 250, 250), (0, 0, 0), (128, 0, 0)]]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(data)).n_frames == 3
    pixels = load_image(data)
    assert pixels.shape == (8, 8)
    assert pixels.min() > 0.95


def test_one_pixel_image():
    assert load_image(encode(Image.new("L", (1, 1), 255), "PNG")).tolist() == [[1.0]]


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: the stored 20x10 picture is shown 10 wide, 20 tall
    data = encode(Image.new("RGB", (20, 10), (10, 120, 30)), "JPEG", exif=exif)
    assert load_image(data).shape == (20, 10, 3)


def test_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match=r"nope\.png.*not found"):
        load_image(tmp_path / "nope.png")


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageLoadError, match=r"empty\.png.*empty"):
        load_image(path)


def test_empty_bytes():
    with pytest.raises(ImageLoadError, match="empty"):
        load_image(b"")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file_is_refused_not_padded(tmp_path, fmt):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ImageLoadError, match=r"cut\.(png|jpeg).*(damaged|truncated)"):
        load_image(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_random_bytes_with_an_image_extension(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(ImageLoadError, match=r"photo\.jpg.*not a readable image"):
        load_image(path)


def test_text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("these are not pixels\n" * 20)
    with pytest.raises(ImageLoadError, match=r"notes\.txt.*not a readable image"):
        load_image(path)


def test_unusable_path():
    with pytest.raises(ImageLoadError, match="cannot read file"):
        load_image("bad\0name.png")


def test_wrong_source_type():
    with pytest.raises(ImageLoadError, match="file path or bytes"):
        load_image(12345)


@pytest.mark.parametrize("side", [8000, 20000])
def test_huge_image_is_refused_from_its_header(tmp_path, side):
    assert side * side > MAX_PIXELS
    path = tmp_path / "huge.png"
    path.write_bytes(png_header_only(side, side))
    with pytest.raises(ImageLoadError, match=r"huge\.png.*too large"):
        load_image(path)


def test_image_just_under_the_limit_header_is_not_refused_for_size():
    with pytest.raises(ImageLoadError) as error:
        load_image(png_header_only(100, 100))
    assert "too large" not in str(error.value)


def fuzz_seeds() -> list[bytes]:
    gray, colour = gradient(16, 16), colour_pattern(16, 16)
    return [
        encode(Image.fromarray(gray), "PNG"),
        encode(Image.fromarray(colour), "PNG"),
        encode(Image.fromarray(colour), "JPEG", quality=80),
        encode(Image.fromarray(gray), "JPEG"),
        encode(Image.fromarray(colour).quantize(16), "GIF"),
        encode(Image.fromarray(colour), "BMP"),
        encode(Image.fromarray(gray), "TIFF"),
        encode(Image.fromarray(colour), "WEBP", lossless=True),
    ]


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    choice = rng.integers(4)
    if choice == 0:
        return rng.integers(0, 256, int(rng.integers(1, 300)), dtype=np.uint8).tobytes()
    mutated = bytearray(data)
    if choice in (1, 3):
        for position in rng.integers(0, len(mutated), int(rng.integers(1, 12))):
            mutated[position] = int(rng.integers(256))
    if choice in (2, 3):
        mutated = mutated[: int(rng.integers(1, len(mutated)))]
    return bytes(mutated)


@pytest.mark.filterwarnings("ignore:.*(EXIF|[Tt]ag|[Mm]etadata).*:UserWarning")
def test_fuzzed_files_decode_or_raise_image_load_error():
    rng = np.random.default_rng(20240601)
    seeds = fuzz_seeds()
    outcomes = {"decoded": 0, "refused": 0}
    for case in range(600):
        data = mutate(seeds[case % len(seeds)], rng)
        try:
            pixels = load_image(data)
        except ImageLoadError:
            outcomes["refused"] += 1
            continue
        assert_valid(pixels)
        outcomes["decoded"] += 1
    assert outcomes["decoded"] > 0 and outcomes["refused"] > 0
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# ----------------------------------------------------------------------------- large images (issue 13)


@pytest.mark.parametrize("width, height", [(50_000_000, 1), (1, 50_000_000), (70_000, 2)])
def test_a_strip_image_is_refused_from_its_header(width, height):
    with pytest.raises(ImageLoadError, match=rf"image is too long \({width}x{height} pixels; sides longer than 65,535"):
        load_image(png_header_only(width, height))


def test_a_large_image_comes_back_scaled_to_the_display_size_keeping_its_aspect():
    data = encode(Image.fromarray(np.tile(colour_pattern(30, 40), (40, 40, 1))), "PNG")  # 1600x1200
    pixels = load_image(data, max_pixels=120_000)
    assert pixels.shape == (300, 400, 3)
    assert_valid(pixels)
    assert load_image(data, max_pixels=None).shape == (1200, 1600, 3)
    assert 1600 * 1200 > DISPLAY_PIXELS > 120_000


def test_a_large_jpeg_is_decoded_at_a_fraction_of_its_size():
    """JPEG's draft mode decodes at 1/2..1/8 scale directly; the result is averaged, not sampled."""
    big = Image.new("RGB", (4000, 3000), (200, 40, 40))
    pixels = load_image(encode(big, "JPEG", quality=95), max_pixels=200_000)
    assert pixels.shape[0] * pixels.shape[1] <= 200_000
    assert pixels.shape[1] / pixels.shape[0] == pytest.approx(4 / 3, rel=0.01)
    np.testing.assert_allclose(pixels[10, 10], np.array([200, 40, 40]) / 255, atol=0.03)


@pytest.mark.parametrize("mode", ["1", "P", "I;16", "I", "F", "LA", "RGBA"])
def test_every_mode_scales_down(mode):
    image = Image.fromarray(gradient(120, 160)).convert(mode if mode != "I;16" else "I").convert(mode)
    pixels = load_image(encode(image, "TIFF" if mode in ("I;16", "I", "F") else "PNG"), max_pixels=1200)
    assert pixels.shape[:2] == (30, 40)
    assert_valid(pixels)


def test_scaling_keeps_transparency_composited_as_before():
    drawing = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    drawing.paste((0, 0, 0, 255), (100, 100, 300, 300))  # a black square on a transparent canvas
    pixels = load_image(encode(drawing, "PNG"), max_pixels=10_000)
    assert pixels.shape == (100, 100)
    assert pixels[5, 5] == pytest.approx(1.0) and pixels[50, 50] == pytest.approx(0.0)


def test_the_exif_orientation_survives_scaling():
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.new("RGB", (400, 200), (10, 120, 30)), "JPEG", exif=exif)
    assert load_image(data, max_pixels=20_000).shape[:2] == (200, 100)


def test_decoding_over_the_memory_budget_is_refused_from_the_header(monkeypatch):
    monkeypatch.setenv("CONVSCOPE_MEMORY_BUDGET", "16MB")
    with pytest.raises(ImageLoadError, match=r"decoding 4000x3000 pixels needs 46 MB; the budget is 16 MB"):
        load_image(png_header_only(4000, 3000))
