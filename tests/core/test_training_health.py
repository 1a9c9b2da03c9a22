import math

import torch
from torch import nn

from core.architecture import PRESETS, build_model
from core.run_status import RunStatus
from core.training_health import (
    at_chance,
    dead_relu_layers,
    divergence_message,
    explosion_limit,
    judge_learning,
    suspicious,
)


def test_divergence_is_explained_with_the_numbers_and_the_cause():
    assert divergence_message(2.3, 5e22, 12, 10.0, 40) == (
        "training diverged: the loss went from 2.3 to 5e+22 in 12 steps: the learning rate 10 is too high; "
        "the last good weights from step 40 are back"
    )
    assert "the loss became NaN in 1 step:" in divergence_message(2.3, math.nan, 1, 0.5, 0)
    assert "went from 2.3 to infinity" in divergence_message(2.3, math.inf, 3, 0.5, 0)


def test_an_explosion_is_measured_against_the_first_loss():
    assert explosion_limit(2.3) == 2300 and explosion_limit(0.01) == 1000  # at least 1000 x 1
    assert suspicious(100.0, 2.3) and not suspicious(5.0, 2.3) and suspicious(math.nan, 2.3)


def test_chance_level_depends_on_the_number_of_classes():
    assert at_chance(0.12, 10) and not at_chance(0.2, 10)
    assert at_chance(0.52, 2) and not at_chance(0.6, 2)


def test_dead_relu_layers_are_found_and_a_fresh_model_has_none():
    torch.manual_seed(0)
    model = build_model(PRESETS["lenet"])
    images = torch.randn(32, 1, 28, 28)
    assert dead_relu_layers(model, images) == []
    with torch.no_grad():
        model.conv2.bias.fill_(-1e4)
    assert dead_relu_layers(model, images) == ["relu2"]
    assert model.training  # the probe leaves the mode as it was
    assert not any(m._forward_hooks for m in model.modules())  # and no hook behind


def test_a_flat_loss_at_chance_is_a_failure_to_learn_and_names_the_learning_rate():
    flat = [2.30 + 0.01 * ((i * 7) % 3) for i in range(100)]
    verdict = judge_learning(flat, 0.10, 10, 0.0001)
    assert verdict.status is RunStatus.FAILED_TO_LEARN
    assert "at chance" in verdict.message and "learning rate 0.0001 may be too small" in verdict.message
    rising = [2.3] * 50 + [5.0] * 50
    assert "learning rate 10 is likely too high" in judge_learning(rising, 0.1, 10, 10.0).message


def test_learning_runs_and_dead_layers_are_judged_apart():
    falling = [2.3 * math.exp(-i / 50) for i in range(100)]
    assert judge_learning(falling, 0.10, 10, 0.02) is None  # the loss falls: still learning
    assert judge_learning([2.3] * 100, 0.9, 10, 0.02) is None  # above chance
    assert judge_learning([2.3] * 4, 0.1, 10, 0.02) is None  # too early to say
    dead = judge_learning([2.3] * 4, 0.1, 10, 10.0, dead_layers=["relu2", "relu3"])
    assert dead.status is RunStatus.FAILED_TO_LEARN and "every ReLU in relu2, relu3 outputs 0" in dead.message
    assert "learning rate 10 is likely too high" in dead.message


def test_a_layer_without_relus_has_nothing_to_die():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    assert dead_relu_layers(model, torch.zeros(2, 1, 2, 2)) == []


def test_the_loss_watch_needs_a_sustained_explosion_but_not_for_nan():
    from core.training_health import EXPLOSION_STEPS, LossWatch

    watch = LossWatch()
    assert not watch.diverged(2.3) and watch.reference == 2.3
    assert not watch.diverged(5000.0) and not watch.diverged(2.0)  # one wild batch, then normal again
    verdicts = [watch.diverged(1e6 * (i + 1)) for i in range(EXPLOSION_STEPS)]
    assert verdicts == [False] * (EXPLOSION_STEPS - 1) + [True]
    assert LossWatch().diverged(math.nan) and LossWatch().diverged(math.inf)
    assert watch.trustworthy(2.0) and not watch.trustworthy(500.0)
