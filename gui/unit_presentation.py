"""What the Unit tab shows for an explanation: titles, equations and grids, in the tutorials' terms.

Qt-free: it turns core's ``UnitExplanation`` into the Unit view's rows, so the view stays dumb and
this can be read (and tested) as plain text.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.insight import UnitExplanation, UnitKind
from gui.panels.unit_view import ClassScores, Grid, GridRow, Vote

MOST_CHANNEL_ROWS = 12
"""Input channels drawn for a conv unit; the others are summed in one line."""


@dataclass(frozen=True)
class UnitContent:
    title: str
    equation: str
    rows: tuple[GridRow, ...] = ()
    votes: tuple[Vote, ...] = ()
    classes: ClassScores | None = None


def unit_content(
    explanation: UnitExplanation, input_name: str, output_name: str | None = None, spatial: bool = True
) -> UnitContent:
    """``input_name`` names what feeds the layer ('the image', 'pool1'), ``output_name`` the activation
    layer after it, if any, for the last line; ``spatial``: the layer's units sit on maps."""
    e = explanation
    maker = {
        UnitKind.CONV: _conv,
        UnitKind.MAX_POOL: _pool,
        UnitKind.AVG_POOL: _pool,
        UnitKind.ACTIVATION: _activation,
        UnitKind.BATCH_NORM: _batch_norm,
        UnitKind.IDENTITY: _identity,
        UnitKind.FLATTEN: _flatten,
        UnitKind.FC: _fc,
    }[e.kind]
    content = maker(e, input_name)
    content = UnitContent(_title(e, spatial), content.equation, content.rows, content.votes, content.classes)
    if e.activation is not None and e.after_activation is not None:
        shows = f", what {output_name} shows" if output_name else ""
        line = f"{e.activation}({n(e.value)}) = {n(e.after_activation)}{shows}"
        content = UnitContent(content.title, f"{content.equation}\n{line}", content.rows, content.votes, content.classes)
    return content


def n(value: float) -> str:
    """A number as the equations write it: four significant digits and a real minus sign."""
    return f"{value:.4g}".replace("-", "−")


def _title(e: UnitExplanation, spatial: bool) -> str:
    if spatial:
        where = f"{e.layer} · map {e.channel} · unit ({e.row}, {e.col})"
    elif e.class_names is not None:
        where = f"{e.layer} · unit {e.channel}, the score (logit) of class {e.class_names[e.channel]}"
    else:
        where = f"{e.layer} · unit {e.channel}"
    return f"{where} = {n(e.value)}"


def _computed(e: UnitExplanation) -> str:
    return f"= {n(e.total)}    (the model computed {n(e.value)})"


def _conv(e: UnitExplanation, input_name: str) -> UnitContent:
    channels = len(e.input_channels)
    sums = e.terms.reshape(channels, -1).sum(axis=1)
    drawn = list(range(channels)) if channels <= MOST_CHANNEL_ROWS else list(np.argsort(-np.abs(sums), kind="stable")[:MOST_CHANNEL_ROWS])
    rows = []
    for i in drawn:
        source = e.input_channels[i]
        where = f"{input_name} channel {source}"
        rows.append(
            GridRow(
                label="",
                grids=(
                    Grid(f"{input_name} ch {source}", e.patch[i], where, e.input_rows, e.input_cols, e.padding_mask),
                    Grid(f"filter {e.channel}, ch {source}", e.weights[i], f"weight [{e.channel}, {source}]"),
                    Grid(f"Σ = {n(sums[i])}", e.terms[i], f"patch × weight, {where}", e.input_rows, e.input_cols, e.padding_mask),
                ),
                operators=("×", "="),
                result="",
            )
        )
    height, width = e.weights.shape[-2:]
    plural = "s" if channels > 1 else ""
    lines = [f"Σ of all {e.terms.size} products ({channels} input channel{plural} × {height}×{width}) = {n(e.terms.sum())}"]
    if len(drawn) < channels:
        rest = np.setdiff1d(np.arange(channels), drawn)
        lines.append(f"    (the {len(rest)} input channels not drawn add {n(sums[rest].sum())})")
    if e.padding_mask is not None and e.padding_mask.any():
        lines.append("    (hatched cells lie on the zero-padding)")
    lines += [f"+ bias {n(e.bias)}", _computed(e)]
    return UnitContent("", "\n".join(lines), tuple(rows))


