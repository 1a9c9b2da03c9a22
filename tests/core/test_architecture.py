"""Layer-pattern text: parsing, errors, round trips and the analytic layer table against torch."""
import random
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from core.architecture import (
    DEFAULT_PRESET,
    PRESETS,
    Architecture,
    ArchitectureError,
    ConvNet,
    LayerSpec,
    architecture_of,
    build_model,
    check_batch_size,
    layer_table,
    parse,
    to_text,
)
from core.receptive_field import receptive_fields


def kinds(text: str) -> list[str]:
    return [layer.kind for layer in parse(text).layers]


def names(text: str) -> list[str]:
    return [layer.name for layer in parse(text).layers]


def test_conv_takes_positional_and_named_values_with_defaults():
    conv = parse("CONV(8,5,s=2,p=1,d=2) -> FC(3)").layers[0]
    assert conv.params == (("filters", 8), ("kernel", 5), ("stride", 2), ("padding", 1), ("dilation", 2))
    assert parse("CONV(8, k=5) -> FC(3)") == parse("CONV(8,5) -> FC(3)")
    assert parse("CONV(8) -> FC(3)").layers[0].param("kernel") == 3
    assert parse("CONV(filters=8, kernel=3, stride=1) -> FC(3)") == parse("CONV(8) -> FC(3)")


def test_pooling_defaults_its_stride_to_the_window():
    pool = parse("POOL(3) -> FC(2)").layers[0]
    assert (pool.kind, pool.param("kernel"), pool.param("stride"), pool.param("padding")) == ("maxpool", 3, 3, 0)
    assert parse("MAXPOOL(3, s=2) -> FC(2)").layers[0].param("stride") == 2
    assert parse("POOL(2) -> FC(2)") == parse("MAXPOOL(2) -> FC(2)")
    avg = parse("AVGPOOL(2, p=1) -> FC(2)").layers[0]
    assert (avg.kind, avg.param("stride"), avg.param("padding")) == ("avgpool", 2, 1)


def test_keywords_are_case_insensitive_and_whitespace_is_free():
    loose = parse("input( 3 x 32 x 32 )->conv( 4 , 3 )->Relu->fc( 2 )")
    assert loose == parse("INPUT(3x32x32) -> CONV(4,3) -> RELU -> FC(2)")
    assert loose.input_shape == (3, 32, 32)


def test_dropout_values_and_activations():
    assert parse("DROPOUT(0.25) -> FC(2)") == parse("DROPOUT(p=0.25) -> FC(2)")
    assert parse("DROPOUT -> FC(2)").layers[0].param("p") == 0.5
    assert kinds("TANH -> SIGMOID -> RELU -> FC(2)") == ["tanh", "sigmoid", "relu", "flatten", "fc"]


def test_flatten_is_implied_and_names_count_per_kind():
    text = (
        "CONV(4,3) -> RELU -> POOL(2) -> BN -> DROPOUT -> AVGPOOL(2) -> FC(20) -> TANH -> BN"
        " -> SIGMOID -> DROPOUT(0.1) -> RELU -> FC(3)"
    )
    assert names(text) == [
        "conv1", "relu1", "pool1", "bn1", "dropout1", "pool2", "flatten", "fc1",
        "tanh1", "bn2", "sigmoid1", "dropout2", "relu2", "fc2",
    ]
    model = build_model(text)
    assert isinstance(model.flatten, nn.Flatten)
    assert isinstance(model.bn1, nn.BatchNorm2d) and isinstance(model.bn2, nn.BatchNorm1d)
    assert isinstance(model.pool2, nn.AvgPool2d)


def test_repetition_expands_and_nests():
    assert kinds("[[CONV(8,3)->RELU]*2->POOL(2)]*2 -> FC(10)") == (
        ["conv", "relu", "conv", "relu", "maxpool"] * 2 + ["flatten", "fc"]
    )
    assert names("[CONV(2,3) -> RELU] * 3 -> FC(2)")[:6] == ["conv1", "relu1", "conv2", "relu2", "conv3", "relu3"]


