"""Why the network does what it does, computed without a window: the views in gui/ only draw these.

Importing this package stays light: captum and scikit-learn are imported by the functions that use them.
"""
from core.insight.attribution import DEFAULT_METHOD, METHODS, AttributionMethod, attribute, compare
from core.insight.embedding import Embedding, EmbeddingCancelled, embed
from core.insight.faithfulness import Faithfulness, faithfulness
from core.insight.intervention import (
    Interventions,
    channel_intervention,
    inspect_with,
    probabilities_with,
    rank_channels,
)
from core.insight.model_input import InsightError, black_baseline
from core.insight.ood import OodDetector, OodVerdict

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "AttributionMethod",
    "Embedding",
    "EmbeddingCancelled",
    "Faithfulness",
    "InsightError",
    "Interventions",
    "OodDetector",
    "OodVerdict",
    "attribute",
    "black_baseline",
    "channel_intervention",
    "compare",
    "embed",
    "faithfulness",
    "inspect_with",
    "probabilities_with",
    "rank_channels",
]
