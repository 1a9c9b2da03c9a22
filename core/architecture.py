"""Convnets written as CS231n layer patterns, e.g. `INPUT(1x28x28) -> [CONV(8,5) -> RELU -> POOL(2)]*2 -> FC(10)`.

Text is parsed into an `Architecture` (a frozen, fully spelled-out list of layers), checked
analytically before any tensor exists, and built into a `ConvNet`. The reverse direction
(`architecture_of`, `to_text`) lets a checkpoint or a hand-made nn.Sequential be shown as text.
"""
from __future__ import annotations

import difflib
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from core.budget import format_bytes, memory_budget, over_budget
from core.receptive_field import ReceptiveField, rf_step

PRESETS: dict[str, str] = {
    "lenet": "INPUT(1x28x28) -> CONV(8,5) -> RELU -> POOL(2) -> CONV(16,5) -> RELU -> POOL(2)"
    " -> FC(120) -> RELU -> FC(84) -> RELU -> FC(10)",
    "tinyvgg": "INPUT(1x28x28) -> [[CONV(10,3) -> RELU]*2 -> POOL(2)]*2 -> FC(10)",
    "xo": "INPUT(1x9x9) -> CONV(4,3,p=1) -> RELU -> POOL(2) -> FC(2)",
}
DEFAULT_PRESET = "lenet"
DEFAULT_INPUT_SHAPE = (1, 28, 28)

MAX_PARAMETERS = 200_000_000
MAX_VALUES_PER_LAYER = 20_000_000  # one layer's output for one image; keeps a forward pass in memory
MAX_LAYERS = 500
MAX_NESTING = 20
MAX_WINDOW = 1_000_000
"""Largest kernel, stride, padding or dilation: torch keeps them as 32-bit ints and overflows past 2**31."""
BYTES_PER_VALUE = 4  # float32
TRAINING_BYTES_PER_PARAMETER = 4 * BYTES_PER_VALUE
"""Weights, gradients and an optimizer's two moments (Adam) while training."""


class ArchitectureError(ValueError):
    """An architecture that cannot be built, explained for a student.

    `layer` names the offending layer (e.g. "conv3"), `token` the text that was not understood,
    `position` its 1-based character column in the text; each is None when it does not apply.
    """

    def __init__(
        self, message: str, layer: str | None = None, token: str | None = None, position: int | None = None
    ) -> None:
        super().__init__(message)
        self.layer = layer
        self.token = token
        self.position = position


@dataclass(frozen=True)
class LayerSpec:
    """One layer with every parameter spelled out, so equal layers compare equal however written."""

    kind: str
    name: str
    params: tuple[tuple[str, float | int], ...] = ()

    def param(self, key: str) -> float | int:
        for name, value in self.params:
            if name == key:
                return value
        raise KeyError(f"{self.name} has no parameter {key!r}")


@dataclass(frozen=True)
class Architecture:
    """Input shape (channels, height, width) and the expanded layers, flatten included."""

    input_shape: tuple[int, int, int]
    layers: tuple[LayerSpec, ...]

    def to_text(self) -> str:
        """Canonical text: repetitions expanded, defaults left out, the flatten implied."""
        channels, height, width = self.input_shape
        parts = [f"INPUT({channels}x{height}x{width})"]
        parts.extend(_layer_text(spec) for spec in self.layers if spec.kind != "flatten")
        return " -> ".join(parts)

    @property
    def num_classes(self) -> int:
        if not self.layers or self.layers[-1].kind != "fc":
            raise ArchitectureError("the last layer must be FC (the class scores)")
        return int(self.layers[-1].param("units"))


@dataclass(frozen=True)
class LayerInfo:
    """What the app knows of one layer without running it: the one layer record of core and gui.

    ``rf`` is in input pixels; flatten, FC and later layers see the whole input (``rf.spatial`` False).
    """

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    rf: ReceptiveField


@dataclass(frozen=True)
class _Schema:
    """How a layer keyword takes its arguments; `defaults` lists canonical keys in text order."""

    keyword: str
    positional: tuple[str, ...]
    defaults: dict[str, float | int | None]
    aliases: dict[str, str] = field(default_factory=dict)
    floats: tuple[str, ...] = ()