def test_input_shape_comes_from_text_then_argument_then_default():
    assert parse("FC(2)").input_shape == (1, 28, 28)
    assert parse("FC(2)", input_shape=(3, 8, 8)).input_shape == (3, 8, 8)
    assert parse("INPUT(1x9x9) -> FC(2)", input_shape=(3, 8, 8)).input_shape == (1, 9, 9)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_build_and_forward(preset):
    architecture = parse(PRESETS[preset])
    model = build_model(PRESETS[preset])
    assert isinstance(model, ConvNet) and model.architecture == architecture
    assert [name for name, _ in model.named_children()] == [layer.name for layer in architecture.layers]
    scores = model(torch.zeros(2, *architecture.input_shape))
    assert scores.shape == (2, architecture.num_classes)
    assert architecture_of(model) == architecture
    assert parse(model.architecture.to_text()) == architecture


def test_presets_are_what_the_brief_describes():
    assert DEFAULT_PRESET == "lenet"
    assert parse(PRESETS["xo"]).input_shape == (1, 9, 9)
    assert parse(PRESETS["xo"]).num_classes == 2
    tiny = parse(PRESETS["tinyvgg"])
    assert [layer.kind for layer in tiny.layers].count("conv") == 4
    assert layer_table(tiny)[-3].output_shape == (10, 4, 4)


@pytest.mark.parametrize(
    "text, message, layer, position",
    [
        ("INPUT(1x28x28) -> [CONV(8,5) -> RELU -> POOL(2)]*3 -> FC(10)", "conv3: a 5x5 filter does not fit the 4x4 input",
         "conv3", 20),
        ("INPUT(1x8x8) -> POOL(2) -> POOL(2) -> POOL(2) -> POOL(3) -> FC(2)", "pool4: a 3x3 pooling window does not fit",
         "pool4", 50),
        ("CONV(8,3) -> FC(10) -> CONV(8,3) -> FC(2)", "conv2: a convolution cannot follow a fully connected layer",
         "conv2", 24),
        ("CONV(8,3) -> FC(10) -> POOL(2) -> FC(2)", "pool1: pooling cannot follow a fully connected layer", "pool1", 24),
        ("CONV(8,3) -> RELU", "the last layer must be FC (the class scores)", "relu1", 14),
        ("CONV(0,3) -> FC(2)", "conv1: needs at least 1 filter, got 0", "conv1", 1),
        ("CONV(8,3,s=0) -> FC(2)", "conv1: stride must be at least 1, got 0", "conv1", 1),
        ("CONV(8,-3) -> FC(2)", "conv1: kernel must be at least 1, got -3", "conv1", 1),
        ("CONV(8,3,p=-1) -> FC(2)", "conv1: padding cannot be negative", "conv1", 1),
        ("RELU -> FC(0)", "fc1: needs at least 1 unit, got 0", "fc1", 9),
        ("POOL(3, p=2) -> FC(2)", "pool1: padding 2 is more than half the 3x3 pooling window (torch refuses it)",
         "pool1", 1),
        ("CONV(8,3,d=20) -> FC(2)", "conv1: a 3x3 filter with dilation 20 spans 41x41", "conv1", 1),
        ("DROPOUT(1.5) -> FC(2)", "dropout1: p is the fraction of units dropped", "dropout1", 1),
        ("FC(20000) -> FC(20000)", "fc2: the model would have", "fc2", 14),
        ("CONV(8,3,p=100000) -> FC(2)", "conv1: CONV(8,3,p=100000) on 1x28x28 gives 8x200026x200026", "conv1", 1),
    ],
)
def test_impossible_layers_are_refused_by_name(text, message, layer, position):
    with pytest.raises(ArchitectureError) as caught:
        parse(text)
    assert message in str(caught.value)
    assert caught.value.layer == layer
    assert caught.value.position == position


