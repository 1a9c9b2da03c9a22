"""Every file a user might open, drop or paste, and every checkpoint they might load, through the real window.

A broken file must leave the app exactly as it was (same input, same model) with a message naming
the file; an unusual but valid image must become the input; a checkpoint carrying code must never run it.
"""
from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QByteArray, QMimeData, Qt, QUrl
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog

from core.architecture import PRESETS, build_model, parse
from core.checkpoint import Checkpoint, save_checkpoint
from core.data import mnist_subset_raw
from core.preprocess import MNIST_NORMALIZATION
from tests.gui.user_actions import drop_file, settle

HUGE_SIDE = 20_000


# ----------------------------------------------------------------------------- image files


def png_of_zeros(width: int, height: int) -> bytes:
    """A complete, valid gray PNG of any size, compressed row block by row block so it never sits in memory."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    compressor = zlib.compressobj(6)
    rows_per_block = 500
    block = b"\0" * ((width + 1) * rows_per_block)
    parts = [compressor.compress(block) for _ in range(height // rows_per_block)]
    parts.append(compressor.compress(b"\0" * ((width + 1) * (height % rows_per_block))))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def digit(label: int) -> np.ndarray:
    """A real MNIST test digit as dark ink on white, 4x larger, like a scan a student would open."""
    images, labels = mnist_subset_raw("test")
    ink = images[int(np.flatnonzero(labels == label)[0])]
    return np.kron(255 - ink, np.ones((4, 4), np.uint8))


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def good_png() -> bytes:
    return encoded(Image.fromarray(digit(3)), "PNG")


def good_jpeg() -> bytes:
    return encoded(Image.fromarray(digit(3)), "JPEG", quality=90)


BROKEN_IMAGES: dict[str, Callable[[], bytes]] = {
    "empty.png": lambda: b"",
    "truncated.png": lambda: good_png()[: len(good_png()) // 2],
    "truncated.jpg": lambda: good_jpeg()[: len(good_jpeg()) // 2],
    "random.png": lambda: np.random.default_rng(1).bytes(3000),
    "random.jpg": lambda: np.random.default_rng(2).bytes(3000),
    "notes.txt": lambda: b"my homework: draw a 7 and see what conv1 does\n" * 20,
    "notes.png": lambda: b"this is text, saved with an image extension\n",
}

VALID_ODD_IMAGES: dict[str, Callable[[], bytes]] = {
    "three_16bit.png": lambda: encoded(Image.fromarray(digit(3).astype(np.uint16) * 257), "PNG"),
    "three_palette.png": lambda: encoded(Image.fromarray(digit(3)).convert("RGB").quantize(colors=16), "PNG"),
    "three_cmyk.jpg": lambda: encoded(Image.fromarray(digit(3)).convert("CMYK"), "JPEG", quality=95),
    "three_then_seven.gif": lambda: encoded(
        Image.fromarray(digit(3)), "GIF", save_all=True, append_images=[Image.fromarray(digit(7))], duration=100
    ),
}


@pytest.fixture(scope="module")
def huge_image(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("huge") / "huge_20000x20000.png"
    path.write_bytes(png_of_zeros(HUGE_SIDE, HUGE_SIDE))
    return path


def broken_file(kind: str, tmp_path: Path, huge_image: Path) -> Path:
    if kind == "huge_20000x20000.png":
        return huge_image
    if kind == "a_folder":
        folder = tmp_path / "a_folder"
        folder.mkdir()
        (folder / "inside.png").write_bytes(good_png())
        return folder
    path = tmp_path / kind
    path.write_bytes(BROKEN_IMAGES[kind]())
    return path


BROKEN_KINDS = [*BROKEN_IMAGES, "huge_20000x20000.png", "a_folder"]


# ----------------------------------------------------------------------------- user routes


def open_with_ctrl_o(window, path: Path, monkeypatch) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *args, **kwargs: (str(path), "")))
    QTest.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    settle(window)


def paste_url_with_ctrl_v(window, path: Path, monkeypatch) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    QApplication.clipboard().setMimeData(mime)
    QTest.keyClick(window, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    settle(window)


def drop(window, path: Path, monkeypatch) -> None:
    drop_file(window, path)


ROUTES = {"open": open_with_ctrl_o, "drop": drop, "paste": paste_url_with_ctrl_v}


class Before:
    """What the user sees before a bad file arrives: all of it must still be there after."""

    def __init__(self, window) -> None:
        self.input = window.state.session.input.copy()
        self.probabilities = window.current_probabilities().copy()
        self.caption = window.input_view.caption.text()
        self.model = window.state.session.model

    def assert_kept(self, window) -> None:
        np.testing.assert_array_equal(window.state.session.input, self.input)
        np.testing.assert_array_equal(window.current_probabilities(), self.probabilities)
        assert window.input_view.caption.text() == self.caption
        assert window.state.session.model is self.model


@pytest.fixture
def shown(window):
    window.state.show_sample(5)
    window.activateWindow()
    return window


# ----------------------------------------------------------------------------- images


@pytest.mark.parametrize("kind", BROKEN_KINDS)
def test_broken_image_gives_a_message_naming_it_and_keeps_the_input(shown, tmp_path, huge_image, monkeypatch, kind):
    path = broken_file(kind, tmp_path, huge_image)
    before = Before(shown)
    for route, deliver in ROUTES.items():
        shown.clear_message()
        deliver(shown, path, monkeypatch)
        assert path.name in shown.last_message(), route
        assert path.name in shown.error_text(), route
        before.assert_kept(shown)
    QTest.keyClick(shown, Qt.Key.Key_Right)  # the app still responds
    assert shown.current_layer_name() == "relu1"


def test_the_messages_say_what_is_wrong(shown, tmp_path, huge_image):
    expected = {
        "empty.png": "empty",
        "truncated.png": "damaged or truncated",
        "random.jpg": "not a readable image",
        "huge_20000x20000.png": "too large",
        "a_folder": "folder",
    }
    for kind, words in expected.items():
        shown.files.load_image_file(str(broken_file(kind, tmp_path, huge_image)))
        settle(shown)
        assert words in shown.last_message(), kind
        assert "Traceback" not in shown.last_message()


@pytest.mark.parametrize("kind", VALID_ODD_IMAGES)
def test_unusual_but_valid_image_becomes_the_input(shown, tmp_path, monkeypatch, kind):
    path = tmp_path / kind
    path.write_bytes(VALID_ODD_IMAGES[kind]())
    for route, deliver in ROUTES.items():
        shown.state.show_sample(5)
        before = shown.state.session.input.copy()
        deliver(shown, path, monkeypatch)
        assert shown.input_view.caption.text() == kind, route
        assert shown.state.session.input.shape == (1, 28, 28) and np.isfinite(shown.state.session.input).all()
        assert not np.array_equal(shown.state.session.input, before), route
        assert int(np.argmax(shown.current_probabilities())) == 3, route  # the GIF's first frame, not its 7


def test_one_pixel_image_becomes_the_input(shown, tmp_path, monkeypatch):
    path = tmp_path / "dot.png"
    Image.new("L", (1, 1), 200).save(path)
    for route, deliver in ROUTES.items():
        shown.state.show_sample(5)
        deliver(shown, path, monkeypatch)
        assert shown.input_view.caption.text() == "dot.png", route
        x = shown.state.session.input
        assert x.shape == (1, 28, 28) and np.isfinite(x).all(), route
        probabilities = shown.current_probabilities()
        assert np.isfinite(probabilities).all() and abs(probabilities.sum() - 1) < 1e-5


@pytest.mark.parametrize("kind", VALID_ODD_IMAGES)
def test_pasted_image_pixels_of_every_odd_format_become_the_input(shown, kind):
    """An image copied in another program arrives as pixels, decoded by Qt, not as a file."""
    image = QImage.fromData(VALID_ODD_IMAGES[kind]())
    assert not image.isNull()
    QApplication.clipboard().setImage(image)
    QTest.keyClick(shown, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    settle(shown)
    assert shown.input_view.caption.text() == "pasted image"
    assert int(np.argmax(shown.current_probabilities())) == 3


@pytest.mark.parametrize(
    "fill",
    [
        lambda mime: mime.setData("image/png", QByteArray(np.random.default_rng(3).bytes(500))),
        lambda mime: mime.setText("not an image, just words"),
        lambda mime: None,
    ],
    ids=["undecodable-bytes", "text", "nothing"],
)
def test_pasting_a_clipboard_without_an_image_says_so_and_keeps_the_input(shown, fill):
    mime = QMimeData()
    fill(mime)
    QApplication.clipboard().setMimeData(mime)
    before = Before(shown)
    QTest.keyClick(shown, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    settle(shown)
    assert "clipboard holds no image" in shown.last_message()
    assert shown.error_text()
    before.assert_kept(shown)


def test_dropping_image_data_that_does_not_decode_gives_a_message(shown, qtbot):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    mime = QMimeData()
    mime.setImageData(QImage())
    before = Before(shown)
    centre = QPoint(shown.width() // 2, shown.height() // 2)
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(centre, *args)
    QApplication.sendEvent(shown, enter)
    with qtbot.captureExceptions() as exceptions:
        QApplication.sendEvent(shown, QDropEvent(QPointF(centre), *args))
    assert not exceptions, exceptions
    assert shown.error_text()
    before.assert_kept(shown)


# ----------------------------------------------------------------------------- checkpoints


class RunsCode:
    """Unpickling this calls open(marker, "w"): the marker file appears only if the pickle's code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def lenet_checkpoint_bytes(tmp_path: Path, architecture_text: str) -> bytes:
    """A well-formed LeNet checkpoint file whose stored architecture text is `architecture_text`."""
    torch.manual_seed(5)
    model = build_model(parse(PRESETS["lenet"]))
    checkpoint = Checkpoint(
        architecture=parse(architecture_text),
        state=model.state_dict(),
        classes=tuple(str(i) for i in range(10)),
        normalization=MNIST_NORMALIZATION,
    )
    path = tmp_path / "made.pt"
    save_checkpoint(path, checkpoint)
    return path.read_bytes()


