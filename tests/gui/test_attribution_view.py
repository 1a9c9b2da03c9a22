"""The Attribution tab, driven through the real window with clicks and keys."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QComboBox, QPushButton

from core.insight import METHODS
from gui import attribution_binder
from tests.gui.user_actions import choose, click, drag, open_tab, seven

TIMEOUT_MS = 30_000


@pytest.fixture
def attribution(window, qtbot):
    open_tab(window, "Attribution")
    view = window.insight.attribution_view
    qtbot.waitUntil(lambda: view.heatmap() is not None, timeout=TIMEOUT_MS)
    return view


def wait_for_new_heatmap(view, qtbot, before: np.ndarray) -> np.ndarray:
    qtbot.waitUntil(lambda: view.heatmap() is not None and not np.array_equal(view.heatmap(), before), timeout=TIMEOUT_MS)
    return view.heatmap()


def test_grad_cam_of_the_predicted_class_is_shown_with_its_faithfulness(window, attribution):
    heatmap = attribution.heatmap()
    assert attribution.method() == "gradcam" and heatmap.shape == (28, 28)
    assert np.isfinite(heatmap).all() and heatmap.min() >= 0 and heatmap.max() > 0
    assert attribution.levels() == (0.0, pytest.approx(float(heatmap.max())))
    assert attribution.title_text() == "Grad-CAM of class 7, at conv2"  # test sample 1 is a 7
    assert attribution.faithfulness_text().startswith("Faithfulness: P(7) ")
    assert "with the top 10% of this map masked" in attribution.faithfulness_text()


@pytest.mark.parametrize("method", ["integrated_gradients", "occlusion", "saliency"])
def test_a_click_switches_the_method(window, attribution, qtbot, method):
    before = attribution.heatmap()
    click(window, f"attribution_{method}")
    heatmap = wait_for_new_heatmap(attribution, qtbot, before)
    assert attribution.method() == method and heatmap.shape == (28, 28) and np.isfinite(heatmap).all()
    assert attribution.is_signed() == METHODS[method].signed
    low, high = attribution.levels()
    assert (low == -high) if METHODS[method].signed else (low == 0 and heatmap.min() >= 0)
    assert attribution.title_text().startswith(METHODS[method].title)


def test_another_class_a_second_class_and_another_layer_are_one_choice_each(window, attribution, qtbot):
    def shows(title: str) -> None:
        qtbot.waitUntil(lambda: attribution.title_text() == title, timeout=TIMEOUT_MS)

    predicted = attribution.heatmap()
    choose(window.findChild(QComboBox, "attributionTarget"), "3")
    shows("Grad-CAM of class 3, at conv2")
    assert not np.array_equal(attribution.heatmap(), predicted)
    choose(window.findChild(QComboBox, "attributionTarget"), "predicted (7)")
    choose(window.findChild(QComboBox, "attributionOther"), "9")
    shows("Grad-CAM: why 7 and not 9, at conv2")
    choose(window.findChild(QComboBox, "attributionLayer"), "conv1")
    shows("Grad-CAM: why 7 and not 9, at conv1")
    assert attribution.heatmap().shape == (28, 28)


def test_the_default_method_follows_the_pen_on_the_gui_thread_while_it_is_cheap(window, attribution, qtbot, monkeypatch):
    monkeypatch.setattr(attribution_binder, "INLINE_SECONDS", 10.0)  # "cheap", even on a loaded machine
    before = attribution.heatmap()
    drag(window.canvas, seven())
    qtbot.waitUntil(lambda: not np.array_equal(attribution.heatmap(), before))  # a frame after the prediction
    assert not window.findChild(QPushButton, "cancelAttribution").isEnabled()  # nothing sent to the background
    assert attribution.title_text() == "Grad-CAM of class 7, at conv2"


def test_nothing_is_computed_while_the_tab_is_hidden_and_it_catches_up_when_shown(window, attribution, qtbot):
    open_tab(window, "Filters")
    before = attribution.heatmap()
    window.state.show_sample(1)
    assert np.array_equal(attribution.heatmap(), before)
    open_tab(window, "Attribution")
    wait_for_new_heatmap(attribution, qtbot, before)
    click(window, "clearButton")
    qtbot.waitUntil(lambda: attribution.heatmap() is None)
    assert attribution.title_text().startswith("Draw a digit")


def test_a_colour_model_from_code_gets_every_method(qtbot, tmp_path):
    from PySide6.QtCore import QSettings
    from torch import nn

    from core.model_session import ModelSession
    from core.preprocess import identity_normalization
    from gui.main_window import MainWindow

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 10))
    session = ModelSession(model, (3, 32, 32), tuple("0123456789"), identity_normalization(3))
    window = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), model=session)
    qtbot.addWidget(window)
    window.show()
    try:
        open_tab(window, "Attribution")
        view = window.insight.attribution_view
        for method in METHODS:
            before = view.heatmap()
            click(window, f"attribution_{method}")
            qtbot.waitUntil(lambda: view.method() == method and view.heatmap() is not None
                            and not np.array_equal(view.heatmap(), before), timeout=TIMEOUT_MS)
            assert view.heatmap().shape == (32, 32) and np.isfinite(view.heatmap()).all()
        assert window.prediction.hint_text() == ""  # no out-of-domain hint: its training data is unknown
    finally:
        window.close()
