import numpy as np
import pytest
import torch
from torch import nn

from core.insight.attribution import METHODS, attribute, compare
from core.insight.explanation import explain, forward_passes
from core.insight.faithfulness import faithfulness
from core.insight.intervention import channel_intervention
from core.insight.model_input import black_baseline
from core.preprocess import MNIST_NORMALIZATION
from tests.core.insight._bundled import trained_lenet as bundled_lenet


class _Cancelled(Exception):
    pass


def _forwards(model: nn.Module) -> list[int]:
    """Batch sizes of the forwards the model completes from now on."""
    calls: list[int] = []
    model.register_forward_hook(lambda _m, inputs, _output: calls.append(len(inputs[0])))
    return calls


@pytest.mark.parametrize("method", list(METHODS))
def test_the_heatmap_and_readout_are_the_engine_s_under_the_interventions(method, trained_lenet, mnist_test):
    x, baseline = mnist_test.images[3], black_baseline(MNIST_NORMALIZATION)
    off = {"conv2": {1: 0.0, 6: 0.0}}
    result = explain(trained_lenet, x, method, 2, baseline=baseline, interventions=off)
    with channel_intervention(trained_lenet, off):
        expected = attribute(trained_lenet, x, 2, method, baseline=baseline)
        readout = faithfulness(trained_lenet, x, expected, 2, 0.1, baseline=baseline)
    np.testing.assert_allclose(result.heatmap, expected, rtol=1e-5, atol=1e-6)
    assert result.faithfulness == readout and result.seconds > 0
    assert result.layer == ("conv2" if method == "gradcam" else None)
    assert not np.allclose(explain(trained_lenet, x, method, 2, baseline=baseline).heatmap, result.heatmap)


def test_one_class_against_another_is_compare(trained_lenet, mnist_test):
    x = mnist_test.images[0]
    result = explain(trained_lenet, x, "integrated_gradients", 7, 9)
    np.testing.assert_allclose(result.heatmap, compare(trained_lenet, x, 7, 9, "integrated_gradients"), atol=1e-6)
    assert (result.target, result.other) == (7, 9)


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 64, 48)])
def test_progress_counts_every_forward_and_ends_full(method, shape):
    torch.manual_seed(0)
    channels = shape[0]
    model = nn.Sequential(nn.Conv2d(channels, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 3))
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    explain(model, x, method, 1)  # Grad-CAM learns the layer's geometry on its first call
    calls = _forwards(model)
    reports: list[tuple[int, int]] = []
    explain(model, x, method, 1, progress=lambda done, total: reports.append((done, total)))
    total = forward_passes(method, shape) + 1
    assert len(calls) == total and reports[-1] == (total, total)
    assert [done for done, _ in reports[:-1]] == list(range(total))


def test_a_progress_callback_that_raises_stops_the_work(mnist_test):
    model = bundled_lenet()
    calls = _forwards(model)

    def stop(done: int, _total: int) -> None:
        if done == 1:
            raise _Cancelled()

    with pytest.raises(_Cancelled):
        explain(model, mnist_test.images[0], "occlusion", 3, progress=stop)
    assert len(calls) == 1 and not model._forward_pre_hooks  # the first forward only; the counter is gone