def bad_checkpoint(kind: str, tmp_path: Path) -> tuple[Path, str]:
    """The file and the words its message must contain."""
    path = tmp_path / f"{kind}.pt"
    if kind == "evil":
        torch.save({"format": "convscope-checkpoint", "version": 1, "payload": RunsCode(str(tmp_path / "pwned"))}, path)
        return path, "could run code"
    if kind == "other_architecture":
        path.write_bytes(lenet_checkpoint_bytes(tmp_path, PRESETS["lenet"].replace("CONV(16,5)", "CONV(12,5)")))
        return path, "does not fit this architecture"
    if kind == "other_program":
        torch.save({"model": build_model(parse(PRESETS["lenet"])).state_dict(), "epoch": 3}, path)
        return path, "another program"
    if kind == "truncated":
        data = lenet_checkpoint_bytes(tmp_path, PRESETS["lenet"])
        path.write_bytes(data[: len(data) * 2 // 3])
        return path, "truncated or corrupt"
    if kind == "empty":
        path.write_bytes(b"")
        return path, "empty"
    raise AssertionError(kind)


def open_checkpoint_with_ctrl_shift_o(window, path: Path, monkeypatch) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *args, **kwargs: (str(path), "")))
    QTest.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    settle(window)


CHECKPOINT_ROUTES = {"menu": open_checkpoint_with_ctrl_shift_o, "drop": drop}


