"""Why the network does what it does, computed without a window: the views in gui/ only draw these.

Importing this package stays light: captum and scikit-learn are imported by the functions that use them.
"""
from core.insight.attribution import DEFAULT_METHOD, METHODS, AttributionMethod, attribute, compare
from core.insight.embedding import Embedding, EmbeddingCancelled, embed
from core.insight.erf_stats import ErfStats, erf_over_training, erf_stats
from core.insight.explanation import Explanation, explain
from core.insight.faithfulness import Faithfulness, faithfulness
from core.insight.feature_visualization import value_range_of, visualize_channel
from core.insight.intervention import (
    Interventions,
    channel_intervention,
    inspect_with,
    probabilities_with,
    rank_channels,
)
from core.insight.model_input import InsightError, black_baseline
from core.insight.ood import OodDetector, OodVerdict
from core.insight.shape_formula import AxisWindow, LayerShape, ShapeRule, layer_shapes, shape_formula, shape_formulas
from core.insight.top_examples import (
    TopExample,
    TopExampleRecorder,
    crop_to_receptive_field,
    top_examples,
    top_examples_all,
)
from core.insight.unit_explainer import BatchNormFacts, Contribution, UnitExplanation, UnitKind, explain_unit

__all__ = [
    "AttributionMethod",
    "AxisWindow",
    "BatchNormFacts",
    "Contribution",
    "DEFAULT_METHOD",
    "Embedding",
    "EmbeddingCancelled",
    "ErfStats",
    "Explanation",
    "Faithfulness",
    "InsightError",
    "Interventions",
    "LayerShape",
    "METHODS",
    "OodDetector",
    "OodVerdict",
    "ShapeRule",
    "TopExample",
    "TopExampleRecorder",
    "UnitExplanation",
    "UnitKind",
    "attribute",
    "black_baseline",
    "channel_intervention",
    "compare",
    "crop_to_receptive_field",
    "embed",
    "erf_over_training",
    "erf_stats",
    "explain",
    "explain_unit",
    "faithfulness",
    "inspect_with",
    "layer_shapes",
    "probabilities_with",
    "rank_channels",
    "shape_formula",
    "shape_formulas",
    "top_examples",
    "top_examples_all",
    "value_range_of",
    "visualize_channel",
]
