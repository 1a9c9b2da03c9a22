"""The runs table on its own: what a refresh with nothing new does to it."""
from __future__ import annotations

from PySide6.QtWidgets import QTableWidget

from gui.panels.runs_panel import RunRow, RunsPanel


def _rows(steps: int) -> list[RunRow]:
    return [
        RunRow("/runs/a", "a", "finished", 0.97, 900, 40.0, "lr 0.05", "a"),
        RunRow("/runs/b", "b", "running", None, steps, 12.0, "lr 0.1", "b"),
    ]


def test_a_refresh_with_the_same_runs_leaves_the_table_alone_and_a_change_shows(qtbot):
    panel = RunsPanel()
    qtbot.addWidget(panel)
    table = panel.findChild(QTableWidget, "runsTable")
    panel.set_runs(_rows(steps=10))
    shown = [table.item(row, 1) for row in range(table.rowCount())]
    panel.set_runs(_rows(steps=10))
    assert [table.item(row, 1) for row in range(table.rowCount())] == shown  # the same items: nothing made anew
    panel.set_runs(_rows(steps=20))
    steps = {table.item(row, 1).text(): table.item(row, 4).text() for row in range(table.rowCount())}
    assert steps == {"a": "900", "b": "20"}