@pytest.mark.parametrize("kind", ["evil", "other_architecture", "other_program", "truncated", "empty"])
def test_bad_checkpoint_gives_a_message_and_the_model_in_use_stays(shown, tmp_path, monkeypatch, kind):
    path, words = bad_checkpoint(kind, tmp_path)
    weights = shown.state.session.weights()
    layers = [(row.name, row.kind, row.output_shape) for row in shown.state.session.layers]
    before = Before(shown)
    for route, deliver in CHECKPOINT_ROUTES.items():
        shown.clear_message()
        deliver(shown, path, monkeypatch)
        assert not (tmp_path / "pwned").exists(), route
        message = shown.last_message()
        assert path.name in message and words in message, route
        assert "\n" not in message
        assert shown.error_text(), route
        before.assert_kept(shown)
        assert [(row.name, row.kind, row.output_shape) for row in shown.state.session.layers] == layers
        for name, array in shown.state.session.weights().items():
            np.testing.assert_array_equal(array, weights[name])


def test_a_good_checkpoint_after_a_refused_one_still_loads(shown, tmp_path):
    evil, _ = bad_checkpoint("evil", tmp_path)
    shown.files.load_checkpoint_file(str(evil))
    settle(shown)
    assert "evil" in shown.error_text()
    good = tmp_path / "tiny.pt"
    torch.manual_seed(9)
    architecture = parse(PRESETS["tinyvgg"])
    save_checkpoint(
        good,
        Checkpoint(architecture, build_model(architecture).state_dict(), tuple("0123456789"), MNIST_NORMALIZATION),
    )
    shown.files.load_checkpoint_file(str(good))
    settle(shown)
    assert shown.state.session.architecture == architecture
    assert not (tmp_path / "pwned").exists()