_WINDOW_ALIASES = {"k": "kernel", "s": "stride", "p": "padding", "d": "dilation", "pad": "padding"}
_SCHEMAS: dict[str, _Schema] = {
    "conv": _Schema(
        "CONV",
        ("filters", "kernel"),
        {"filters": None, "kernel": 3, "stride": 1, "padding": 0, "dilation": 1},
        {**_WINDOW_ALIASES, "f": "filters"},
    ),
    "maxpool": _Schema(
        "POOL", ("kernel",), {"kernel": 2, "stride": None, "padding": 0, "dilation": 1}, _WINDOW_ALIASES
    ),
    "avgpool": _Schema("AVGPOOL", ("kernel",), {"kernel": 2, "stride": None, "padding": 0}, _WINDOW_ALIASES),
    "dropout": _Schema("DROPOUT", ("p",), {"p": 0.5}, floats=("p",)),
    "fc": _Schema("FC", ("units",), {"units": None}),
    "relu": _Schema("RELU", (), {}),
    "tanh": _Schema("TANH", (), {}),
    "sigmoid": _Schema("SIGMOID", (), {}),
    "bn": _Schema("BN", (), {}),
}
_KIND_OF_KEYWORD = {schema.keyword: kind for kind, schema in _SCHEMAS.items()} | {"MAXPOOL": "maxpool"}
_NAME_PREFIX = {"maxpool": "pool", "avgpool": "pool"}

_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_DIGITS = re.compile(r"[0-9]+")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(r"->|[A-Za-z_][A-Za-z0-9_]*|[-+]?[0-9][0-9.]*|\S")
_ARROWS = ("->", "\u2192")
_TIMES = ("*", "x", "X", "\u00d7")


@dataclass(frozen=True)
class _Written:
    """A layer as written, before names are given: canonical params and where it stands."""

    kind: str
    params: tuple[tuple[str, float | int], ...]
    position: int


