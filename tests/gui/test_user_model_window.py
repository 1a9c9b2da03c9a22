"""A practitioner's own nn.Module in the window: inspected like ours, refused for training with a reason."""
import numpy as np
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest

from core.model_session import ModelSession
from core.preprocess import identity_normalization
from core.receptive_field import unit_box
from core.user_model import load_user_model
from gui.main_window import MainWindow
from tests.core.test_user_model import RESIDUAL_NET
from tests.gui.user_actions import click, drag, hover_unit, seven


def test_own_model_is_shown_drawn_on_and_hovered_but_not_trained(qtbot, tmp_path):
    (tmp_path / "my_net.py").write_text(RESIDUAL_NET)
    model = load_user_model(f"{tmp_path / 'my_net.py'}:build", (3, 32, 32))
    session = ModelSession(model, (3, 32, 32), ("a", "b", "c", "d"), identity_normalization(3))
    window = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), model=session)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert window.current_layer_name() == "stem"
    assert [row[0] for row in window.editor.table_rows()] == ["stem", "block.conv", "block.act", "pool", "head"]
    assert window.filters.mosaic().ndim == 3  # RGB first-layer filters
    drag(window.canvas, seven())
    assert window.current_probabilities().shape == (4,)
    QTest.keyClick(window, Qt.Key.Key_Right)
    assert window.current_layer_name() == "block.conv" and window.feature_maps.map_shape() == (16, 16)
    hover_unit(window.feature_maps, 2, 5, 9)
    expected = unit_box(session.layers[1].rf, 5, 9, (32, 32))
    assert window.input_view.receptive_field_box() == (expected.top, expected.left, expected.bottom, expected.right)
    click(window, "startButton")
    assert "can be inspected but not trained" in window.last_message()
    assert not window.coordinator.active
    assert not window.files.save_checkpoint_to(str(tmp_path / "x.pt")) and not (tmp_path / "x.pt").exists()
    np.testing.assert_array_equal(window.state.session.weights()["head.bias"], model.head.bias.detach().numpy())
    window.close()
