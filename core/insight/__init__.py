"""Why the network does what it does, computed without a window: the views in gui/ only draw these."""
from core.insight._model import InsightError
from core.insight.erf_stats import ErfStats, erf_over_training, erf_stats
from core.insight.feature_visualization import value_range_of, visualize_channel
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
    "AxisWindow",
    "BatchNormFacts",
    "Contribution",
    "ErfStats",
    "InsightError",
    "LayerShape",
    "ShapeRule",
    "TopExample",
    "TopExampleRecorder",
    "UnitExplanation",
    "UnitKind",
    "crop_to_receptive_field",
    "erf_over_training",
    "erf_stats",
    "explain_unit",
    "layer_shapes",
    "shape_formula",
    "shape_formulas",
    "top_examples",
    "top_examples_all",
    "value_range_of",
    "visualize_channel",
]
