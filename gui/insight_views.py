"""The insight tabs beside the filters, built and wired in one place so the main window adds one line:
Unit and Channel (issue 10: why a unit fires, what a channel looks for), Attribution, Embedding and
Channel switches (issue 11), and the out-of-domain hint under the prediction."""
from __future__ import annotations

from PySide6.QtCore import QObject

from gui.attribution_binder import AttributionBinder
from gui.channel_binder import ChannelBinder
from gui.channels_binder import ChannelsBinder
from gui.embedding_binder import EmbeddingBinder
from gui.ood_binder import OodBinder
from gui.panels.attribution_view import AttributionView
from gui.panels.channels_view import ChannelsView
from gui.panels.embedding_view import EmbeddingView
from gui.unit_binder import UnitBinder


class InsightViews(QObject):
    """``window`` is the MainWindow: its state, feature-map and prediction views, tabs and ``add_view``."""

    def __init__(self, window) -> None:
        super().__init__(window)
        state = window.state
        self.unit = UnitBinder(state, window.feature_maps, parent=window)
        self.channel = ChannelBinder(state, window.feature_maps, parent=window)
        self.attribution_view = AttributionView()
        self.embedding_view = EmbeddingView()
        self.channels_view = ChannelsView()
        self.attribution = AttributionBinder(state, self.attribution_view, self)
        self.embedding = EmbeddingBinder(state, self.embedding_view, self)
        self.channels = ChannelsBinder(state, self.channels_view, window.feature_maps, self)
        self.ood = OodBinder(state, window.prediction, self)
        window.add_view("Unit", self.unit.view, self.unit)
        window.add_view("Channel", self.channel.view, self.channel)
        window.add_view("Attribution", self.attribution_view, self.attribution)
        window.add_view("Embedding", self.embedding_view, self.embedding)
        window.add_view("Channel switches", self.channels_view, self.channels)
        self.ood.message.connect(window.show_message)
        self.ood.error.connect(window.show_error)
        self._tabs = window.tabs
        window.feature_maps.unitClicked.connect(self._bring_unit_forward)

    def close(self) -> None:
        """Stop timers and background work: the window is closing."""
        for binder in (self.unit, self.channel, self.attribution, self.embedding, self.channels, self.ood):
            binder.close()

    def _bring_unit_forward(self, *_unit) -> None:
        """A clicked unit is explained, unless the Channel tab is on show (it follows the click itself)."""
        if self._tabs.currentWidget() is not self.channel.view:
            self._tabs.setCurrentWidget(self.unit.view)
