"""Datasets the app can train on, all delivered model-ready: the bundled MNIST subset, generated
X/O images, a user's folder of images, or the standard MNIST IDX files.

Everything here works offline; `download_mnist` is the one optional exception and nothing in the
app or the tests calls it.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.assets import MNIST_ASSET
from core.budget import memory_budget, over_budget
from core.image_io import ImageLoadError, load_image
from core.preprocess import (
    MNIST_NORMALIZATION,
    Normalization,
    check_input_shape,
    identity_normalization,
    image_to_input,
)

MNIST_SHAPE = (1, 28, 28)
DIGIT_CLASSES = tuple(str(digit) for digit in range(10))
SPLITS = ("train", "test")
TEST_FRACTION = 0.2
SPLIT_SEED = 20240229
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_IDX_MAGIC = {"images": 0x00000803, "labels": 0x00000801}
_IDX_PREFIX = {"train": "train", "test": "t10k"}
_IDX_MAX_BYTES = 2**31
_IDX_CHUNK = 16 * 2**20
MAX_FOLDER_DEPTH = 32
"""Subfolders of a class folder are searched this deep; deeper ones are reported as skipped."""
MAX_FOLDER_FILES = 1_000_000
SKIPPED_SHOWN = 3
_BYTES_PER_MODEL_VALUE = 3 * 4
"""float32, and a data set is held about three times while it is made (decoded, stacked, normalised)."""


class DataError(ValueError):
    """A dataset could not be loaded or built; the message says which file or folder and why."""


@dataclass(frozen=True)
class SkippedFile:
    """A file (or a folder too deep to search) left out of a data set, and why."""

    path: str
    reason: str
    folder: bool = False

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True, eq=False)
class Dataset:
    """Model-ready examples. The arrays are made read-only so cached datasets can be shared safely.

    `skipped` lists the files of an image folder that could not be read, with the reason;
    `skipped_summary()` says it in one line for the CLI and the window.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    normalization: Normalization
    skipped: tuple[SkippedFile, ...] = ()

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.float32:
            raise DataError(
                f"{self.name}: images must be float32 (N, C, H, W), got {self.images.dtype} {self.images.shape}"
            )
        if self.labels.shape != (len(self.images),) or self.labels.dtype != np.int64:
            raise DataError(
                f"{self.name}: labels must be int64 with one per image, got {self.labels.dtype} {self.labels.shape}"
            )
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise DataError(f"{self.name}: labels must index the {len(self.classes)} classes")
        if self.images.shape[1] != self.normalization.channels:
            raise DataError(
                f"{self.name}: {self.images.shape[1]} image channels but a "
                f"{self.normalization.channels}-channel normalization"
            )
        self.images.setflags(write=False)
        self.labels.setflags(write=False)

    def __len__(self) -> int:
        return len(self.labels)

    def skipped_summary(self, shown: int = SKIPPED_SHOWN) -> str:
        """'' when nothing was skipped, else one line: the count and the first few files with the reason."""
        if not self.skipped:
            return ""
        count = len(self.skipped)
        folders = sum(item.folder for item in self.skipped)
        noun = "folder" if folders == count else "file" if not folders else "file and folder"
        plural = {"folder": "folders", "file": "files", "file and folder": "files and folders"}[noun] if count > 1 else noun
        first = "; ".join(f"{item.path} ({item.reason})" for item in self.skipped[:shown])
        more = f"; and {count - shown} more" if count > shown else ""
        return f"{self.name}: skipped {count} {plural}: {first}{more}"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        channels, height, width = self.images.shape[1:]
        return int(channels), int(height), int(width)


def load_dataset(
    source: str, split: str = "train", input_shape: tuple[int, int, int] = MNIST_SHAPE
) -> Dataset:
    """Pick a dataset by name ("mnist", "xo") or folder path, made to fit `input_shape`.

    A folder holding the MNIST IDX files is read as such; any other folder as one subfolder per
    class, of which a fixed, stratified 20% is the "test" split and the rest "train" (the
    normalization is measured on the train part and used for both).
    """
    _check_split(split)
    shape = _checked_shape(input_shape)
    if source == "mnist":
        return load_mnist_subset(split) if shape == MNIST_SHAPE else _mnist_subset_fitted(split, shape)
    if source == "xo":
        return _xo_split(split, shape)
    folder = Path(source)
    if not folder.exists():
        raise DataError(f"unknown dataset {source!r}: use 'mnist', 'xo' or the path of a folder")
    if any(_idx_file(folder, either, "images") is not None for either in SPLITS):
        pixels, labels = _idx_arrays(folder, split)
        if (1, *pixels.shape[1:]) == shape:
            return _idx_dataset(folder, split, pixels, labels)
        return _fit_digits(pixels, labels, shape, _idx_name(folder, split))
    return _image_folder_split(folder, split, shape)