class _Parser:
    """Recursive descent over the raw text, so every error can point at a character column."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> tuple[tuple[int, int, int] | None, list[_Written]]:
        self._skip_space()
        if self.pos == len(self.text):
            raise ArchitectureError(
                "the architecture is empty; write layers such as CONV(8,3) -> RELU -> POOL(2) -> FC(10)",
                token="",
                position=1,
            )
        input_shape = None
        word = _WORD.match(self.text, self.pos)
        if word and word.group().upper() == "INPUT":
            input_shape = self._input()
            self._skip_space()
            if self.pos == len(self.text):
                raise self._error("expected '->' and layers after INPUT")
            if not self._arrow():
                raise self._error(f"missing '->' before {self._token()!r} at position {self.pos + 1}")
        return input_shape, self._pipeline(closing=None, depth=0)

    def _pipeline(self, closing: str | None, depth: int) -> list[_Written]:
        layers = self._item(depth)
        while True:
            self._skip_space()
            if self.pos == len(self.text):
                if closing:
                    raise self._error(f"expected {closing!r} at position {self.pos + 1}, found end of text")
                return layers
            if closing and self.text[self.pos] == closing:
                return layers
            if not self._arrow():
                raise self._error(f"missing '->' before {self._token()!r} at position {self.pos + 1}")
            layers = layers + self._item(depth)
            if len(layers) > MAX_LAYERS:
                raise self._error(f"more than {MAX_LAYERS} layers")

    def _item(self, depth: int) -> list[_Written]:
        self._skip_space()
        if self.pos < len(self.text) and self.text[self.pos] == "[":
            return self._repetition(depth)
        start = self.pos
        word = _WORD.match(self.text, self.pos)
        if not word:
            raise self._error(f"expected a layer such as CONV(8,3) at position {start + 1}, found {self._token()!r}")
        keyword = word.group().upper()
        if keyword == "INPUT":
            raise self._error(f"INPUT must come first, found it at position {start + 1}")
        if keyword not in _KIND_OF_KEYWORD:
            close = difflib.get_close_matches(keyword, [*_KIND_OF_KEYWORD, "INPUT"], n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise self._error(f"unknown layer {_shown(word.group())!r} at position {start + 1}{hint}")
        self.pos = word.end()
        kind = _KIND_OF_KEYWORD[keyword]
        arguments = self._arguments()
        return [_Written(kind, _bind(_SCHEMAS[kind], word.group(), start + 1, arguments), start + 1)]

    def _repetition(self, depth: int) -> list[_Written]:
        opening = self.pos
        if depth >= MAX_NESTING:
            raise self._error(f"brackets nested more than {MAX_NESTING} deep at position {opening + 1}")
        self.pos += 1
        inner = self._pipeline(closing="]", depth=depth + 1)
        self.pos += 1
        self._skip_space()
        if self.pos == len(self.text) or self.text[self.pos] not in _TIMES:
            raise self._error(
                f"missing repetition count after ']' at position {self.pos + 1}: write [ ... ]*N"
            )
        self.pos += 1
        self._skip_space()
        count_position = self.pos
        count = self._number()
        where = f"the repetition count at position {count_position + 1}"
        if not isinstance(count, int):
            raise self._error(f"{where} must be a whole number", position=count_position)
        if count < 1:
            raise self._error(f"{where} must be at least 1, got {count}", position=count_position)
        if len(inner) * count > MAX_LAYERS:
            raise self._error(
                f"the repetition at position {opening + 1} makes {len(inner) * count} layers, "
                f"more than the {MAX_LAYERS} allowed",
                position=opening,
            )
        return inner * count

    def _arguments(self) -> list[tuple[str | None, float | int, int]]:
        self._skip_space()
        if self.pos == len(self.text) or self.text[self.pos] != "(":
            return []
        self.pos += 1
        arguments: list[tuple[str | None, float | int, int]] = []
        self._skip_space()
        if self.pos < len(self.text) and self.text[self.pos] == ")":
            self.pos += 1
            return arguments
        while True:
            self._skip_space()
            start = self.pos
            key = None
            word = _WORD.match(self.text, self.pos)
            if word:
                self.pos = word.end()
                self._skip_space()
                if self.pos == len(self.text) or self.text[self.pos] != "=":
                    raise self._error(f"expected '=' after {_shown(word.group())!r} at position {self.pos + 1}")
                self.pos += 1
                self._skip_space()
                key = word.group().lower()
            arguments.append((key, self._number(), start + 1))
            self._skip_space()
            if self.pos < len(self.text) and self.text[self.pos] == ",":
                self.pos += 1
                continue
            if self.pos < len(self.text) and self.text[self.pos] == ")":
                self.pos += 1
                return arguments
            raise self._error(f"expected ')' at position {self.pos + 1}, found {self._token()!r}")

    def _input(self) -> tuple[int, int, int]:
        start = self.pos
        self.pos += len("INPUT")
        self._skip_space()
        if self.pos == len(self.text) or self.text[self.pos] != "(":
            raise self._error(f"INPUT needs a size such as INPUT(1x28x28) at position {start + 1}", position=start)
        self.pos += 1
        sizes = []
        for index in range(3):
            self._skip_space()
            if index:
                if self.pos == len(self.text) or self.text[self.pos] not in _TIMES:
                    raise self._error(
                        f"expected 'x' at position {self.pos + 1}: INPUT takes channels x height x width, "
                        "e.g. INPUT(1x28x28)"
                    )
                self.pos += 1
                self._skip_space()
            digits = _DIGITS.match(self.text, self.pos)
            if not digits:
                raise self._error(f"expected a whole number at position {self.pos + 1}, found {self._token()!r}")
            if len(digits.group()) > 9:
                raise self._error(f"the number at position {self.pos + 1} is too large")
            self.pos = digits.end()
            sizes.append(int(digits.group()))
        self._skip_space()
        if self.pos == len(self.text) or self.text[self.pos] != ")":
            raise self._error(f"expected ')' at position {self.pos + 1}, found {self._token()!r}")
        self.pos += 1
        return _checked_shape((sizes[0], sizes[1], sizes[2]), position=start + 1)

    def _number(self) -> float | int:
        match = _NUMBER.match(self.text, self.pos)
        if not match:
            raise self._error(f"expected a number at position {self.pos + 1}, found {self._token()!r}")
        literal = match.group()
        if len(literal) > 15:
            raise self._error(f"the number at position {self.pos + 1} is too long")
        self.pos = match.end()
        return float(literal) if any(c in literal for c in ".eE") else int(literal)

    def _arrow(self) -> bool:
        for arrow in _ARROWS:
            if self.text.startswith(arrow, self.pos):
                self.pos += len(arrow)
                return True
        return False

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _token(self) -> str:
        match = _TOKEN.match(self.text, self.pos)
        return _shown(match.group()) if match else "end of text"

    def _error(self, message: str, position: int | None = None) -> ArchitectureError:
        where = self.pos if position is None else position
        match = _TOKEN.match(self.text, where)
        return ArchitectureError(message, token=_shown(match.group()) if match else "", position=where + 1)


def _shown(token: str, limit: int = 40) -> str:
    """A token as messages quote it: a pasted megabyte of letters is cut, not repeated back."""
    return token if len(token) <= limit else token[: limit - 3] + "..."


def _bind(
    schema: _Schema, written: str, where: int, arguments: list[tuple[str | None, float | int, int]]
) -> tuple[tuple[str, float | int], ...]:
    """Positional and keyword arguments -> the schema's canonical (key, value) pairs."""
    values: dict[str, float | int] = {}
    for index, (key, value, position) in enumerate(arguments):
        if key is None:
            if any(earlier is not None for earlier, _, _ in arguments[:index]):
                raise ArchitectureError(
                    f"{written}: the plain value at position {position} cannot follow a named one like s=2",
                    token=str(value),
                    position=position,
                )
            if index >= len(schema.positional):
                taken = f"at most {len(schema.positional)} plain value(s) ({', '.join(schema.positional)})"
                raise ArchitectureError(
                    f"{written} takes {taken if schema.positional else 'no values'}; "
                    f"the value at position {position} is one too many",
                    token=str(value),
                    position=position,
                )
            canonical = schema.positional[index]
        else:
            canonical = schema.aliases.get(key, key)
            if canonical not in schema.defaults:
                accepted = ", ".join(sorted(set(schema.defaults) | set(schema.aliases))) or "nothing"
                raise ArchitectureError(
                    f"{written} has no parameter {key!r} (position {position}); it accepts {accepted}",
                    token=key,
                    position=position,
                )
        if canonical in values:
            raise ArchitectureError(
                f"{written} gets {canonical} twice (position {position})", token=key, position=position
            )
        if canonical in schema.floats:
            value = float(value)
        elif not isinstance(value, int):
            raise ArchitectureError(
                f"{written} {canonical} must be a whole number, got {value} (position {position})",
                token=key or str(value),
                position=position,
            )
        values[canonical] = value
    for canonical, default in schema.defaults.items():
        if canonical in values:
            continue
        if canonical == "stride" and default is None:
            values["stride"] = values["kernel"] if "kernel" in values else schema.defaults["kernel"]
        elif default is None:
            raise ArchitectureError(
                f"{written} at position {where} needs a value for {canonical}, e.g. {_example(schema)}",
                token=written,
                position=where,
            )
        else:
            values[canonical] = default
    return tuple((key, values[key]) for key in schema.defaults)


