"""The names the issue lists for scripts and outside checks, called exactly as written there."""
import numpy as np

import core.insight
from tests.core.insight._bundled import mnist_test, trained_lenet


def test_issue_signatures():
    model, dataset = trained_lenet(), mnist_test()
    x = dataset.images[0]
    explanation = core.insight.explain_unit(model, x, "fc1", 4, 0, 0)
    assert {"kind", "value", "terms", "bias", "total"} <= set(vars(explanation))
    assert explanation.total == np.float64(explanation.terms.sum() + explanation.bias)
    image = core.insight.visualize_channel(model, "conv1", 0, (1, 28, 28), steps=3, seed=0)
    assert image.shape == (1, 28, 28)
    tops = core.insight.top_examples(model, dataset, "conv2", k=9)
    assert len(tops) == 16 and all(len(t) == 9 for t in tops)
    index, row, col, value = tops[0][0]
    assert 0 <= index < len(dataset) and 0 <= row < 8 and 0 <= col < 8 and value == tops[0][0].value
