import numpy as np
import pytest
import torch

from core.architecture import PRESETS, build_model
from core.insight.attribution import METHODS, attribute, compare, occlusion_window
from core.insight.model_input import InsightError, black_baseline

DIGITS = 40


def _parameters(model):
    return [p.detach().clone() for p in model.parameters()]


def _models(colour_net):
    torch.manual_seed(0)
    return {
        "lenet": (build_model(PRESETS["lenet"]), (1, 28, 28)),
        "tinyvgg": (build_model(PRESETS["tinyvgg"]), (1, 28, 28)),
        "colour user model": (colour_net, (3, 16, 16)),
    }


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("model_name", ["lenet", "tinyvgg", "colour user model"])
def test_each_method_gives_a_finite_map_of_the_input_size(method, model_name, colour_net):
    model, shape = _models(colour_net)[model_name]
    model.train()
    before = _parameters(model)
    x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    result = attribute(model, x, 1, method)
    assert result.shape == shape[1:] and result.dtype == np.float32
    assert np.isfinite(result).all()
    if not METHODS[method].signed:
        assert result.min() >= 0
    assert model.training, "the model's mode is restored"
    assert all(torch.equal(a, b) for a, b in zip(before, _parameters(model)))
    assert all(p.grad is None for p in model.parameters())


def test_a_torch_tensor_input_gives_the_same_map_as_numpy(trained_lenet, mnist_test):
    x = mnist_test.images[0]
    np.testing.assert_array_equal(
        attribute(trained_lenet, torch.from_numpy(x.copy()), 3, "saliency"), attribute(trained_lenet, x, 3, "saliency")
    )


def test_gradcam_at_the_last_conv_puts_more_mass_on_the_ink_than_on_the_background(trained_lenet, mnist_test):
    background = mnist_test.images.min()
    ink_means, background_means = [], []
    for image, label in zip(mnist_test.images[:DIGITS], mnist_test.labels[:DIGITS]):
        cam = attribute(trained_lenet, image, int(label), "gradcam")
        ink = image[0] > background
        ink_means.append(cam[ink].mean())
        background_means.append(cam[~ink].mean())
    ink_means, background_means = np.array(ink_means), np.array(background_means)
    assert ink_means.mean() > 2 * background_means.mean()
    assert (ink_means > background_means).mean() >= 0.7


def test_gradcam_places_each_unit_where_it_looks(trained_lenet, mnist_test):
    # conv2's units are centred on input rows and columns 6.5 ... 20.5: nothing lands on the border.
    cam = attribute(trained_lenet, mnist_test.images[0], int(mnist_test.labels[0]), "gradcam", layer="conv2")
    assert cam[6:22, 6:22].max() > 0
    assert not cam[:6].any() and not cam[22:].any() and not cam[:, :6].any() and not cam[:, 22:].any()


def test_gradcam_takes_any_layer_with_maps_and_explains_the_others(trained_lenet, mnist_test):
    x = mnist_test.images[0]
    assert attribute(trained_lenet, x, 7, "gradcam", layer="relu1").shape == (28, 28)
    with pytest.raises(InsightError, match="'fc1' has none"):
        attribute(trained_lenet, x, 7, "gradcam", layer="fc1")
    with pytest.raises(InsightError, match="no layer named 'conv9'; did you mean 'conv2'"):
        attribute(trained_lenet, x, 7, "gradcam", layer="conv9")


def test_integrated_gradients_add_up_to_the_logit_change_from_the_baseline(trained_lenet, mnist_test):
    baseline = black_baseline(mnist_test.normalization)
    x, label = mnist_test.images[1], int(mnist_test.labels[1])
    result = attribute(trained_lenet, x, label, "integrated_gradients", baseline=baseline)
    black = np.broadcast_to(baseline.reshape(-1, 1, 1), x.shape).copy()
    with torch.no_grad():
        logits = trained_lenet(torch.from_numpy(np.stack([x, black])))
    change = float(logits[0, label] - logits[1, label])
    assert result.sum() == pytest.approx(change, rel=0.02)


@pytest.mark.parametrize("method", ["integrated_gradients", "occlusion"])
def test_why_a_and_not_b_is_the_difference_of_the_signed_maps(trained_lenet, mnist_test, method):
    x = mnist_test.images[2]
    difference = attribute(trained_lenet, x, 4, method) - attribute(trained_lenet, x, 9, method)
    np.testing.assert_allclose(compare(trained_lenet, x, 4, 9, method), difference, atol=1e-5)


def test_why_a_and_not_b_for_saliency_is_the_margins_gradient(trained_lenet, mnist_test):
    x = mnist_test.images[2]
    tensor = torch.from_numpy(x.copy()).unsqueeze(0).requires_grad_(True)
    logits = trained_lenet(tensor)
    (logits[0, 4] - logits[0, 9]).backward()
    np.testing.assert_allclose(compare(trained_lenet, x, 4, 9, "saliency"), tensor.grad[0, 0].abs().numpy(), atol=1e-6)


def test_occlusion_windows_are_a_seventh_of_the_side():
    assert occlusion_window(28, 28) == ((4, 4), (2, 2))
    assert occlusion_window(224, 224) == ((32, 32), (32, 32))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, x: attribute(m, x, 3, "lime"), "unknown attribution method 'lime'"),
        (lambda m, x: attribute(m, x, 10, "saliency"), "target class 10 is out of range: this model has 10"),
        (lambda m, x: compare(m, x, 3, -1, "occlusion"), "compared class -1 is out of range"),
        (lambda m, x: attribute(m, x, 2.5, "saliency"), "must be a whole number"),
        (lambda m, x: attribute(m, x[0], 3, "saliency"), r"one \(C, H, W\) image, got shape \(28, 28\)"),
        (lambda m, x: attribute(m, x * np.nan, 3, "saliency"), "NaN"),
        (lambda m, x: attribute(m, x, 3, "integrated_gradients", baseline=[0.0, 1.0]), "one per channel"),
    ],
)
def test_bad_arguments_get_a_one_line_message(trained_lenet, mnist_test, call, message):
    with pytest.raises(InsightError, match=message):
        call(trained_lenet, mnist_test.images[0])