@pytest.mark.parametrize(
    "text, message, token, position",
    [
        ("INPUT(1x28x28) -> CONVV(8,3) -> FC(10)", "unknown layer 'CONVV' at position 19; did you mean CONV?", "CONVV", 19),
        ("CONV(8,5 -> RELU -> FC(2)", "expected ')' at position 10", "->", 10),
        ("CONV(8,5) RELU -> FC(2)", "missing '->' before 'RELU' at position 11", "RELU", 11),
        ("[RELU]*0 -> FC(1)", "repetition count at position 8 must be at least 1, got 0", "0", 8),
        ("[RELU]*1.5 -> FC(1)", "repetition count at position 8 must be a whole number", "1.5", 8),
        ("[RELU] -> FC(1)", "missing repetition count after ']' at position 8", "->", 8),
        ("[RELU -> FC(1)", "expected ']' at position 15, found end of text", "", 15),
        ("[[RELU]*100]*100 -> FC(1)", "makes 10000 layers", "[", 1),
        ("", "the architecture is empty", "", 1),
        ("FC(2) ->", "expected a layer such as CONV(8,3) at position 9", "", 9),
        ("CONV(8, k=3, 2) -> FC(1)", "cannot follow a named one", "2", 14),
        ("CONV(8,3,3) -> FC(1)", "the value at position 10 is one too many", "3", 10),
        ("CONV(8.5) -> FC(1)", "filters must be a whole number, got 8.5", "8.5", 6),
        ("CONV(8,3,x=1) -> FC(2)", "CONV has no parameter 'x'", "x", 10),
        ("CONV(8,3,s=1,stride=2) -> FC(2)", "gets stride twice", "stride", 14),
        ("CONV -> FC(2)", "CONV at position 1 needs a value for filters", "CONV", 1),
        ("RELU(3) -> FC(2)", "RELU takes no values", "3", 6),
        ("INPUT(1x28) -> FC(2)", "expected 'x' at position 11", ")", 11),
        ("INPUT(0x28x28) -> FC(2)", "INPUT sizes must be at least 1", "INPUT", 1),
        ("  INPUT(9x9999x9999) -> FC(2)", "the 9x9999x9999 input has 899,820,009 values", "INPUT", 3),
        ("RELU -> INPUT(1x2x2) -> FC(1)", "INPUT must come first", "INPUT", 9),
        ("FC(123456789012345678) -> FC(2)", "the number at position 4 is too long", "123456789012345678", 4),
    ],
)
def test_typos_name_the_token_and_its_position(text, message, token, position):
    with pytest.raises(ArchitectureError) as caught:
        parse(text)
    assert message in str(caught.value)
    assert caught.value.token == token
    assert caught.value.position == position


def test_nesting_too_deep_is_an_error_not_a_recursion_crash():
    with pytest.raises(ArchitectureError, match="nested more than"):
        parse("[" * 5000 + "RELU" + "]*1" * 5000 + " -> FC(2)")


def test_layer_spec_param_names_the_missing_key():
    with pytest.raises(KeyError, match="conv1 has no parameter 'units'"):
        parse("CONV(2) -> FC(2)").layers[0].param("units")


def test_build_model_refuses_a_hand_made_architecture_that_cannot_run():
    fc_without_flatten = Architecture((1, 4, 4), (LayerSpec("fc", "fc1", (("units", 2),)),))
    with pytest.raises(ArchitectureError, match="fc1: a fully connected layer needs a flatten before it"):
        build_model(fc_without_flatten)
    duplicated = Architecture(
        (1, 4, 4),
        (LayerSpec("relu", "a"), LayerSpec("relu", "a"), LayerSpec("flatten", "flatten"),
         LayerSpec("fc", "fc1", (("units", 2),))),
    )
    with pytest.raises(ArchitectureError, match="names must be unique"):
        build_model(duplicated)
    missing_units = Architecture((1, 4, 4), (LayerSpec("flatten", "flatten"), LayerSpec("fc", "fc1")))
    with pytest.raises(ArchitectureError, match=r"fc1: expects the parameters \('units',\)"):
        build_model(missing_units)
    with pytest.raises(ArchitectureError, match="input shape must be three whole numbers"):
        build_model(Architecture((4, 4), (LayerSpec("flatten", "flatten"), LayerSpec("fc", "fc1", (("units", 2),)))))


def test_architecture_of_a_plain_sequential_infers_the_square_input():
    model = nn.Sequential(
        nn.Conv2d(3, 6, 5, padding="same"), nn.ReLU(), nn.AvgPool2d(2), nn.BatchNorm2d(6), nn.Dropout(0.3),
        nn.Flatten(), nn.Linear(6 * 16 * 16, 10), nn.Tanh(), nn.BatchNorm1d(10), nn.Linear(10, 4),
    )
    expected = parse(
        "INPUT(3x32x32) -> CONV(6,5,p=2) -> RELU -> AVGPOOL(2) -> BN -> DROPOUT(0.3) -> FC(10) -> TANH -> BN -> FC(4)"
    )
    assert architecture_of(model) == expected
    assert to_text(model) == expected.to_text()
    assert architecture_of(model, input_shape=(3, 33, 33)).input_shape == (3, 33, 33)


