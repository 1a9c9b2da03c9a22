"""Make the README's screenshots of the insight tabs: docs/attribution.png, docs/embedding.png,
docs/channels.png (the real window, offscreen, 1560x960, bundled model and test digits).

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/insight_screenshots.py [OUT_FOLDER]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FOUR_LIKE_A_NINE = 834  # a test 4 the bundled LeNet gives a 4% chance of being a 9


def main() -> None:
    import torch
    from PySide6.QtCore import QEvent, QPointF, QSettings, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication, QSplitter

    torch.set_num_threads(1)
    app = QApplication(sys.argv[:1])
    from core.session_store import SessionStore
    from gui.main_window import MainWindow

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs"
    home = tempfile.mkdtemp(prefix="convscope-shots-")
    window = MainWindow(
        settings=QSettings(f"{home}/settings.ini", QSettings.Format.IniFormat), store=SessionStore(home), offer_restore=False
    )
    window.show()
    insight = window.insight

    def settle(seconds: float = 0.4) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.01)
        for binder in (insight.attribution, insight.embedding, insight.channels, insight.ood):
            binder.wait(120)
        app.processEvents()

    for splitter in window.findChildren(QSplitter):
        if splitter.widget(0) is window.feature_maps:
            splitter.setSizes([400, 460])  # room for the tab under the maps
    settle()
    insight.ood.calibrate()
    window.state.show_sample(FOUR_LIKE_A_NINE)
    window.state.select_layer("conv2")

    window.tabs.setCurrentWidget(insight.attribution_view)
    insight.attribution.choose_method("integrated_gradients")
    insight.attribution.choose(other=9)  # "why 4 and not 9"
    settle(0.8)
    window.grab().save(str(out / "attribution.png"))

    window.tabs.setCurrentWidget(insight.channels_view)
    settle()
    for channel in insight.channels_view.ranked_channels()[:2]:
        window.state.toggle_channel("conv2", channel)
    settle()
    window.grab().save(str(out / "channels.png"))
    window.state.clear_interventions()

    window.state.select_layer("relu4")
    window.tabs.setCurrentWidget(insight.embedding_view)
    settle(1.0)
    matrix = window.state.evaluate().matrix.copy()
    matrix[range(len(matrix)), range(len(matrix))] = 0
    window.state.browse_cell(*divmod(int(matrix.argmax()), len(matrix)))  # the most common confusion
    view = insight.embedding_view
    point = int(window.state.browse.indices[-1])
    settle()  # the plot's range follows its points when it is next painted
    viewport, where = view.plot.viewport(), QPointF(view.point_position(point))
    hover = QMouseEvent(QEvent.Type.MouseMove, where, viewport.mapToGlobal(where), Qt.MouseButton.NoButton,
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, hover)
    settle()
    window.grab().save(str(out / "embedding.png"))
    window.close()
    print(f"wrote {out}/attribution.png, channels.png, embedding.png")


if __name__ == "__main__":
    main()
