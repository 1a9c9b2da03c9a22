import numpy as np
import pytest
import torch

from core.architecture import PRESETS, build_model
from core.data import Dataset
from core.insight.embedding import EmbeddingCancelled, embed, layer_features
from core.insight.model_input import InsightError
from core.preprocess import identity_normalization


def _direct_pca(features):
    centred = features.astype(np.float64) - features.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    return u[:, :2] * s[:2], s[:2] ** 2 / np.sum(s**2)


def test_pca_gives_one_point_per_test_sample_and_agrees_with_a_direct_svd(trained_lenet, mnist_test):
    result = embed(trained_lenet, mnist_test, "relu3")
    assert result.points.shape == (len(mnist_test), 2)
    np.testing.assert_array_equal(result.labels, mnist_test.labels)
    np.testing.assert_array_equal(result.indices, np.arange(len(mnist_test)))
    features, predicted, pooled = layer_features(trained_lenet, mnist_test.images, "relu3")
    assert features.shape == (len(mnist_test), 120) and pooled is None
    direct, explained = _direct_pca(features)
    signs = np.sign(np.sum(direct * result.points, axis=0))
    np.testing.assert_allclose(result.points * signs, direct, atol=1e-3 * np.abs(direct).max())
    np.testing.assert_allclose(result.explained_variance, explained, rtol=1e-3)
    assert result.method == "pca" and result.layer == "relu3" and result.features == 120


def test_points_carry_the_prediction_and_the_confusion_cell(trained_lenet, mnist_test):
    result = embed(trained_lenet, mnist_test, "fc3", limit=300)
    with torch.no_grad():
        expected = trained_lenet(torch.from_numpy(mnist_test.images[:300].copy())).argmax(dim=1).numpy()
    np.testing.assert_array_equal(result.predicted, expected)
    np.testing.assert_array_equal(result.misclassified, expected != mnist_test.labels[:300])
    assert result.misclassified.any() and not result.misclassified.all()
    true_label, predicted_label = result.labels[result.misclassified][0], expected[result.misclassified][0]
    cell = result.in_cell(true_label, predicted_label)
    assert cell.any()
    assert np.all(result.labels[cell] == true_label) and np.all(result.predicted[cell] == predicted_label)


def test_a_later_layer_separates_the_classes_better_than_the_first(trained_lenet, mnist_test):
    def separation(embedding):
        centres = np.stack([embedding.points[embedding.labels == c].mean(axis=0) for c in range(10)])
        within = np.mean([embedding.points[embedding.labels == c].std(axis=0).mean() for c in range(10)])
        return np.std(centres, axis=0).mean() / within

    late, early = embed(trained_lenet, mnist_test, "fc2"), embed(trained_lenet, mnist_test, "conv1")
    assert separation(late) > 2 * separation(early)


def test_large_maps_are_pooled_to_a_bounded_size():
    torch.manual_seed(0)
    model = build_model("INPUT(3x64x64) -> CONV(16,3,p=1) -> RELU -> POOL(8) -> FC(3)")
    images = np.random.default_rng(0).normal(size=(20, 3, 64, 64)).astype(np.float32)
    dataset = Dataset("noise", images, np.arange(20, dtype=np.int64) % 3, ("a", "b", "c"), identity_normalization(3))
    result = embed(model, dataset, "conv1")
    assert result.pooled_from == (16, 64, 64) and result.features <= 8192
    assert np.isfinite(result.points).all()


def test_a_reference_keeps_the_axes_from_flipping(trained_lenet, mnist_test):
    first = embed(trained_lenet, mnist_test, "relu4", limit=200)
    flipped = first.__class__(**{**first.__dict__, "points": -first.points})
    again = embed(trained_lenet, mnist_test, "relu4", limit=200, reference=flipped)
    np.testing.assert_allclose(again.points, -first.points, atol=1e-4)


def test_tsne_places_every_sample_and_reports_its_stages(trained_lenet, mnist_test):
    stages = []
    result = embed(trained_lenet, mnist_test, "relu4", "tsne", limit=150, progress=lambda f, s: stages.append((f, s)))
    assert result.points.shape == (150, 2) and np.isfinite(result.points).all()
    assert result.explained_variance is None
    fractions = [fraction for fraction, _ in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {"activations", "t-SNE", "done"} <= {stage for _, stage in stages}


def test_should_stop_cancels_before_anything_is_projected(trained_lenet, mnist_test):
    calls = []

    def stop_on_second_check():
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(EmbeddingCancelled):
        embed(trained_lenet, mnist_test, "relu4", "tsne", should_stop=stop_on_second_check)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layer": "relu4", "method": "umap"}, "unknown embedding method 'umap'"),
        ({"layer": "fc9"}, "no layer named 'fc9'"),
        ({"layer": "relu4", "limit": 2}, "at least 3 samples"),
    ],
)
def test_bad_arguments_get_a_one_line_message(trained_lenet, mnist_test, kwargs, message):
    with pytest.raises(InsightError, match=message):
        embed(trained_lenet, mnist_test, **kwargs)


def test_embedding_runs_on_an_untrained_preset(mnist_test):
    torch.manual_seed(0)
    result = embed(build_model(PRESETS["tinyvgg"]), mnist_test, "conv4", limit=100)
    assert result.points.shape == (100, 2) and np.isfinite(result.points).all()