@pytest.mark.parametrize(
    "model, message",
    [
        (nn.Linear(3, 2), "needs a ConvNet or an nn.Sequential"),
        (nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten(), nn.Linear(2, 2)), "layer '0': a Conv1d"),
        (nn.Sequential(nn.Conv2d(1, 2, (3, 5)), nn.Flatten(), nn.Linear(2, 2)), "only square kernels"),
        (nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), "the last layer must be FC"),
        (nn.Sequential(nn.Flatten(), nn.BatchNorm1d(4), nn.Linear(4, 2)), "exactly one nn.Flatten"),
        (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(7, 2)), "cannot tell the input size"),
    ],
)
def test_architecture_of_refuses_what_text_cannot_say(model, message):
    with pytest.raises(ArchitectureError, match=message):
        architecture_of(model)


def test_architecture_of_refuses_layers_that_disagree_on_sizes():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(8, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 2))
    with pytest.raises(ArchitectureError, match=r"layer '1' \(conv2\) expects 8 inputs but receives 4"):
        architecture_of(model, input_shape=(1, 8, 8))


def test_to_text_accepts_models_architectures_and_text():
    text = "INPUT(1x9x9) -> CONV(4,3,p=1) -> RELU -> POOL(2) -> FC(2)"
    assert to_text(text) == text
    assert to_text(parse(text)) == text
    assert to_text(build_model(text)) == text
    assert to_text("input(1x9x9)->[conv(4,k=3,p=1,s=1)->relu]*1->maxpool(2,s=2)->fc(2)") == text


def test_layer_table_receptive_fields_match_the_traced_model():
    for text in PRESETS.values():
        architecture = parse(text)
        traced = receptive_fields(build_model(architecture), architecture.input_shape)
        assert [row.rf for row in layer_table(architecture)] == traced


