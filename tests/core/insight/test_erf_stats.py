"""ERF numbers: a uniform linear conv stack gives the analytic Gaussian; training snapshots are followed."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from core.insight.model_input import InsightError
from core.insight.erf_stats import erf_over_training, erf_stats
from core.receptive_field import effective_receptive_field, receptive_fields, unit_box
from tests.core.insight._bundled import mnist_test, trained_lenet


def gaussian_radius(sigma: float, fraction: float) -> float:
    """Radius holding `fraction` of an isotropic 2-D Gaussian's mass."""
    return sigma * math.sqrt(-2.0 * math.log(1.0 - fraction))


def uniform_stack(layers: int, kernel: int) -> nn.Sequential:
    convs = [nn.Conv2d(1, 1, kernel, bias=False) for _ in range(layers)]
    for conv in convs:
        nn.init.constant_(conv.weight, 1.0 / kernel**2)
    return nn.Sequential(*convs)


@pytest.mark.parametrize("layers, kernel", [(4, 5), (8, 3), (6, 5)])
def test_uniform_stack_matches_the_analytic_gaussian(layers, kernel):
    model = uniform_stack(layers, kernel)
    side = 1 + layers * (kernel - 1) + 8  # the field plus a margin, so no unit sees padding
    rfs = receptive_fields(model, (1, side, side))
    centre = (side - layers * (kernel - 1)) // 2
    erf = effective_receptive_field(model, np.ones((1, side, side), np.float32), str(layers - 1), 0, centre, centre)
    stats = erf_stats(erf, unit_box(rfs[-1], centre, centre, (side, side)))
    sigma = math.sqrt(layers * (kernel**2 - 1) / 12)  # n-fold box convolution: variances add
    middle = centre + (rfs[-1].size - 1) / 2
    assert stats.centre == pytest.approx((middle, middle), abs=1e-6)
    assert stats.radius50 == pytest.approx(gaussian_radius(sigma, 0.5), rel=0.03)
    assert stats.radius95 == pytest.approx(gaussian_radius(sigma, 0.95), rel=0.03)
    assert stats.rf_area == rfs[-1].size ** 2
    assert 0 < stats.area_fraction50 < stats.area_fraction95 <= 1


def test_the_erf_fills_less_of_the_field_as_depth_grows():
    fractions = []
    for layers in (2, 6, 12):
        model, side = uniform_stack(layers, 3), 1 + 2 * layers
        erf = effective_receptive_field(model, np.ones((1, side, side), np.float32), str(layers - 1), 0, 0, 0)
        fractions.append(erf_stats(erf, receptive_fields(model, (1, side, side))[-1]).area_fraction95)
    assert fractions[0] > fractions[1] > fractions[2]


def test_sampled_gaussian_and_edge_cases():
    rows, cols = np.mgrid[0:41, 0:41]
    sigma = 4.0
    blob = np.exp(-((rows - 17.0) ** 2 + (cols - 22.0) ** 2) / (2 * sigma**2))
    box = unit_box(receptive_fields(nn.Sequential(nn.Conv2d(1, 1, 41)), (1, 41, 41))[0], 0, 0, (41, 41))
    stats = erf_stats(blob, box)
    assert stats.centre == pytest.approx((17.0, 22.0), abs=1e-3)  # the tails are cut at the border
    assert stats.radius50 == pytest.approx(gaussian_radius(sigma, 0.5), rel=0.01)
    assert stats.radius95 == pytest.approx(gaussian_radius(sigma, 0.95), rel=0.01)
    dead = erf_stats(np.zeros((5, 5)), box)
    assert not dead.has_gradient and math.isnan(dead.radius50)
    with pytest.raises(InsightError, match="finite"):
        erf_stats(np.full((3, 3), np.nan), box)


def test_over_training_follows_the_snapshots_and_leaves_the_model_alone():
    trained = trained_lenet()
    x = mnist_test().images[0]
    torch.manual_seed(0)
    untrained = {k: v.clone().numpy() for k, v in type(trained)(trained.architecture).state_dict().items()}
    final = {k: v.detach().clone().numpy() for k, v in trained.state_dict().items()}
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    curve = erf_over_training(trained, [untrained, final], x, "conv2", 3, 4, 4)
    rf = [r for r in receptive_fields(trained, (1, 28, 28)) if r.name == "conv2"][0]
    box = unit_box(rf, 4, 4, (28, 28))
    assert curve[1] == erf_stats(effective_receptive_field(trained, x, "conv2", 3, 4, 4), box)
    assert curve[0] != curve[1]
    assert all(torch.equal(v, before[k]) for k, v in trained.state_dict().items())
    with pytest.raises(InsightError, match="does not fit"):
        erf_over_training(trained, [{"conv1.weight": np.zeros((1, 1, 1, 1))}], x, "conv2", 3, 4, 4)
