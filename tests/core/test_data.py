"""Datasets: bundled MNIST subset, generated X/O, image folders, IDX files, and load_dataset's choice among them."""
import gzip
import os
import shutil
import struct

import numpy as np
import pytest
from PIL import Image

from core.data import (
    DataError,
    Dataset,
    load_dataset,
    load_image_folder,
    load_mnist_idx,
    load_mnist_subset,
    make_xo,
    mnist_subset_raw,
)
from core.preprocess import MNIST_NORMALIZATION, Normalization


def write_idx(path, array: np.ndarray, magic: int, extra: bytes = b"") -> None:
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes() + extra
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as stream:
            stream.write(payload)
    else:
        path.write_bytes(payload)


def write_idx_folder(folder, count: int = 30, gz: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """IDX files holding real digits from the bundled subset (train from its train split, t10k from test)."""
    folder.mkdir(exist_ok=True)
    suffix = ".gz" if gz else ""
    for prefix, split in (("train", "train"), ("t10k", "test")):
        images, labels = mnist_subset_raw(split)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images[:count], 0x803)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels[:count], 0x801)
    return mnist_subset_raw("train")[0][:count], mnist_subset_raw("train")[1][:count]


def save_image(path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def shapes_folder(root, per_class: int = 5):
    """Two classes of small pictures in mixed formats: light squares and light crosses on dark."""
    rng = np.random.default_rng(7)
    for index in range(per_class):
        square = np.zeros((24, 24), np.uint8)
        offset = int(rng.integers(2, 6))
        square[offset : offset + 14, offset : offset + 14] = 255
        save_image(root / "square" / f"s{index}.png", square)
        cross = np.zeros((30, 30, 3), np.uint8)
        cross[13:17, 3:27] = (255, 200, 200)
        cross[3:27, 13:17] = (255, 200, 200)
        save_image(root / "cross" / f"c{index}.{['bmp', 'jpg', 'png'][index % 3]}", cross)
    return root


def test_mnist_subset_split_is_stratified_and_complete():
    train, test = load_mnist_subset("train"), load_mnist_subset("test")
    assert (len(train), len(test)) == (4000, 1000)
    assert train.input_shape == test.input_shape == (1, 28, 28)
    assert train.classes == tuple("0123456789")
    assert np.bincount(train.labels).tolist() == [400] * 10
    assert np.bincount(test.labels).tolist() == [100] * 10
    with np.load("assets/mnist/mnist_5k.npz") as archive:
        everything = sorted(digit.tobytes() for digit in archive["images"])
    train_raw, test_raw = mnist_subset_raw("train")[0], mnist_subset_raw("test")[0]
    assert sorted(digit.tobytes() for digit in np.concatenate([train_raw, test_raw])) == everything


def test_mnist_subset_is_shuffled_so_any_prefix_holds_every_digit():
    for split in ("train", "test"):
        assert set(mnist_subset_raw(split)[1][:60].tolist()) == set(range(10))


def test_mnist_subset_is_cached_and_read_only():
    first = load_mnist_subset()
    assert load_mnist_subset("train") is first
    with pytest.raises(ValueError):
        first.images[0, 0, 0, 0] = 1.0


def test_mnist_subset_images_are_the_normalized_raw_digits():
    dataset = load_mnist_subset("test")
    raw_images, raw_labels = mnist_subset_raw("test")
    assert raw_images.dtype == np.uint8 and raw_images.shape == (1000, 28, 28)
    np.testing.assert_array_equal(dataset.labels, raw_labels)
    assert dataset.images.dtype == np.float32 and dataset.labels.dtype == np.int64
    assert dataset.normalization == MNIST_NORMALIZATION
    np.testing.assert_allclose(MNIST_NORMALIZATION.invert(dataset.images[5]), raw_images[5:6] / 255.0, atol=1e-5)


@pytest.mark.parametrize("split", ["validation", "Train", ""])
def test_unknown_split_is_refused(split):
    with pytest.raises(DataError, match="unknown split"):
        load_mnist_subset(split)
    with pytest.raises(DataError, match="unknown split"):
        mnist_subset_raw(split)


def test_xo_images_are_balanced_plus_minus_one_and_reproducible():
    dataset = make_xo(101, size=9, seed=5)
    assert dataset.images.shape == (101, 1, 9, 9) and dataset.classes == ("X", "O")
    assert set(np.unique(dataset.images)) == {-1.0, 1.0}
    assert abs(int(np.bincount(dataset.labels)[0]) - int(np.bincount(dataset.labels)[1])) <= 1
    assert dataset.normalization == Normalization((0.0,), (1.0,))
    again = make_xo(101, size=9, seed=5)
    np.testing.assert_array_equal(again.images, dataset.images)
    np.testing.assert_array_equal(again.labels, dataset.labels)
    assert not np.array_equal(make_xo(101, size=9, seed=6).images, dataset.images)
    assert len({image.tobytes() for image in dataset.images}) > 90


def test_xo_classes_are_learnable():
    train, test = make_xo(400, size=12, seed=0), make_xo(200, size=12, seed=1)
    centroids = np.stack([train.images[train.labels == label].reshape(-1, 144).mean(axis=0) for label in (0, 1)])
    distances = ((test.images.reshape(-1, 1, 144) - centroids[np.newaxis]) ** 2).sum(axis=2)
    assert (distances.argmin(axis=1) == test.labels).mean() > 0.85


@pytest.mark.parametrize(
    ("n", "size", "problem"), [(1, 9, "at least 2 images"), (10, 4, "at least 5x5"), (10, 9.5, "at least 5x5")]
)
def test_make_xo_refuses_bad_arguments(n, size, problem):
    with pytest.raises(DataError, match=problem):
        make_xo(n, size=size)


def test_image_folder_reads_every_class_and_skips_broken_files(tmp_path):
    root = shapes_folder(tmp_path / "shapes")
    (root / "cross" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "square" / "notes.txt").write_text("not an image, not counted")
    dataset = load_image_folder(root, (1, 16, 16))
    assert dataset.classes == ("cross", "square")
    assert len(dataset) == 10 and np.bincount(dataset.labels).tolist() == [5, 5]
    assert dataset.input_shape == (1, 16, 16)
    assert len(dataset.skipped) == 1 and dataset.skipped[0].path == "cross/broken.png"
    assert abs(dataset.images.mean()) < 1e-4 and dataset.images.std() == pytest.approx(1.0, abs=1e-3)
    crosses = dataset.images[dataset.labels == 0]  # the same picture saved as BMP, JPEG and PNG
    assert np.abs(crosses - crosses[0]).mean() < 0.05


def test_image_folder_uses_a_given_normalization_and_channel_count(tmp_path):
    root = shapes_folder(tmp_path / "shapes", per_class=2)
    identity = Normalization((0.0,) * 3, (1.0,) * 3)
    dataset = load_image_folder(root, (3, 20, 20), identity)
    assert dataset.normalization == identity and dataset.images.shape == (4, 3, 20, 20)
    assert dataset.images.min() >= 0.0 and dataset.images.max() <= 1.0


def test_image_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="folder not found"):
        load_image_folder(tmp_path / "missing", (1, 28, 28))
    a_file = tmp_path / "file.png"
    a_file.write_bytes(b"x")
    with pytest.raises(DataError, match="not a folder"):
        load_image_folder(a_file, (1, 28, 28))
    flat = tmp_path / "flat"
    save_image(flat / "a.png", np.zeros((5, 5), np.uint8))
    with pytest.raises(DataError, match="no class subfolders"):
        load_image_folder(flat, (1, 28, 28))
    save_image(flat / "only" / "a.png", np.zeros((5, 5), np.uint8))
    with pytest.raises(DataError, match="only one class"):
        load_image_folder(flat, (1, 28, 28))
    (flat / "empty").mkdir()
    with pytest.raises(DataError, match="'empty' has no image files"):
        load_image_folder(flat, (1, 28, 28))
    (flat / "empty" / "bad.jpg").write_bytes(b"garbage")
    with pytest.raises(DataError, match="'empty' has none of its 1 image files could be read"):
        load_image_folder(flat, (1, 28, 28))
    with pytest.raises(DataError, match="1- or 3-channel"):
        load_image_folder(flat, (4, 28, 28))