@st.composite
def valid_texts(draw) -> str:
    """Random architectures that fit their input, written with varied spelling."""
    channels, height, width = draw(st.integers(1, 3)), draw(st.integers(4, 20)), draw(st.integers(4, 20))
    parts = [f"INPUT({channels}x{height}x{width})"]
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["CONV", "POOL", "AVGPOOL", "RELU", "TANH", "SIGMOID", "BN", "DROPOUT"]))
        if kind in ("RELU", "TANH", "SIGMOID", "BN"):
            parts.append(kind)
            continue
        if kind == "DROPOUT":
            parts.append(f"DROPOUT({draw(st.sampled_from([0.0, 0.25, 0.5, 0.9]))})")
            continue
        kernel, stride = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        if kind == "CONV":
            padding, dilation = draw(st.integers(0, 2)), draw(st.integers(1, 2))
        else:
            padding, dilation = draw(st.integers(0, kernel // 2)), draw(st.integers(1, 2)) if kind == "POOL" else 1
        span = dilation * (kernel - 1) + 1
        if span > min(height, width) + 2 * padding:
            continue
        height = (height + 2 * padding - span) // stride + 1
        width = (width + 2 * padding - span) // stride + 1
        named = draw(st.booleans())
        args = [str(draw(st.integers(1, 4)))] if kind == "CONV" else []
        args.append(f"k={kernel}" if named else str(kernel))
        args += [f"s={stride}", f"p={padding}"] + ([f"d={dilation}"] if dilation > 1 else [])
        parts.append(f"{kind}({','.join(args)})")
    for _ in range(draw(st.integers(0, 2))):
        parts.append(f"FC({draw(st.integers(1, 12))})")
        parts.append(draw(st.sampled_from(["RELU", "BN", "DROPOUT", "TANH"])))
    parts.append(f"FC({draw(st.integers(1, 5))})")
    return " -> ".join(parts)


@settings(max_examples=60, deadline=None)
@given(valid_texts())
def test_layer_table_matches_what_torch_produces(text):
    architecture = parse(text)
    model = build_model(architecture).eval()
    shapes: dict[str, tuple[int, ...]] = {}

    def remember(name: str, output: torch.Tensor) -> None:
        shapes[name] = tuple(output.shape[1:])

    handles = [
        child.register_forward_hook(lambda _m, _i, output, name=name: remember(name, output))
        for name, child in model.named_children()
    ]
    model(torch.zeros(2, *architecture.input_shape))
    for handle in handles:
        handle.remove()
    table = layer_table(architecture)
    assert [row.name for row in table] == [name for name, _ in model.named_children()]
    for row in table:
        child = getattr(model, row.name)
        assert row.output_shape == shapes[row.name]
        assert row.params == sum(p.numel() for p in child.parameters())
        assert row.kind == next(layer.kind for layer in architecture.layers if layer.name == row.name)


@settings(max_examples=60, deadline=None)
@given(valid_texts())
def test_text_and_models_round_trip(text):
    architecture = parse(text)
    assert parse(architecture.to_text()) == architecture
    model = build_model(architecture)
    assert parse(model.architecture.to_text()) == architecture
    assert architecture_of(model) == architecture
    plain = nn.Sequential(*model.children())
    assert architecture_of(plain, input_shape=architecture.input_shape) == architecture


FRAGMENTS = [
    "CONV(8,3)", "CONV(", "CONV", "POOL(2)", "MAXPOOL", "AVGPOOL(3,p=2)", "FC(10)", "FC(", "FC(0)", "RELU",
    "TANH", "SIGMOID", "BN", "DROPOUT(0.3)", "DROPOUT(", "INPUT(1x28x28)", "INPUT(", "->", "->", "->", "\u2192",
    "[", "]", "]*2", "*", "*3", "]*0", "]*100000", "(", ")", ",", "=", "s=2", "p=1", "d=3", "k=5", "x", "1", "0",
    "-3", "2.5", "1e9", "9" * 30, " ", "\n", "\t", "CONVV", "\u00e9", "#", "POOL(50)", "conv(4,k=2,s=2)", "fc(3)",
]


def assert_parses_or_explains(text: str) -> None:
    try:
        architecture = parse(text)
    except ArchitectureError as error:
        assert str(error)
        assert error.layer is not None or (error.token is not None and error.position is not None), text
        if error.position is not None:
            assert 1 <= error.position <= len(text) + 1
    else:
        assert layer_table(architecture)[-1].kind == "fc"


LAYERS = [f for f in FRAGMENTS if re.fullmatch(r"[A-Za-z]{2,}(\(.*\))?", f) and f not in ("CONV", "CONVV")]


def mutated(rng: random.Random) -> str:
    """Mostly well-formed layers joined by arrows, then a few random insertions and deletions."""
    text = " -> ".join(rng.choices(LAYERS, k=rng.randint(0, 8)) + ["FC(10)"])
    for _ in range(rng.randint(0, 3)):
        at = rng.randint(0, len(text))
        if rng.random() < 0.6:
            text = text[:at] + rng.choice(FRAGMENTS) + text[at:]
        else:
            text = text[:at] + text[at + rng.randint(1, 4):]
    return text


def test_fuzzed_fragments_parse_or_raise_architecture_errors():
    rng = random.Random(20240531)
    for _ in range(1000):
        pieces = rng.choices(FRAGMENTS, k=rng.randint(1, 14))
        assert_parses_or_explains("".join(pieces) if rng.random() < 0.5 else " -> ".join(pieces))
    for _ in range(1500):
        assert_parses_or_explains(mutated(rng))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("CONVPOLFRUInput()[]*->,=x0123456789.-e sdk\u2192")), max_size=40))
def test_fuzzed_characters_parse_or_raise_architecture_errors(text):
    assert_parses_or_explains(text)


# ----------------------------------------------------------------------------- hostile text (issue 13)


@pytest.mark.parametrize("keyword", ["AVGPOOL", "POOL"])
def test_a_pooling_stride_torch_cannot_hold_is_refused_not_an_overflow(keyword):
    with pytest.raises(ArchitectureError, match=r"pool1: stride 999,999,999,999,999 is more than the 1,000,000"):
        build_model(f"{keyword}(2, s=999999999999999) -> FC(10)")


@pytest.mark.parametrize("key", ["k", "s", "p", "d"])
def test_every_window_size_is_bounded_before_torch_sees_it(key):
    with pytest.raises(ArchitectureError, match="is more than the 1,000,000 torch can take"):
        parse(f"CONV(f=8,{key}=2147483648) -> FC(10)")


@pytest.mark.parametrize("text", ["\ud800", "CONV(\ud800)", "CONV(8,3) -> \udcff -> FC(2)", "[CONV(8,3)]*\ud800"])
def test_a_lone_surrogate_is_an_architecture_error_that_prints(text):
    with pytest.raises(ArchitectureError) as caught:
        parse(text)
    str(caught.value).encode("utf-8")  # no UnicodeEncodeError when the CLI or the window shows it