def _example(schema: _Schema) -> str:
    return {"CONV": "CONV(8,3)", "FC": "FC(10)"}.get(schema.keyword, schema.keyword)


def parse(text: str, input_shape: tuple[int, int, int] | None = None) -> Architecture:
    """Text -> Architecture, refusing anything torch would refuse, with a message for students."""
    if not isinstance(text, str):
        raise ArchitectureError(f"the architecture must be text, got {type(text).__name__}")
    written_shape, written = _Parser(text).parse()
    shape = written_shape or _checked_shape(input_shape or DEFAULT_INPUT_SHAPE)
    layers, positions = _named(written)
    architecture = Architecture(shape, tuple(layers))
    _walk(architecture, positions)
    return architecture


def _checked_shape(shape: tuple[int, int, int], position: int | None = None) -> tuple[int, int, int]:
    if len(shape) != 3 or any(not isinstance(v, int) for v in shape):
        raise ArchitectureError(
            f"the input shape must be three whole numbers (channels, height, width), got {shape!r}", token="INPUT"
        )
    channels, height, width = shape
    if min(shape) < 1:
        raise ArchitectureError(
            f"INPUT sizes must be at least 1, got {channels}x{height}x{width}", token="INPUT", position=position
        )
    if channels * height * width > MAX_VALUES_PER_LAYER:
        values = channels * height * width
        raise ArchitectureError(
            f"the {channels}x{height}x{width} input has {values:,} values ({format_bytes(values * BYTES_PER_VALUE)}), "
            f"more than the {MAX_VALUES_PER_LAYER:,} allowed",
            token="INPUT",
            position=position,
        )
    return channels, height, width


def _named(written: list[_Written]) -> tuple[list[LayerSpec], list[int | None]]:
    """Per-kind counters in forward order, and the flatten implied before the first FC."""
    counters: dict[str, int] = {}
    layers: list[LayerSpec] = []
    positions: list[int | None] = []
    for item in written:
        if item.kind == "fc" and not any(layer.kind == "flatten" for layer in layers):
            layers.append(LayerSpec("flatten", "flatten"))
            positions.append(item.position)
        prefix = _NAME_PREFIX.get(item.kind, item.kind)
        counters[prefix] = counters.get(prefix, 0) + 1
        layers.append(LayerSpec(item.kind, f"{prefix}{counters[prefix]}", item.params))
        positions.append(item.position)
    return layers, positions


def _layer_text(spec: LayerSpec) -> str:
    schema = _SCHEMAS[spec.kind]
    params = dict(spec.params)
    parts = [_number_text(params[key]) for key in schema.positional]
    short = {full: alias for alias, full in schema.aliases.items() if len(alias) == 1}
    for key, default in schema.defaults.items():
        if key in schema.positional:
            continue
        if default is None:
            default = params["kernel"]
        if params[key] != default:
            parts.append(f"{short.get(key, key)}={_number_text(params[key])}")
    return f"{schema.keyword}({','.join(parts)})" if parts else schema.keyword


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape)