def test_folder_splits_are_stratified_disjoint_and_share_train_statistics(tmp_path):
    root = shapes_folder(tmp_path / "shapes", per_class=10)
    train, test = load_dataset(str(root), "train", (1, 16, 16)), load_dataset(str(root), "test", (1, 16, 16))
    assert np.bincount(test.labels).tolist() == [2, 2] and np.bincount(train.labels).tolist() == [8, 8]
    assert train.normalization == test.normalization
    whole = load_image_folder(root, (1, 16, 16), train.normalization)
    assert sorted(image.tobytes() for image in np.concatenate([train.images, test.images])) == sorted(
        image.tobytes() for image in whole.images
    )
    again = load_dataset(str(root), "test", (1, 16, 16))
    np.testing.assert_array_equal(again.images, test.images)


def test_folder_with_one_image_per_class_has_no_test_split(tmp_path):
    root = shapes_folder(tmp_path / "tiny", per_class=1)
    assert len(load_dataset(str(root), "train", (1, 16, 16))) == 2
    with pytest.raises(DataError, match="too few images"):
        load_dataset(str(root), "test", (1, 16, 16))


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_round_trip(tmp_path, gz):
    images, labels = write_idx_folder(tmp_path / "idx", gz=gz)
    dataset = load_mnist_idx(tmp_path / "idx", "train")
    assert dataset.input_shape == (1, 28, 28) and dataset.classes == tuple("0123456789")
    np.testing.assert_array_equal(dataset.labels, labels)
    np.testing.assert_allclose(MNIST_NORMALIZATION.invert(dataset.images[3]), images[3:4] / 255.0, atol=1e-5)
    test = load_mnist_idx(tmp_path / "idx", "test")
    np.testing.assert_array_equal(test.labels, mnist_subset_raw("test")[1][:30])


