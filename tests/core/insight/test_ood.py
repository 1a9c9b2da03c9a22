import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from core.data import Dataset
from core.insight.model_input import InsightError
from core.insight.ood import OodDetector, classifier_input_layer
from core.inspect import inspect
from core.preprocess import MNIST_NORMALIZATION, drawing_to_input, identity_normalization

SAMPLES = 100


def _part(dataset, part):
    return Dataset(dataset.name, dataset.images[part], dataset.labels[part], dataset.classes, dataset.normalization)


@pytest.fixture(scope="module")
def detector(trained_lenet, mnist_train, mnist_test):
    """Calibrated on the first half of the test split; the second half stays unseen."""
    return OodDetector.calibrate(trained_lenet, mnist_train, _part(mnist_test, slice(0, 500)))


def _scribbles(count, seed=0):
    """Random pen strokes on the drawing canvas, reduced the way drawn digits are."""
    rng = np.random.default_rng(seed)
    scribbles = []
    for _ in range(count):
        canvas = Image.new("L", (280, 280))
        points = [tuple(rng.uniform(20, 260, 2)) for _ in range(rng.integers(3, 8))]
        ImageDraw.Draw(canvas).line(points, fill=255, width=int(rng.integers(12, 24)), joint="curve")
        scribbles.append(drawing_to_input(np.asarray(canvas)))
    return scribbles


def _flag_rate(detector, model, inputs):
    return np.mean([detector.check(model, x).out_of_domain for x in inputs])


def test_scribbles_noise_and_inverted_digits_are_flagged_more_often_than_test_digits(
    detector, trained_lenet, mnist_test
):
    rng = np.random.default_rng(1)
    unseen = mnist_test.images[500 : 500 + SAMPLES]
    noise = [MNIST_NORMALIZATION.apply(rng.random((1, 28, 28), dtype=np.float32)) for _ in range(SAMPLES)]
    inverted = [MNIST_NORMALIZATION.apply(1 - MNIST_NORMALIZATION.invert(x)) for x in unseen]
    digits_rate = _flag_rate(detector, trained_lenet, unseen)
    assert digits_rate <= 0.05
    assert _flag_rate(detector, trained_lenet, noise) >= 0.9
    assert _flag_rate(detector, trained_lenet, inverted) >= 0.9
    assert _flag_rate(detector, trained_lenet, _scribbles(SAMPLES)) >= digits_rate + 0.2


def test_the_verdict_says_what_was_measured_and_how_it_was_calibrated(detector, trained_lenet, mnist_test):
    digit = detector.check(trained_lenet, mnist_test.images[600])
    assert not digit.out_of_domain and digit.score <= digit.threshold == detector.threshold
    assert digit.measure == "cosine distance to the 5th nearest training sample at 'flatten'"
    assert digit.calibration.startswith(f"threshold {detector.threshold:.3f} = the 99% percentile over 500 test")
    assert "4,000 training samples" in digit.calibration
    assert digit.explanation.startswith("Like the training data")
    noise = detector.check(trained_lenet, np.random.default_rng(0).normal(size=(1, 28, 28)))
    assert noise.out_of_domain and noise.explanation.startswith("Unlike the training data")
    assert detector.calibration_seconds > 0


def test_the_gui_can_reuse_the_activation_of_its_own_forward(detector, trained_lenet, mnist_test):
    x = mnist_test.images[700]
    assert detector.verdict(inspect(trained_lenet, x).activations[detector.layer]) == detector.check(trained_lenet, x)


def test_the_feature_layer_is_what_the_first_fully_connected_layer_reads(trained_lenet, colour_net):
    assert classifier_input_layer(trained_lenet, (1, 28, 28)) == "flatten"
    assert classifier_input_layer(colour_net, (3, 16, 16)) == "pool"  # its flatten is a function call


def test_a_users_colour_model_can_be_calibrated(colour_net):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(60, 3, 16, 16)).astype(np.float32)
    data = Dataset("noise", images, np.arange(60, dtype=np.int64) % 4, tuple("abcd"), identity_normalization(3))
    detector = OodDetector.calibrate(colour_net, _part(data, slice(0, 40)), _part(data, slice(40, 60)))
    assert detector.layer == "pool" and detector.reference.shape == (40, 32)
    assert np.isfinite(detector.check(colour_net, images[0]).score)
    with torch.no_grad():
        colour_net.head.weight.zero_()  # weights change: the detector keeps the calibration it had
    assert detector.check(colour_net, images[0]).threshold == detector.threshold


def test_bad_calibration_gets_a_one_line_message(trained_lenet, mnist_train, mnist_test):
    with pytest.raises(InsightError, match="quantile must be between 0 and 1"):
        OodDetector.calibrate(trained_lenet, mnist_train, mnist_test, quantile=99)
    with pytest.raises(InsightError, match="more than 5 training and 2 test samples"):
        OodDetector.calibrate(trained_lenet, _part(mnist_train, slice(0, 3)), mnist_test)
    with pytest.raises(InsightError, match="no layer named 'fc7'"):
        OodDetector.calibrate(
            trained_lenet, _part(mnist_train, slice(0, 50)), _part(mnist_test, slice(0, 20)), layer="fc7"
        )