def _number_text(value: float | int) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class _Step:
    """A layer with the shape it receives and its table row."""

    spec: LayerSpec
    input_shape: tuple[int, ...]
    info: LayerInfo


def _walk(architecture: Architecture, positions: list[int | None] | None = None) -> list[_Step]:
    """Shapes, parameter counts and receptive fields, layer by layer, refusing what cannot run."""
    channels, height, width = _checked_shape(architecture.input_shape)
    shape: tuple[int, ...] = (channels, height, width)
    size, jump, start = 1, 1, 0
    total = 0
    activations = channels * height * width
    budget = memory_budget()
    names: set[str] = set()
    steps: list[_Step] = []
    for index, spec in enumerate(architecture.layers):
        position = positions[index] if positions else None

        def fail(reason: str) -> ArchitectureError:
            return ArchitectureError(f"{spec.name}: {reason}", layer=spec.name, position=position)

        if not spec.name or "." in spec.name or spec.name in names:
            raise fail("layer names must be unique and contain no '.'")
        names.add(spec.name)
        if spec.kind not in _SCHEMAS and spec.kind != "flatten":
            raise fail(f"unknown layer kind {spec.kind!r}")
        expected = tuple(_SCHEMAS[spec.kind].defaults) if spec.kind in _SCHEMAS else ()
        if tuple(key for key, _ in spec.params) != expected:
            raise fail(f"expects the parameters {expected}, got {spec.params}")
        out_shape, params, window = _layer_shape(spec, shape, fail)
        if window is not None:
            size, jump, start = rf_step(size, jump, start, *window)
        elif len(out_shape) == 1:
            size, jump, start = max(height, width), 0, 0
        values = _values(out_shape)
        if values > MAX_VALUES_PER_LAYER:
            raise fail(
                f"{_layer_text(spec) if spec.kind in _SCHEMAS else spec.kind} on {_shape_text(shape)} gives "
                + (f"{_shape_text(out_shape)} = " if len(out_shape) > 1 else "")
                + f"{values:,} values ({format_bytes(values * BYTES_PER_VALUE)}) per image, "
                f"more than the {MAX_VALUES_PER_LAYER:,} a layer may have"
            )
        total += params
        if total > MAX_PARAMETERS:
            raise fail(f"the model would have {total:,} parameters, more than the {MAX_PARAMETERS:,} limit")
        if spec.kind != "flatten":  # a view of its input: no memory of its own
            activations += values
        needed = (total + activations) * BYTES_PER_VALUE
        if needed > budget:
            raise fail(
                over_budget(
                    f"the model up to here ({total:,} parameters and {activations:,} activation values per image)",
                    needed,
                    budget,
                )
            )
        spatial = len(out_shape) == 3
        rf = ReceptiveField(
            spec.name, spec.kind, out_shape, size if spatial else height, jump, start,
            size if spatial else width, jump, start, spatial,
        )
        steps.append(_Step(spec, shape, LayerInfo(spec.name, spec.kind, out_shape, params, rf)))
        shape = out_shape
    if not architecture.layers or architecture.layers[-1].kind != "fc":
        last = architecture.layers[-1].name if architecture.layers else None
        raise ArchitectureError(
            "the last layer must be FC (the class scores)",
            layer=last,
            position=positions[-1] if positions else None,
        )
    return steps