def test_broken_idx_files_are_named(tmp_path):
    folder = tmp_path / "idx"
    write_idx_folder(folder, count=10, gz=False)
    images_file = folder / "train-images-idx3-ubyte"
    labels_file = folder / "train-labels-idx1-ubyte"
    digits, labels = mnist_subset_raw("train")[0][:10], mnist_subset_raw("train")[1][:10]

    write_idx(images_file, digits, 0x801)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: not an IDX images file"):
        load_mnist_idx(folder)
    images_file.write_bytes(images_file.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: not an IDX"):
        load_mnist_idx(folder)
    write_idx(images_file, digits, 0x803)
    images_file.write_bytes(images_file.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: is truncated"):
        load_mnist_idx(folder)
    write_idx(images_file, digits, 0x803, extra=b"\0\0")
    with pytest.raises(DataError, match="extra bytes"):
        load_mnist_idx(folder)
    write_idx(images_file, digits[:9], 0x803)
    with pytest.raises(DataError, match="9 images but the labels file 10 labels"):
        load_mnist_idx(folder)
    write_idx(images_file, digits, 0x803)
    write_idx(labels_file, labels + 10, 0x801)
    with pytest.raises(DataError, match="digits 0..9"):
        load_mnist_idx(folder)
    labels_file.unlink()
    with pytest.raises(DataError, match="missing train-labels-idx1-ubyte"):
        load_mnist_idx(folder)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz: cannot read file"):
        load_mnist_idx(folder)


def test_load_dataset_bundled_mnist_and_other_input_shapes():
    assert load_dataset("mnist", "test") is load_mnist_subset("test")
    lenet = load_dataset("mnist", "test", (1, 32, 32))
    assert lenet.images.shape == (1000, 1, 32, 32)
    np.testing.assert_array_equal(lenet.labels, load_mnist_subset("test").labels)
    assert np.isfinite(lenet.images).all()


def test_load_dataset_xo_sizes_follow_the_model():
    train, test = load_dataset("xo", "train", (1, 11, 11)), load_dataset("xo", "test", (1, 11, 11))
    assert train.images.shape == (2000, 1, 11, 11) and test.images.shape == (500, 1, 11, 11)
    with pytest.raises(DataError, match="square and single-channel"):
        load_dataset("xo", "train", (3, 9, 9))


def test_load_dataset_recognises_an_idx_folder(tmp_path):
    write_idx_folder(tmp_path / "idx", count=12)
    dataset = load_dataset(str(tmp_path / "idx"), "test")
    assert len(dataset) == 12 and dataset.input_shape == (1, 28, 28)
    resized = load_dataset(str(tmp_path / "idx"), "test", (3, 32, 32))
    assert resized.images.shape == (12, 3, 32, 32)
    np.testing.assert_array_equal(resized.labels, dataset.labels)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / "idx" / name).unlink()
    with pytest.raises(DataError, match="missing t10k-images-idx3-ubyte"):
        load_dataset(str(tmp_path / "idx"), "test")


def test_load_dataset_refuses_unknown_sources_and_splits(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'cifar'"):
        load_dataset("cifar")
    with pytest.raises(DataError, match="unknown split"):
        load_dataset("mnist", "val")


def test_dataset_refuses_inconsistent_arrays():
    images = np.zeros((3, 1, 4, 4), np.float32)
    with pytest.raises(DataError, match="one per image"):
        Dataset("bad", images, np.zeros(2, np.int64), ("a", "b"), MNIST_NORMALIZATION)
    with pytest.raises(DataError, match="index the 2 classes"):
        Dataset("bad", images, np.array([0, 1, 2]), ("a", "b"), MNIST_NORMALIZATION)
    with pytest.raises(DataError, match="float32"):
        Dataset("bad", images.astype(np.float64), np.zeros(3, np.int64), ("a", "b"), MNIST_NORMALIZATION)


# ----------------------------------------------------------------------------- hostile folders and files (issue 13)


def make_nested(folder, depth: int, file_name: str) -> None:
    """Folders ``d/d/.../d`` ``depth`` deep with a file at the bottom, made through directory file
    descriptors: the full path is longer than the system allows a path to be."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=handle)
            inner = os.open("d", os.O_RDONLY, dir_fd=handle)
            os.close(handle)
            handle = inner
        file = os.open(file_name, os.O_WRONLY | os.O_CREAT, dir_fd=handle)
        os.write(file, b"\x89PNG\r\n\x1a\n")
        os.close(file)
    finally:
        os.close(handle)


def remove_nested(folder) -> None:
    """Undo make_nested one level at a time (shutil.rmtree recurses, and 1,200 levels overflow it)."""
    top = folder / "d"
    while (top / "d").exists():
        (top / "d").rename(folder / "next")
        shutil.rmtree(top)  # holds only the file, if anything
        (folder / "next").rename(top)
    shutil.rmtree(top)


def test_a_class_folder_nested_1200_levels_deep_is_no_recursion_error(tmp_path):
    root = shapes_folder(tmp_path / "shapes", per_class=2)
    make_nested(root / "square", 1200, "lost.png")
    try:
        dataset = load_image_folder(root, (1, 16, 16))
    finally:
        remove_nested(root / "square")
    assert len(dataset) == 4
    assert [(item.reason, item.folder) for item in dataset.skipped] == [("more than 32 deep; not searched", True)]
    assert dataset.skipped_summary().startswith("shapes: skipped 1 folder: square/d/d/d")
    assert dataset.skipped[0].path == "square/" + "/".join(["d"] * 33)


def test_a_symlink_loop_is_not_followed(tmp_path):
    root = shapes_folder(tmp_path / "shapes", per_class=2)
    (root / "square" / "loop").symlink_to(root, target_is_directory=True)
    dataset = load_image_folder(root, (1, 16, 16))
    assert len(dataset) == 4 and not dataset.skipped


def test_files_under_subfolders_of_a_class_are_found(tmp_path):
    root = shapes_folder(tmp_path / "shapes", per_class=2)
    save_image(root / "square" / "more" / "deeper" / "s9.png", np.full((24, 24), 255, np.uint8))
    assert np.bincount(load_image_folder(root, (1, 16, 16)).labels).tolist() == [2, 3]


def test_skipped_files_are_summarised_with_names_and_reasons(tmp_path):
    root = shapes_folder(tmp_path / "shapes", per_class=2)
    for index in range(5):
        (root / "cross" / f"broken{index}.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "square" / "strip.png").write_bytes(b"")
    dataset = load_image_folder(root, (1, 16, 16))
    assert len(dataset.skipped) == 6
    summary = dataset.skipped_summary()
    assert summary.startswith("shapes: skipped 6 files: cross/broken0.png (not a readable image")
    assert "cross/broken1.png (" in summary and "cross/broken3.png" not in summary
    assert summary.endswith("; and 3 more") and "\n" not in summary
    assert load_image_folder(shapes_folder(tmp_path / "clean", per_class=2), (1, 16, 16)).skipped_summary() == ""


def test_the_train_and_test_splits_of_a_folder_report_skipped_files_too(tmp_path):
    root = shapes_folder(tmp_path / "shapes", per_class=3)
    (root / "cross" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    for split in ("train", "test"):
        assert "cross/broken.png (not a readable image" in load_dataset(str(root), split, (1, 16, 16)).skipped_summary()


def test_a_folder_over_the_memory_budget_is_refused_before_decoding(tmp_path, monkeypatch):
    root = shapes_folder(tmp_path / "shapes", per_class=2)
    monkeypatch.setenv("CONVSCOPE_MEMORY_BUDGET", "1MB")
    with pytest.raises(DataError, match=r"shapes: its 4 images at 3x512x512 needs 36 MB; the budget is 1.0 MB"):
        load_image_folder(root, (3, 512, 512))


def test_mnist_for_a_huge_input_is_refused_with_the_numbers():
    with pytest.raises(DataError, match=r"MNIST subset \(train\): 4,000 images at 1x20000x1000 needs 894 GB"):
        load_dataset("mnist", "train", (1, 20000, 1000))


def test_an_idx_header_promising_gigabytes_is_refused_before_reading(tmp_path, monkeypatch):
    """2,000,000,000 bytes of pixels would be 8 GB as float32: refused from the header, even gzipped."""
    monkeypatch.setenv("CONVSCOPE_MEMORY_BUDGET", "1GB")
    header = struct.pack(">IIII", 0x803, 2000, 1000, 1000)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + bytes(1000)))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(2000, np.uint8), 0x801)
    with pytest.raises(DataError, match=r"its 2,000 images at 1x1000x1000 needs 22 GB; the budget is 1.0 GB"):
        load_mnist_idx(tmp_path, "train")


def test_an_uncompressed_idx_shorter_than_its_header_says_is_refused_without_reading(tmp_path):
    header = struct.pack(">IIII", 0x803, 1000, 28, 28)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(header + bytes(100))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(1000, np.uint8), 0x801)
    with pytest.raises(DataError, match=r"is truncated \(header \(1000, 28, 28\) needs 784000 bytes\)"):
        load_mnist_idx(tmp_path, "train")


def test_a_gzip_that_inflates_past_its_header_stops_at_the_header(tmp_path):
    header = struct.pack(">IIII", 0x803, 2, 28, 28)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + bytes(50 * 2**20)))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(2, np.uint8), 0x801)
    with pytest.raises(DataError, match="has extra bytes after the data"):
        load_mnist_idx(tmp_path, "train")
