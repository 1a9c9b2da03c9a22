import numpy as np
import pytest
import torch

from core.insight.attribution import attribute
from core.insight.faithfulness import faithfulness
from core.insight.model_input import InsightError, black_baseline


def _probability(model, x, target):
    with torch.no_grad():
        return float(torch.softmax(model(torch.from_numpy(x.copy())[None]), 1)[0, target])


def test_masking_the_top_pixels_costs_more_probability_than_masking_random_ones(trained_lenet, mnist_test):
    baseline = black_baseline(mnist_test.normalization)
    top_drops, random_drops = [], []
    for image, label in zip(mnist_test.images[:20], mnist_test.labels[:20]):
        heatmap = attribute(trained_lenet, image, int(label), "integrated_gradients", baseline=baseline)
        result = faithfulness(trained_lenet, image, heatmap, int(label), baseline=baseline)
        assert result.prob_original == pytest.approx(_probability(trained_lenet, image, int(label)), abs=1e-6)
        top_drops.append(result.top_drop)
        random_drops.append(result.random_drop)
    assert np.mean(top_drops) > np.mean(random_drops) + 0.2


def test_masking_sets_exactly_the_chosen_pixels_to_the_baseline(trained_lenet, mnist_test):
    x, label = mnist_test.images[0], int(mnist_test.labels[0])
    heatmap = np.zeros((28, 28), np.float32)
    heatmap[:2] = 1.0  # the two top rows: 56 pixels, all background already
    result = faithfulness(trained_lenet, x, heatmap, label, fraction=56 / 784, baseline=x.min())
    assert result.pixels == 56
    assert result.prob_top_masked == pytest.approx(result.prob_original, abs=1e-6)
    everything = faithfulness(trained_lenet, x, heatmap, label, fraction=1.0, baseline=0.5)
    grey = _probability(trained_lenet, np.full_like(x, 0.5), label)
    assert everything.prob_top_masked == pytest.approx(grey, abs=1e-6)
    assert everything.prob_random_masked == pytest.approx(everything.prob_top_masked, abs=1e-6)


def test_the_random_pixels_follow_the_seed(trained_lenet, mnist_test):
    x, heatmap = mnist_test.images[0], np.zeros((28, 28))
    first, again = (faithfulness(trained_lenet, x, heatmap, 7, fraction=0.3, seed=5) for _ in range(2))
    assert first == again
    assert faithfulness(trained_lenet, x, heatmap, 7, fraction=0.3, seed=6) != first


@pytest.mark.parametrize(
    ("heatmap", "fraction", "message"),
    [
        (np.zeros((14, 14)), 0.1, r"must be \(28, 28\) like the input"),
        (np.full((28, 28), np.inf), 0.1, "NaN or infinite"),
        (np.zeros((28, 28)), 0.0, r"must be in \(0, 1\]"),
    ],
)
def test_bad_arguments_get_a_one_line_message(trained_lenet, mnist_test, heatmap, fraction, message):
    with pytest.raises(InsightError, match=message):
        faithfulness(trained_lenet, mnist_test.images[0], heatmap, 3, fraction=fraction)
