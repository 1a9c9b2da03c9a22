"""Top examples per channel agree with a brute-force scan, and crops are the unit's receptive field."""
import numpy as np
import pytest
import torch
from torch import nn

from core.insight.model_input import InsightError
from core.insight.top_examples import (
    TopExample,
    TopExampleRecorder,
    crop_to_receptive_field,
    top_examples,
    top_examples_all,
)
from core.inspect import inspect
from core.receptive_field import receptive_fields
from core.trainer import evaluate
from tests.core.insight._bundled import mnist_test, trained_lenet

LAYERS = ["conv1", "pool1", "relu2", "conv2", "fc1", "fc3"]


def brute_force(model: nn.Module, images: np.ndarray, layer: str, k: int) -> list[list[tuple]]:
    """Image by image, channel by channel: the strongest unit, then a plain sort."""
    maps = np.stack([inspect(model, image, with_filters=False).activations[layer] for image in images])
    if maps.ndim == 2:
        maps = maps[:, :, None, None]
    ranked = []
    for channel in range(maps.shape[1]):
        candidates = []
        for index, channel_map in enumerate(maps[:, channel]):
            row, col = np.unravel_index(np.argmax(channel_map), channel_map.shape)
            candidates.append((index, int(row), int(col), float(channel_map[row, col])))
        ranked.append(sorted(candidates, key=lambda c: (-c[3], c[0]))[:k])
    return ranked


def assert_same_ranking(found: list[list[TopExample]], expected: list[list[tuple]]) -> None:
    assert len(found) == len(expected)
    for channel_found, channel_expected in zip(found, expected):
        assert len(channel_found) == len(channel_expected)
        for got, want in zip(channel_found, channel_expected):
            assert got.value == pytest.approx(want[3], rel=1e-5, abs=1e-5)
            if tuple(got[:3]) != want[:3]:  # only a near-tie may swap (batched float sums differ in the last bit)
                values = [c[3] for c in channel_expected]
                assert sum(abs(v - got.value) < 1e-5 for v in values) > 1


def test_agrees_with_a_brute_force_scan_in_batches_of_any_size():
    model, images = trained_lenet(), mnist_test().images[:40]
    found = top_examples_all(model, images, LAYERS, k=5, batch_size=16)
    assert list(found) == LAYERS
    for layer in LAYERS:
        assert_same_ranking(found[layer], brute_force(model, images, layer, k=5))
    assert_same_ranking(top_examples(model, images, "conv2", k=5), brute_force(model, images, "conv2", 5))


def test_whole_dataset_one_entry_per_channel_best_first():
    model, dataset = trained_lenet(), mnist_test()
    tops = top_examples(model, dataset, "conv1")
    assert len(tops) == 8 and all(len(channel) == 9 for channel in tops)
    for channel, examples in enumerate(tops):
        values = [e.value for e in examples]
        assert values == sorted(values, reverse=True)
        assert len({e.index for e in examples}) == 9  # an image counts once per channel
        best = examples[0]
        activations = inspect(model, dataset.images[best.index], with_filters=False).activations["conv1"]
        assert activations[channel, best.row, best.col] == pytest.approx(best.value, rel=1e-5)
        assert best.value == pytest.approx(float(activations[channel].max()), rel=1e-5)


def test_k_larger_than_the_dataset_and_bad_requests():
    model, images = trained_lenet(), mnist_test().images[:3]
    assert all(len(channel) == 3 for channel in top_examples(model, images, "conv2", k=9))
    with pytest.raises(InsightError, match="k must be"):
        top_examples(model, images, "conv1", k=0)
    with pytest.raises(InsightError, match="non-empty"):
        top_examples(model, images[:0], "conv1")
    with pytest.raises(InsightError, match="no layer named"):
        top_examples(model, images, "conv7")


def test_mode_is_restored():
    model = trained_lenet().train()
    top_examples(model, mnist_test().images[:4], "conv1", k=2)
    assert model.training and all(m.training for m in model.modules())


def test_progress_counts_images_and_an_exception_from_it_stops_the_pass_cleanly():
    model, images = trained_lenet().train(), mnist_test().images[:10]
    reports: list[tuple[int, int]] = []
    top_examples(model, images, "conv1", k=2, batch_size=4, progress=lambda done, total: reports.append((done, total)))
    assert reports == [(4, 10), (8, 10), (10, 10)]

    class Stop(Exception):
        pass

    def stop_after_first(done: int, total: int) -> None:
        raise Stop

    with pytest.raises(Stop):
        top_examples(model, images, "conv1", batch_size=4, progress=stop_after_first)
    assert model.training and not model.conv1._forward_hooks and not model._forward_hooks


def test_crop_is_the_receptive_field_box():
    model, image = trained_lenet(), mnist_test().images[5]
    rfs = {rf.name: rf for rf in receptive_fields(model, (1, 28, 28))}
    crop = crop_to_receptive_field(image, rfs["conv2"], 3, 4)
    np.testing.assert_array_equal(crop, image[:, 6:20, 8:22])  # size 14, jump 2
    whole = crop_to_receptive_field(image, rfs["fc1"], 0, 0)
    np.testing.assert_array_equal(whole, image)


def test_crop_over_the_border_is_clipped_or_filled():
    model = nn.Sequential(nn.Conv2d(1, 2, 5, padding=2), nn.Flatten(), nn.Linear(2 * 8 * 8, 2))
    (conv, *_rest) = receptive_fields(model, (1, 8, 8))
    image = torch.arange(64.0).reshape(1, 8, 8).numpy()
    np.testing.assert_array_equal(crop_to_receptive_field(image, conv, 0, 7), image[:, 0:3, 5:8])
    filled = crop_to_receptive_field(image, conv, 0, 7, fill=-1.0)
    assert filled.shape == (1, 5, 5)
    np.testing.assert_array_equal(filled[:, 2:, :3], image[:, 0:3, 5:8])
    assert (filled[:, :2, :] == -1).all() and (filled[:, :, 3:] == -1).all()


def test_recorder_rides_along_the_windows_test_pass():
    model, dataset = trained_lenet(), mnist_test()
    with TopExampleRecorder(model, ["conv1", "conv2"], k=4) as recorder:
        accuracy, _ = evaluate(model, dataset)
    assert accuracy > 0.9
    assert recorder.seen == len(dataset)
    assert recorder.result() == top_examples_all(model, dataset, ["conv1", "conv2"], k=4, batch_size=500)
    assert not any(m._forward_hooks for m in model.modules())