def _pool(e: UnitExplanation, input_name: str) -> UnitContent:
    window = e.patch[0]
    source = e.input_channels[0]
    where = f"{input_name} channel {source}"
    height, width = window.shape
    if e.kind is UnitKind.MAX_POOL:
        winner_row, winner_col = e.winner
        result = f"max = {n(e.total)}"
        lines = [
            f"max of the {height}×{width} window of {where} = {n(e.total)}",
            f"    the outlined cell, at row {e.input_rows[winner_row]}, col {e.input_cols[winner_col]}, wins",
        ]
    else:
        total = float(e.terms.sum())
        divisor = round(total / e.total) if e.total else e.terms.size
        result = f"mean = {n(e.total)}"
        lines = [f"mean of the {height}×{width} window of {where}", f"= {n(total)} / {divisor}"]
    if e.padding_mask is not None and e.padding_mask.any():
        lines.append("    (hatched cells lie on the padding)")
    lines.append(_computed(e))
    grid = Grid("window", window, where, e.input_rows, e.input_cols, e.padding_mask, e.winner)
    return UnitContent("", "\n".join(lines), (GridRow(f"{input_name}\nchannel {source}", (grid,), (), result),))


def _single(e: UnitExplanation, input_name: str, operator: str) -> tuple[GridRow, ...]:
    """Input → output as two one-cell grids."""
    where = (e.row,), (e.col,)
    grids = (
        Grid("input", np.array([[e.input_value]]), f"{input_name} channel {e.channel}", *where),
        Grid("output", np.array([[e.total]]), f"{e.layer} channel {e.channel}", *where),
    )
    return (GridRow("", grids, (operator,), ""),)


def _activation(e: UnitExplanation, input_name: str) -> UnitContent:
    x = e.input_value
    if e.module_type == "ReLU":
        lines = ["ReLU(x) = max(0, x)", f"ReLU({n(x)}) = {n(e.total)}"]
        lines.append("    negative evidence is cut to 0" if x < 0 else "    positive evidence passes unchanged")
    else:
        lines = [f"{e.module_type}({n(x)}) = {n(e.total)}"]
    lines.append(f"    (the model computed {n(e.value)})")
    return UnitContent("", "\n".join(lines), _single(e, input_name, f"{e.module_type} →"))


def _batch_norm(e: UnitExplanation, input_name: str) -> UnitContent:
    f = e.normalization
    lines = [
        "(x − mean) / √(var + eps) · γ + β",
        f"= ({n(e.input_value)} − {n(f.mean)}) / √({n(f.var)} + {f.eps:g}) · {n(f.gamma)} + {n(f.beta)}",
        _computed(e),
    ]
    return UnitContent("", "\n".join(lines), _single(e, input_name, "→"))


def _identity(e: UnitExplanation, input_name: str) -> UnitContent:
    lines = [f"{e.module_type} passes its input on unchanged outside training:", f"{n(e.input_value)} → {n(e.total)}"]
    return UnitContent("", "\n".join(lines), _single(e, input_name, "→"))


def _flatten(e: UnitExplanation, input_name: str) -> UnitContent:
    channel, row, col = e.source
    _, height, width = e.source_shape
    dims = "×".join(str(v) for v in e.source_shape)
    lines = [
        f"position {e.channel} of the flat vector is channel {channel}, row {row}, col {col} of {input_name}'s {dims} maps:",
        f"{e.channel} = {channel}·{height * width} + {row}·{width} + {col}    (channel by channel, then row by row)",
        f"its value {n(e.input_value)} is copied unchanged",
    ]
    return UnitContent("", "\n".join(lines))


def _fc(e: UnitExplanation, input_name: str) -> UnitContent:
    def label(index: int, source: tuple[int, int, int] | None) -> str:
        if source is None:
            return f"{input_name} unit {index}"
        channel, row, col = source
        return f"{input_name} ch {channel} ({row}, {col})"

    contributions = sorted(e.top_positive + e.top_negative, key=lambda c: -c.product)
    votes = tuple(
        Vote(
            label(c.index, c.source),
            c.product,
            f"{label(c.index, c.source)}: activation {c.activation:.4g} × weight {c.weight:.4g} = {c.product:.4g}".replace("-", "−"),
        )
        for c in contributions
    )
    terms = e.terms
    silent = int(np.count_nonzero(e.patch == 0)) if e.patch is not None else 0
    lines = [
        f"Σ of {terms.size} votes (weight × activation of each input) = {n(terms.sum())}",
        f"    for {n(terms[terms > 0].sum())}, against {n(terms[terms < 0].sum())}"
        + (f"; {silent} inputs are 0 and cast no vote" if silent else ""),
        f"+ bias {n(e.bias)}",
        _computed(e),
    ]
    classes = None
    if e.logits is not None and e.probabilities is not None:
        names = e.class_names or tuple(str(i) for i in range(len(e.logits)))
        classes = ClassScores(tuple(names), e.logits, e.probabilities, e.channel)
        lines.append(f"softmax turns the {len(e.logits)} logits into probabilities: class {names[e.channel]} gets {e.probabilities[e.channel]:.1%}")
    return UnitContent("", "\n".join(lines), votes=votes, classes=classes)