def load_mnist_subset(split: str = "train") -> Dataset:
    """4,000 train / 1,000 test real MNIST digits bundled with the app; cached after the first call."""
    _check_split(split)
    return _mnist_subset(split)


def mnist_subset_raw(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The same digits as `load_mnist_subset(split)`, as uint8 (N, 28, 28) for showing the originals."""
    _check_split(split)
    return _mnist_raw(split)


def make_xo(n: int = 1000, size: int = 9, seed: int = 0) -> Dataset:
    """The classic "X's and O's" images: -1 background, +1 strokes, balanced, with random shift,
    scale, rotation and a few flipped pixels; the same seed always gives identical arrays."""
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise DataError(f"make_xo needs at least 2 images (one per class), got n={n!r}")
    if not isinstance(size, (int, np.integer)) or size < 5:
        raise DataError(f"make_xo needs images of at least 5x5 pixels, got size={size!r}")
    _check_dataset_budget(f"{n:,} X/O images", n, (1, int(size), int(size)))
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 2).astype(np.int64)
    images = np.stack([_xo_image(int(label), int(size), rng) for label in labels])[:, np.newaxis]
    return Dataset(f"X/O {size}x{size} (seed {seed})", images, labels, ("X", "O"), identity_normalization(1))


def load_image_folder(
    path: str | os.PathLike, input_shape: tuple[int, int, int], normalization: Normalization | None = None
) -> Dataset:
    """Every image of a one-subfolder-per-class folder, made into the model's input.

    With `normalization` None, the per-channel mean and std are measured on these images.
    Unreadable files are skipped and listed in `Dataset.skipped`; a class left with no image is
    an error.
    """
    shape = _checked_shape(input_shape)
    images, labels, classes, skipped = _read_image_folder(Path(path), shape)
    chosen = _measure_normalization(images) if normalization is None else normalization
    return Dataset(Path(path).name, _normalize(images, chosen), labels, classes, chosen, skipped)


def load_mnist_idx(folder: str | os.PathLike, split: str = "train") -> Dataset:
    """The standard MNIST IDX files (train-*/t10k-*, gzipped or not) of `folder`, with MNIST's normalization."""
    _check_split(split)
    pixels, labels = _idx_arrays(Path(folder), split)
    return _idx_dataset(Path(folder), split, pixels, labels)


def download_mnist(folder: str | os.PathLike) -> None:
    """Fetch the four official MNIST .gz files into `folder` (internet needed), checking their MD5."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    for filename, md5 in MNIST_MD5.items():
        destination = target / filename
        if destination.is_file() and _md5(destination) == md5:
            continue
        _download_verified(filename, md5, destination)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: use 'train' or 'test'")


def _checked_shape(input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    try:
        return check_input_shape(input_shape)
    except ValueError as error:
        raise DataError(str(error)) from error


@lru_cache(maxsize=1)
def _mnist_asset() -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(MNIST_ASSET) as archive:
            images, labels = archive["images"], archive["labels"]
    except (OSError, KeyError, ValueError) as error:
        raise DataError(f"{MNIST_ASSET}: bundled MNIST file is missing or damaged ({error})") from error
    return images, labels.astype(np.int64)


@lru_cache(maxsize=None)
def _mnist_raw(split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split in a fixed shuffled order: the file is sorted by class, and any prefix of a split
    (the first samples a user browses, a quick evaluation) should hold every digit."""
    images, labels = _mnist_asset()
    in_test = _stratified_test_mask(labels)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
    chosen = order[in_test[order] == (split == "test")]
    raw_images, raw_labels = images[chosen], labels[chosen]
    raw_images.setflags(write=False)
    raw_labels.setflags(write=False)
    return raw_images, raw_labels


@lru_cache(maxsize=None)
def _mnist_subset(split: str) -> Dataset:
    pixels, labels = _mnist_raw(split)
    images = _normalize((pixels.astype(np.float32) / 255.0)[:, np.newaxis], MNIST_NORMALIZATION)
    return Dataset(f"MNIST subset ({split})", images, labels.copy(), DIGIT_CLASSES, MNIST_NORMALIZATION)


@lru_cache(maxsize=8)
def _mnist_subset_fitted(split: str, shape: tuple[int, int, int]) -> Dataset:
    pixels, labels = _mnist_raw(split)
    return _fit_digits(pixels, labels, shape, f"MNIST subset ({split})")


def _fit_digits(pixels: np.ndarray, labels: np.ndarray, shape: tuple[int, int, int], name: str) -> Dataset:
    """Bring uint8 gray digits to another model input shape (e.g. 1x32x32 for LeNet-5, or RGB)."""
    _check_dataset_budget(f"{name}: {len(pixels):,} images", len(pixels), shape)
    normalization = Normalization(MNIST_NORMALIZATION.mean * shape[0], MNIST_NORMALIZATION.std * shape[0])
    images = np.stack([image_to_input(digit / np.float32(255.0), shape, normalization) for digit in pixels])
    name = f"{name} as {shape[0]}x{shape[1]}x{shape[2]}"
    return Dataset(name, images, labels.astype(np.int64), DIGIT_CLASSES, normalization)


def _stratified_test_mask(labels: np.ndarray) -> np.ndarray:
    """A fixed TEST_FRACTION of each class (at least one where a class has two or more examples)."""
    rng = np.random.default_rng(SPLIT_SEED)
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = round(len(members) * TEST_FRACTION)
        count = max(count, 1) if len(members) >= 2 else 0
        mask[rng.permutation(members)[:count]] = True
    return mask


def _xo_split(split: str, shape: tuple[int, int, int]) -> Dataset:
    channels, height, width = shape
    if channels != 1 or height != width:
        raise DataError(f"the X/O images are square and single-channel; this model expects {channels}x{height}x{width}")
    return make_xo(2000, size=height, seed=0) if split == "train" else make_xo(500, size=height, seed=1)


def _xo_image(label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw one X (label 0) or O (label 1) by testing each pixel centre against the transformed shape."""
    scale = rng.uniform(0.8, 1.1)
    angle = rng.uniform(-np.pi / 12, np.pi / 12)
    centre = (size - 1) / 2
    extent = centre - 1
    half_width = max(0.55, size / 18)
    room = max(0.5, centre + 0.5 - scale * (extent + half_width))
    shift_y, shift_x = rng.uniform(-room, room, size=2)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    u, v = (rows - centre - shift_y) / scale, (cols - centre - shift_x) / scale
    p = np.cos(angle) * u + np.sin(angle) * v
    q = -np.sin(angle) * u + np.cos(angle) * v
    if label == 0:
        on_diagonal = np.minimum(np.abs(p - q), np.abs(p + q)) / np.sqrt(2) <= half_width
        stroke = on_diagonal & (np.maximum(np.abs(p), np.abs(q)) <= extent + half_width / 2)
    else:
        stroke = np.abs(np.hypot(p, q) - extent) <= half_width
    flipped = stroke ^ (rng.random((size, size)) < 0.02)
    return np.where(flipped, 1.0, -1.0).astype(np.float32)


def _read_image_folder(
    folder: Path, shape: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[SkippedFile, ...]]:
    """Images in [0, 1] made to `shape` (not yet normalized), labels, class names and skipped files."""
    if not folder.exists():
        raise DataError(f"{folder}: folder not found")
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (expected one subfolder of images per class)")
    try:
        classes = tuple(
            sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))
        )
    except OSError as error:
        raise DataError(f"{folder}: cannot list the folder ({error.strerror or error})") from error
    if not classes:
        raise DataError(f"{folder}: no class subfolders; put the images of each class in a subfolder named after it")
    if len(classes) < 2:
        raise DataError(f"{folder}: only one class ({classes[0]!r}); a classifier needs at least two class subfolders")
    skipped: list[SkippedFile] = []
    files_of = {name: _image_files(folder, folder / name, skipped) for name in classes}
    count = sum(len(files) for files in files_of.values())
    _check_dataset_budget(f"{folder}: its {count:,} images", count, shape)
    as_is = identity_normalization(shape[0])
    # Decode no more pixels than the input needs (but enough for the MNIST recipe to crop the ink first).
    max_pixels = max(512 * 512, 16 * shape[1] * shape[2])
    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        files = files_of[name]
        read_before = len(images)
        for file in files:
            try:
                images.append(image_to_input(load_image(file, max_pixels=max_pixels), shape, as_is))
            except (ImageLoadError, ValueError) as error:
                skipped.append(SkippedFile(_relative(folder, file), _reason(error, file)))
                continue
            labels.append(label)
        if len(images) == read_before:
            problem = f"none of its {len(files)} image files could be read" if files else "no image files"
            looked_for = ", ".join(sorted(IMAGE_SUFFIXES))
            raise DataError(f"{folder}: class {name!r} has {problem} (looked for {looked_for})")
    return np.stack(images), np.asarray(labels, dtype=np.int64), classes, tuple(skipped)


def _image_files(root: Path, class_folder: Path, skipped: list[SkippedFile]) -> list[Path]:
    """Image files anywhere under a class folder, walked with a stack (no recursion, however deep).

    Symlinked folders are not followed (a link to a parent would loop forever); folders deeper than
    MAX_FOLDER_DEPTH and files past MAX_FOLDER_FILES are reported in ``skipped``.
    """
    found: list[Path] = []
    stack: list[tuple[Path, int]] = [(class_folder, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as error:
            skipped.append(SkippedFile(_relative(root, folder), f"cannot list it ({error.strerror or error})", folder=True))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                is_folder = entry.is_dir(follow_symlinks=False)
                is_file = not is_folder and entry.is_file()
            except OSError:
                continue
            if is_folder:
                if depth + 1 > MAX_FOLDER_DEPTH:
                    skipped.append(
                        SkippedFile(_relative(root, Path(entry.path)), f"more than {MAX_FOLDER_DEPTH} deep; not searched", True)
                    )
                else:
                    stack.append((Path(entry.path), depth + 1))
            elif is_file and Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                if len(found) >= MAX_FOLDER_FILES:
                    skipped.append(
                        SkippedFile(_relative(root, folder), f"past {MAX_FOLDER_FILES:,} images; the rest not read", True)
                    )
                    return sorted(found)
                found.append(Path(entry.path))
    return sorted(found)


def _relative(root: Path, path: Path) -> str:
    try:
        text = str(path.relative_to(root))
    except ValueError:
        text = str(path)
    return text if len(text) <= 120 else "..." + text[-117:]


def _reason(error: Exception, file: Path) -> str:
    """The error's message without the file name it starts with (the summary names the file itself)."""
    message = str(error)
    prefix = f"{file}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def _check_dataset_budget(subject: str, count: int, shape: tuple[int, int, int]) -> None:
    """Refuse a data set whose model-ready arrays would not fit the memory budget, before decoding it."""
    channels, height, width = shape
    needed = count * channels * height * width * _BYTES_PER_MODEL_VALUE
    if needed > memory_budget():
        raise DataError(over_budget(f"{subject} at {channels}x{height}x{width}", needed))


def _image_folder_split(folder: Path, split: str, shape: tuple[int, int, int]) -> Dataset:
    images, labels, classes, skipped = _read_image_folder(folder, shape)
    test = _stratified_test_mask(labels)
    chosen = test if split == "test" else ~test
    if not chosen.any():
        raise DataError(f"{folder}: too few images for a {split} split; add at least two images per class")
    normalization = _measure_normalization(images[~test])
    images = _normalize(images[chosen], normalization)
    return Dataset(f"{folder.name} ({split})", images, labels[chosen], classes, normalization, skipped)


def _measure_normalization(images: np.ndarray) -> Normalization:
    """Per-channel mean and std of (N, C, H, W) images; a flat channel keeps std 1 to stay finite."""
    mean = images.mean(axis=(0, 2, 3), dtype=np.float64)
    std = images.std(axis=(0, 2, 3), dtype=np.float64)
    return Normalization(tuple(float(m) for m in mean), tuple(float(s) if s > 1e-6 else 1.0 for s in std))


def _normalize(images: np.ndarray, normalization: Normalization) -> np.ndarray:
    mean = np.asarray(normalization.mean, dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(normalization.std, dtype=np.float32).reshape(1, -1, 1, 1)
    return ((images - mean) / std).astype(np.float32)


def _idx_file(folder: Path, split: str, kind: str) -> Path | None:
    dimensions = 3 if kind == "images" else 1
    prefix = _IDX_PREFIX[split]
    for stem in (f"{prefix}-{kind}-idx{dimensions}-ubyte", f"{prefix}-{kind}.idx{dimensions}-ubyte"):
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _required_idx_file(folder: Path, split: str, kind: str) -> Path:
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder holding MNIST IDX files")
    found = _idx_file(folder, split, kind)
    if found is None:
        dimensions = 3 if kind == "images" else 1
        raise DataError(f"{folder}: missing {_IDX_PREFIX[split]}-{kind}-idx{dimensions}-ubyte (or .gz)")
    return found


def _idx_arrays(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, H, W) images and int64 labels of one split, checked against each other."""
    pixels = _read_idx(_required_idx_file(folder, split, "images"), "images")
    labels = _read_idx(_required_idx_file(folder, split, "labels"), "labels")
    if len(labels) != len(pixels):
        raise DataError(
            f"{folder}: the {split} images file holds {len(pixels)} images but the labels file {len(labels)} labels"
        )
    if len(labels) == 0:
        raise DataError(f"{folder}: the {split} IDX files hold no images")
    if labels.max() > 9:
        raise DataError(f"{folder}: MNIST labels must be digits 0..9, found {labels.max()}")
    return pixels, labels.astype(np.int64)


def _idx_name(folder: Path, split: str) -> str:
    return f"MNIST IDX {split} ({folder.name})"


def _idx_dataset(folder: Path, split: str, pixels: np.ndarray, labels: np.ndarray) -> Dataset:
    images = _normalize((pixels.astype(np.float32) / 255.0)[:, np.newaxis], MNIST_NORMALIZATION)
    return Dataset(_idx_name(folder, split), images, labels, DIGIT_CLASSES, MNIST_NORMALIZATION)


def _read_idx(path: Path, kind: str) -> np.ndarray:
    """Read a uint8 IDX file, checking the magic number and that the data length matches the header.

    The header's size is checked against the file size (or, gzipped, read no further than it) and the
    memory budget before any data is read, so a header promising gigabytes costs nothing.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as stream:
            header = stream.read(4)
            if len(header) < 4:
                raise DataError(f"{path}: not an IDX {kind} file (only {len(header)} bytes)")
            magic = struct.unpack(">I", header)[0]
            if magic != _IDX_MAGIC[kind]:
                raise DataError(
                    f"{path}: not an IDX {kind} file (magic number {magic:#010x}, expected {_IDX_MAGIC[kind]:#010x})"
                )
            ndims = _IDX_MAGIC[kind] & 0xFF
            dims_bytes = stream.read(4 * ndims)
            if len(dims_bytes) < 4 * ndims:
                raise DataError(f"{path}: file ends inside its header")
            dims = struct.unpack(f">{ndims}I", dims_bytes)
            expected = int(np.prod(dims, dtype=np.int64))
            if expected > _IDX_MAX_BYTES:
                raise DataError(f"{path}: header declares an implausible size {dims}")
            if opener is open and path.stat().st_size < 4 + 4 * ndims + expected:
                raise DataError(f"{path}: is truncated (header {dims} needs {expected} bytes)")
            if kind == "images":
                _check_dataset_budget(f"{path}: its {dims[0]:,} images", dims[0], (1, *dims[1:]))
            data = _read_at_most(stream, expected + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: cannot read file ({error})") from error
    if len(data) != expected:
        problem = "is truncated" if len(data) < expected else "has extra bytes after the data"
        raise DataError(f"{path}: {problem} (header {dims} needs {expected} bytes)")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _read_at_most(stream, limit: int) -> bytes:
    """Read in chunks, so a gzip stream that inflates past the header's promise stops at ``limit``."""
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = stream.read(min(left, _IDX_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _download_verified(filename: str, md5: str, destination: Path) -> None:
    partial = destination.with_suffix(".part")
    failures = []
    for mirror in MNIST_MIRRORS:
        try:
            with urllib.request.urlopen(mirror + filename, timeout=60) as response, partial.open("wb") as out:
                out.write(response.read())
        except (urllib.error.URLError, OSError) as error:
            failures.append(f"{mirror}: {error}")
            continue
        if _md5(partial) == md5:
            partial.replace(destination)
            return
        failures.append(f"{mirror}: checksum mismatch")
    partial.unlink(missing_ok=True)
    raise DataError(f"could not download {filename}: " + "; ".join(failures))
