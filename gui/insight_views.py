"""The Unit and Channel tabs: built beside the filters, and the Unit tab brought forward when a unit is
clicked (unless the Channel tab is on show, which follows the click itself)."""
from __future__ import annotations

from gui.channel_binder import ChannelBinder
from gui.unit_binder import UnitBinder


class InsightViews:
    def __init__(self, window) -> None:
        """``window``: the MainWindow (its state, feature maps, tabs and ``add_view``)."""
        self.unit = UnitBinder(window.state, window.feature_maps, parent=window)
        self.channel = ChannelBinder(window.state, window.feature_maps, parent=window)
        window.add_view("Unit", self.unit.view, self.unit)
        window.add_view("Channel", self.channel.view, self.channel)
        self._tabs = window.tabs
        window.feature_maps.unitClicked.connect(self._bring_unit_forward)

    def close(self) -> None:
        self.unit.close()
        self.channel.close()

    def _bring_unit_forward(self, *_unit) -> None:
        if self._tabs.currentWidget() is not self.channel.view:
            self._tabs.setCurrentWidget(self.unit.view)