def _layer_shape(
    spec: LayerSpec, shape: tuple[int, ...], fail: Callable[[str], ArchitectureError]
) -> tuple[tuple[int, ...], int, tuple[int, int, int, int] | None]:
    """(output shape, parameter count, (kernel, stride, padding, dilation) or None) of one layer."""
    params = dict(spec.params)
    flat = len(shape) == 1
    if spec.kind in ("conv", "maxpool", "avgpool"):
        what = "a convolution" if spec.kind == "conv" else "pooling"
        if flat:
            raise fail(f"{what} cannot follow a fully connected layer")
        if spec.kind == "conv" and params["filters"] < 1:
            raise fail(f"needs at least 1 filter, got {params['filters']}")
        kernel, stride, padding = params["kernel"], params["stride"], params["padding"]
        dilation = params.get("dilation", 1)
        for key, value, least in (("kernel", kernel, 1), ("stride", stride, 1), ("dilation", dilation, 1)):
            if value < least:
                raise fail(f"{key} must be at least {least}, got {value}")
        if padding < 0:
            raise fail(f"padding cannot be negative, got {padding}")
        for key, value in (("kernel", kernel), ("stride", stride), ("padding", padding), ("dilation", dilation)):
            if value > MAX_WINDOW:
                raise fail(f"{key} {value:,} is more than the {MAX_WINDOW:,} torch can take")
        if spec.kind != "conv" and 2 * padding > kernel:
            raise fail(f"padding {padding} is more than half the {kernel}x{kernel} pooling window (torch refuses it)")
        span = dilation * (kernel - 1) + 1
        channels, height, width = shape
        if span > height + 2 * padding or span > width + 2 * padding:
            thing = f"{kernel}x{kernel} filter" if spec.kind == "conv" else f"{kernel}x{kernel} pooling window"
            if dilation > 1:
                thing += f" with dilation {dilation} spans {span}x{span}, which"
            padded = f" padded by {padding} ({height + 2 * padding}x{width + 2 * padding})" if padding else ""
            raise fail(f"a {thing} does not fit the {height}x{width} input{padded}")
        out_h = (height + 2 * padding - span) // stride + 1
        out_w = (width + 2 * padding - span) // stride + 1
        if spec.kind == "conv":
            filters = params["filters"]
            weights = filters * (channels * kernel * kernel + 1)
            return (filters, out_h, out_w), weights, (kernel, stride, padding, dilation)
        return (channels, out_h, out_w), 0, (kernel, stride, padding, dilation)
    if spec.kind == "flatten":
        if flat:
            raise fail("the input is already flat")
        return (shape[0] * shape[1] * shape[2],), 0, None
    if spec.kind == "fc":
        if not flat:
            raise fail("a fully connected layer needs a flatten before it")
        if params["units"] < 1:
            raise fail(f"needs at least 1 unit, got {params['units']}")
        return (params["units"],), params["units"] * (shape[0] + 1), None
    if spec.kind == "dropout" and not 0 <= params["p"] < 1:
        raise fail(f"p is the fraction of units dropped and must be at least 0 and below 1, got {params['p']}")
    if spec.kind == "bn":
        return shape, 2 * shape[0], None
    return shape, 0, None


def check_batch_size(arch: Architecture | str, batch_size: int, train_size: int | None = None) -> None:
    """Refuse a batch size this architecture cannot train with, before any tensor exists.

    Batch norm on one value per channel (after an FC, or on 1x1 maps) normalises over the batch, so
    torch refuses a batch of one in training; ``train_size`` also catches a last batch of one. And a
    batch's activations (kept for the backward pass) plus the weights' training state must fit the
    memory budget.
    """
    architecture = parse(arch) if isinstance(arch, str) else arch
    steps = _walk(architecture)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ArchitectureError(f"the batch size must be a whole number of at least 1, got {batch_size!r}")
    smallest = batch_size
    if train_size is not None and train_size > 0:
        smallest = min(batch_size, train_size)
        if train_size > batch_size and train_size % batch_size:
            smallest = min(smallest, train_size % batch_size)
    for step in steps:
        per_channel = 1
        for dimension in step.input_shape[1:]:
            per_channel *= dimension
        if step.spec.kind == "bn" and per_channel == 1 and smallest < 2:
            where = "after a fully connected layer" if len(step.input_shape) == 1 else "on 1x1 feature maps"
            last = "" if smallest == batch_size else f" (the last batch of {train_size} examples in batches of {batch_size} holds 1)"
            raise ArchitectureError(
                f"{step.spec.name}: batch norm {where} normalises each value over the batch, so training needs "
                f"batches of at least 2 images{last}",
                layer=step.spec.name,
            )
    per_image, fixed = _batch_memory(architecture, steps, training=True)
    budget = memory_budget()
    needed = per_image * batch_size + fixed
    if needed > budget:
        room = max_batch_size(architecture, training=True)
        hint = f"; use a batch size of at most {room:,}" if room >= 1 else ""
        raise ArchitectureError(over_budget(f"training in batches of {batch_size:,}", needed, budget) + hint)


