"""The insight tabs of issue 11 (Attribution, Embedding, Channels) and the out-of-domain hint, built and
wired in one place so the main window only adds one line for them."""
from __future__ import annotations

from PySide6.QtCore import QObject

from gui.attribution_binder import AttributionBinder
from gui.channels_binder import ChannelsBinder
from gui.embedding_binder import EmbeddingBinder
from gui.insight_worker import GuiThreadCollection
from gui.ood_binder import OodBinder
from gui.panels.attribution_view import AttributionView
from gui.panels.channels_view import ChannelsView
from gui.panels.embedding_view import EmbeddingView


class InsightViews(QObject):
    """``window`` is the MainWindow: its state, feature-map view, prediction view and ``add_view``."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self._collection = GuiThreadCollection()  # before any worker thread starts
        state = window.state
        self.attribution_view = AttributionView()
        self.embedding_view = EmbeddingView()
        self.channels_view = ChannelsView()
        self.attribution = AttributionBinder(state, self.attribution_view, self)
        self.embedding = EmbeddingBinder(state, self.embedding_view, self)
        self.channels = ChannelsBinder(state, self.channels_view, window.feature_maps, self)
        self.ood = OodBinder(state, window.prediction, self)
        window.add_view("Attribution", self.attribution_view, self.attribution)
        window.add_view("Embedding", self.embedding_view, self.embedding)
        window.add_view("Channels", self.channels_view, self.channels)
        self.ood.message.connect(window.show_message)
        self.ood.error.connect(window.show_error)

    def close(self) -> None:
        """Stop timers and background work: the window is closing."""
        for binder in (self.attribution, self.embedding, self.channels, self.ood):
            binder.close()
        self._collection.close()