def test_a_200_million_parameter_model_is_refused_with_the_number():
    with pytest.raises(ArchitectureError, match="fc1: the model would have 200,000,010 parameters"):
        parse("INPUT(1x20000x1000) -> FC(10)")


def test_a_huge_conv_layer_is_refused_with_its_size_before_any_tensor():
    with pytest.raises(ArchitectureError) as caught:
        build_model("INPUT(1x512x512) -> CONV(20000,3) -> FC(10)")
    assert str(caught.value) == (
        "conv1: CONV(20000,3) on 1x512x512 gives 20000x510x510 = 5,202,000,000 values (19 GB) per image, "
        "more than the 20,000,000 a layer may have"
    )


def test_a_model_over_the_memory_budget_is_refused_with_both_numbers(monkeypatch):
    monkeypatch.setenv("CONVSCOPE_MEMORY_BUDGET", "256MB")
    with pytest.raises(ArchitectureError) as caught:
        parse("INPUT(3x512x512) -> CONV(70,3) -> FC(10)")
    message = str(caught.value)
    assert message.startswith("fc1: the model up to here (182,071,970 parameters")
    assert "needs 767 MB; the budget is 256 MB (set CONVSCOPE_MEMORY_BUDGET to change it)" in message
    monkeypatch.setenv("CONVSCOPE_MEMORY_BUDGET", "2GB")
    assert parse("INPUT(3x512x512) -> CONV(70,3) -> FC(10)").num_classes == 10


def test_batch_norm_after_an_fc_needs_batches_of_two():
    text = "INPUT(1x28x28) -> FC(10) -> BN -> FC(2)"
    with pytest.raises(ArchitectureError, match="bn1: batch norm after a fully connected layer .* at least 2 images"):
        check_batch_size(text, 1)
    check_batch_size(text, 2)
    model = build_model(text).train()
    model(torch.zeros(2, 1, 28, 28))  # what check_batch_size lets through, torch accepts
    with pytest.raises(ValueError):
        model(torch.zeros(1, 1, 28, 28))  # and what it refuses, torch refuses


def test_batch_norm_on_one_by_one_maps_needs_batches_of_two():
    with pytest.raises(ArchitectureError, match="bn1: batch norm on 1x1 feature maps"):
        check_batch_size("INPUT(1x4x4) -> CONV(4,4) -> BN -> FC(2)", 1)
    check_batch_size("INPUT(1x28x28) -> CONV(4,3) -> BN -> FC(2)", 1)  # many values per channel: fine


def test_a_last_batch_of_one_is_caught_too():
    with pytest.raises(ArchitectureError, match=r"the last batch of 65 examples in batches of 64 holds 1"):
        check_batch_size("FC(10) -> BN -> FC(2)", 64, train_size=65)
    check_batch_size("FC(10) -> BN -> FC(2)", 64, train_size=66)


def test_a_batch_over_the_budget_is_refused_with_the_largest_that_fits(monkeypatch):
    monkeypatch.setenv("CONVSCOPE_MEMORY_BUDGET", "1GB")
    with pytest.raises(ArchitectureError) as caught:
        check_batch_size(PRESETS["lenet"], 1_000_000_000)
    message = str(caught.value)
    assert message.startswith("training in batches of 1,000,000,000 needs ")
    assert "the budget is 1.0 GB" in message
    largest = int(message.rsplit("at most ", 1)[1].replace(",", ""))
    check_batch_size(PRESETS["lenet"], largest)
    with pytest.raises(ArchitectureError):
        check_batch_size(PRESETS["lenet"], largest + 1)


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_a_batch_size_that_is_not_a_positive_whole_number_is_refused(size):
    with pytest.raises(ArchitectureError, match="the batch size must be a whole number of at least 1"):
        check_batch_size(PRESETS["lenet"], size)


@pytest.mark.parametrize("text", ["A" * 1_000_000, "CONV(8,3) -> " + "Q" * 100_000, "CONV(" + "k" * 100_000 + " 3)"])
def test_a_pasted_megabyte_is_quoted_short(text):
    with pytest.raises(ArchitectureError) as caught:
        parse(text)
    assert len(str(caught.value)) < 200 and len(caught.value.token) <= 40