def max_batch_size(arch: Architecture | str, training: bool) -> int:
    """The largest batch whose activations (and, training, gradients and optimizer state) fit the
    memory budget; 0 when not even one image does."""
    architecture = parse(arch) if isinstance(arch, str) else arch
    per_image, fixed = _batch_memory(architecture, _walk(architecture), training)
    return max(0, (memory_budget() - fixed) // per_image)


def _batch_memory(architecture: Architecture, steps: list[_Step], training: bool) -> tuple[int, int]:
    """(bytes per image in a batch, bytes whatever the batch): every activation is counted, as a
    training forward keeps them all for the backward pass, which makes as many gradients."""
    values = sum(_values(step.info.output_shape) for step in steps if step.spec.kind != "flatten")
    values += _values(architecture.input_shape)
    parameters = sum(step.info.params for step in steps)
    if training:
        return 2 * values * BYTES_PER_VALUE, parameters * TRAINING_BYTES_PER_PARAMETER
    return values * BYTES_PER_VALUE, parameters * BYTES_PER_VALUE


def _values(shape: tuple[int, ...]) -> int:
    count = 1
    for dimension in shape:
        count *= dimension
    return count


def layer_table(arch: Architecture | str) -> list[LayerInfo]:
    """Per-layer output shape, parameter count and receptive field, computed without tensors."""
    architecture = parse(arch) if isinstance(arch, str) else arch
    return [step.info for step in _walk(architecture)]


class ConvNet(nn.Sequential):
    """An nn.Sequential whose children carry the architecture's layer names (conv1, pool1, ...)."""

    def __init__(self, architecture: Architecture) -> None:
        steps = _walk(architecture)
        super().__init__(OrderedDict((step.spec.name, _module(step)) for step in steps))
        self.architecture = architecture


def _module(step: _Step) -> nn.Module:
    params = dict(step.spec.params)
    channels = step.input_shape[0]
    kind = step.spec.kind
    if kind == "conv":
        return nn.Conv2d(
            channels, params["filters"], params["kernel"], params["stride"], params["padding"], params["dilation"]
        )
    if kind == "maxpool":
        return nn.MaxPool2d(params["kernel"], params["stride"], params["padding"], params["dilation"])
    if kind == "avgpool":
        return nn.AvgPool2d(params["kernel"], params["stride"], params["padding"])
    if kind == "bn":
        return nn.BatchNorm1d(channels) if len(step.input_shape) == 1 else nn.BatchNorm2d(channels)
    if kind == "dropout":
        return nn.Dropout(params["p"])
    if kind == "fc":
        return nn.Linear(channels, params["units"])
    return {"flatten": nn.Flatten, "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[kind]()


def build_model(arch: Architecture | str) -> ConvNet:
    """A freshly initialised ConvNet; text is parsed first."""
    return ConvNet(parse(arch) if isinstance(arch, str) else arch)


def architecture_of(model: nn.Module, input_shape: tuple[int, int, int] | None = None) -> Architecture:
    """The Architecture a ConvNet or a plain nn.Sequential of supported layers implements.

    A ConvNet knows its input shape. For a plain nn.Sequential give `input_shape`, or it is taken
    as the smallest square input whose flattened size matches the first nn.Linear.
    """
    if not isinstance(model, nn.Sequential):
        raise ArchitectureError(
            f"architecture_of needs a ConvNet or an nn.Sequential, got {type(model).__name__}"
        )
    children = list(model.named_children())
    written = [_written_of(name, module) for name, module in children]
    layers = _layers_with_torch_flatten(children, written)
    if input_shape is None and isinstance(model, ConvNet):
        input_shape = model.architecture.input_shape
    shape = _checked_shape(input_shape) if input_shape is not None else _inferred_input_shape(children, layers)
    architecture = Architecture(shape, tuple(layers))
    for (child, module), step in zip(children, _walk(architecture)):
        _check_sizes(child, module, step)
    return architecture


def to_text(model_or_arch: nn.Module | Architecture | str) -> str:
    """Canonical text of a model, an Architecture or (normalising it) a text."""
    if isinstance(model_or_arch, Architecture):
        return model_or_arch.to_text()
    if isinstance(model_or_arch, str):
        return parse(model_or_arch).to_text()
    return architecture_of(model_or_arch).to_text()


def _pair(value: int | tuple[int, ...] | str, child: str, what: str) -> int:
    values = (value, value) if isinstance(value, int) else tuple(value)
    if values[0] != values[1]:
        raise ArchitectureError(
            f"layer {child!r}: only square {what}s can be written as text, got {value}", layer=child
        )
    return int(values[0])


def _written_of(child: str, module: nn.Module) -> tuple[str, tuple[tuple[str, float | int], ...]]:
    """(kind, canonical params) of one supported torch module."""
    def unsupported(reason: str) -> ArchitectureError:
        return ArchitectureError(f"layer {child!r}: {reason}, which cannot be written as text", layer=child)

    if type(module) is nn.Conv2d:
        if module.groups != 1 or module.padding_mode != "zeros" or module.bias is None:
            raise unsupported("a Conv2d with groups, non-zero padding or no bias")
        kernel = _pair(module.kernel_size, child, "kernel")
        dilation = _pair(module.dilation, child, "dilation")
        if module.padding == "same" and dilation * (kernel - 1) % 2:
            raise unsupported("'same' padding that is uneven")
        padding = {"valid": 0, "same": dilation * (kernel - 1) // 2}.get(module.padding, module.padding)
        return "conv", (
            ("filters", module.out_channels),
            ("kernel", kernel),
            ("stride", _pair(module.stride, child, "stride")),
            ("padding", _pair(padding, child, "padding")),
            ("dilation", dilation),
        )
    if type(module) is nn.MaxPool2d:
        if module.ceil_mode or module.return_indices:
            raise unsupported("a MaxPool2d with ceil_mode or return_indices")
        return "maxpool", (
            ("kernel", _pair(module.kernel_size, child, "kernel")),
            ("stride", _pair(module.stride, child, "stride")),
            ("padding", _pair(module.padding, child, "padding")),
            ("dilation", _pair(module.dilation, child, "dilation")),
        )
    if type(module) is nn.AvgPool2d:
        if module.ceil_mode or not module.count_include_pad or module.divisor_override is not None:
            raise unsupported("an AvgPool2d with ceil_mode, count_include_pad=False or a divisor")
        return "avgpool", (
            ("kernel", _pair(module.kernel_size, child, "kernel")),
            ("stride", _pair(module.stride, child, "stride")),
            ("padding", _pair(module.padding, child, "padding")),
        )
    if type(module) in (nn.BatchNorm1d, nn.BatchNorm2d):
        if not module.affine or not module.track_running_stats:
            raise unsupported("a BatchNorm without affine weights or running statistics")
        return "bn", ()
    if type(module) is nn.Linear:
        if module.bias is None:
            raise unsupported("a Linear without bias")
        return "fc", (("units", module.out_features),)
    if type(module) is nn.Dropout:
        return "dropout", (("p", float(module.p)),)
    if type(module) is nn.Flatten:
        if module.start_dim != 1 or module.end_dim != -1:
            raise unsupported("a Flatten that keeps some dimensions")
        return "flatten", ()
    simple = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}
    if type(module) in simple:
        return simple[type(module)], ()
    raise unsupported(f"a {type(module).__name__}")


def _layers_with_torch_flatten(
    children: list[tuple[str, nn.Module]], written: list[tuple[str, tuple]]
) -> list[LayerSpec]:
    """Names by the text's rules; the model's flatten must sit where the text implies it."""
    kinds = [kind for kind, _ in written]
    if not kinds or kinds[-1] != "fc":
        raise ArchitectureError(
            "the last layer must be FC (the class scores)", layer=children[-1][0] if children else None
        )
    first_fc = kinds.index("fc")
    flattens = [index for index, kind in enumerate(kinds) if kind == "flatten"]
    if flattens != [first_fc - 1]:
        culprit = children[flattens[0] if flattens else first_fc][0]
        raise ArchitectureError(
            f"layer {culprit!r}: the model needs exactly one nn.Flatten, right before its first nn.Linear "
            "(where the text implies it)",
            layer=culprit,
        )
    layers, _ = _named([_Written(kind, params, 0) for kind, params in written if kind != "flatten"])
    return layers


def _inferred_input_shape(children: list[tuple[str, nn.Module]], layers: list[LayerSpec]) -> tuple[int, int, int]:
    modules = [module for _, module in children]
    spatial = modules[: next(i for i, m in enumerate(modules) if isinstance(m, nn.Flatten))]
    first = next((m for m in spatial if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))), None)
    channels = 1 if first is None else first.in_channels if isinstance(first, nn.Conv2d) else first.num_features
    linear = next(module for module in modules if isinstance(module, nn.Linear))
    for side in range(1, 1025):
        try:
            steps = _walk(Architecture((channels, side, side), tuple(layers)))
        except ArchitectureError:
            continue
        flat = next(step for step in steps if step.spec.kind == "flatten")
        if flat.info.output_shape == (linear.in_features,):
            return channels, side, side
    raise ArchitectureError(
        "cannot tell the input size of this model; pass input_shape=(channels, height, width)"
    )


def _check_sizes(child: str, module: nn.Module, step: _Step) -> None:
    """Refuse a model whose layers disagree with the shapes flowing into them."""
    received = step.input_shape[0]
    expected = {
        nn.Conv2d: "in_channels",
        nn.BatchNorm1d: "num_features",
        nn.BatchNorm2d: "num_features",
        nn.Linear: "in_features",
    }.get(type(module))
    flat = len(step.input_shape) == 1
    if (type(module) is nn.BatchNorm2d and flat) or (type(module) is nn.BatchNorm1d and not flat):
        data = "flat" if flat else "a stack of feature maps"
        raise ArchitectureError(
            f"layer {child!r} ({step.spec.name}) is a {type(module).__name__} where the data is {data}",
            layer=step.spec.name,
        )
    if expected and getattr(module, expected) != received:
        raise ArchitectureError(
            f"layer {child!r} ({step.spec.name}) expects {getattr(module, expected)} inputs but receives {received}",
            layer=step.spec.name,
        )
