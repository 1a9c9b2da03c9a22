"""The Embedding tab, driven through the real window: hover and click points, click confusion cells."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox, QPushButton

from core.weights import WeightsSnapshot
from tests.gui.user_actions import choose, click, click_table_cell, open_tab

TIMEOUT_MS = 30_000


@pytest.fixture
def embedding(window, qtbot):
    window.state.select_layer("relu4")
    open_tab(window, "Embedding")
    view = window.insight.embedding_view
    qtbot.waitUntil(lambda: view.point_count() == 1000, timeout=TIMEOUT_MS)
    return view


def loneliest(view, candidates: np.ndarray) -> int:
    """The candidate point farthest on screen from every other point, so a click cannot hit another."""
    pixels = np.array([[p.x(), p.y()] for p in (view.point_position(i) for i in range(view.point_count()))], float)
    distances = np.linalg.norm(pixels[candidates, None, :] - pixels[None, :, :], axis=2)
    distances[np.arange(len(candidates)), candidates] = np.inf
    return int(candidates[np.argmax(distances.min(axis=1))])


def test_one_point_per_test_sample_coloured_by_label_and_the_shown_sample_starred(window, embedding):
    projection = window.insight.embedding.projection
    assert projection.embedding.layer == "relu4" and projection.embedding.method == "pca"
    assert len(projection.embedding.points) == 1000
    np.testing.assert_array_equal(projection.embedding.labels, window.state.samples().labels)
    wrong = int(projection.embedding.misclassified.sum())
    assert 0 < wrong < 100 and f"{wrong} misclassified" in embedding.caption.text()
    assert embedding.caption.text().startswith("PCA of relu4: 1,000 test samples, 84 values each")


def test_hover_shows_the_sample_and_a_click_makes_it_the_input_and_selects_its_cell(window, embedding):
    projection = window.insight.embedding.projection.embedding
    point = loneliest(embedding, np.flatnonzero(projection.misclassified))
    index, true, predicted = int(projection.indices[point]), int(projection.labels[point]), int(projection.predicted[point])
    viewport = embedding.plot.viewport()
    QTest.mouseMove(viewport, embedding.point_position(point))
    assert embedding.thumbnail_caption.text() == f"test sample {index + 1}: true {true}, predicted {predicted}"
    assert not embedding.thumbnail.pixmap().isNull()
    assert window.state.evaluation is None
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=embedding.point_position(point))
    assert window.state.input.sample == index
    assert window.input_view.caption.text().startswith(f"true {true}, predicted {predicted}")
    assert f"test sample {index + 1} / 1000" in window.input_view.caption.text()
    assert window.confusion.selected_cell() == (true, predicted)
    np.testing.assert_array_equal(embedding.highlighted(), projection.in_cell(true, predicted))


def test_a_confusion_cell_clicked_rings_its_points(window, embedding, qtbot):
    open_tab(window, "Confusion matrix")
    click(window, "evaluateButton")
    qtbot.waitUntil(lambda: window.confusion.matrix().size > 0, timeout=30_000)
    matrix = window.confusion.matrix()
    true, predicted = np.unravel_index(np.argmax(matrix - np.diag(np.diag(matrix))), matrix.shape)
    click_table_cell(window.confusion.table, int(true), int(predicted))
    assert window.state.browse is not None
    open_tab(window, "Embedding")
    rings = embedding.highlighted()
    assert rings.sum() == matrix[true, predicted]
    np.testing.assert_array_equal(np.flatnonzero(rings), window.state.browse.indices)
    click(window, "browseAllButton")
    assert not embedding.highlighted().any()


def test_another_layer_is_projected_and_new_weights_move_the_points(window, embedding, qtbot):
    binder = window.insight.embedding
    choose(window.findChild(QComboBox, "embeddingLayer"), "conv1")
    qtbot.waitUntil(lambda: binder.projection.embedding.layer == "conv1", timeout=TIMEOUT_MS)
    assert "4,608 values each" in embedding.caption.text()
    state = window.state
    points = binder.projection.embedding.points
    state.apply_snapshot(WeightsSnapshot(4321, {k: v * 1.3 for k, v in state.session.weights().items()}, state.session.id))
    qtbot.waitUntil(lambda: binder.projection.step == 4321, timeout=TIMEOUT_MS)
    assert "Weights of step 4,321" in embedding.caption.text()
    moved = binder.projection.embedding.points
    assert not np.allclose(moved, points)
    assert np.sum(moved * points) > 0  # the axes keep their orientation (the last projection is the reference)


@pytest.mark.slow
def test_t_sne_runs_on_request_and_cancel_drops_it(window, embedding, qtbot):
    binder = window.insight.embedding
    cancel = window.findChild(QPushButton, "cancelEmbedding")
    click(window, "tsneButton")
    assert cancel.isEnabled()
    click(window, "cancelEmbedding")
    assert not cancel.isEnabled() and binder.projection.embedding.method == "pca"
    click(window, "tsneButton")
    qtbot.waitUntil(lambda: binder.projection.embedding.method == "tsne", timeout=120_000)
    assert embedding.caption.text().startswith("t-SNE of relu4") and embedding.point_count() == 1000
