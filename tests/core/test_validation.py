"""Checkpoints that weights_only accepts but the app could not use: each is refused in one line, fast.

Every fixture is built here with torch.save of a crafted object, the way an attacker (or a broken
exporter) would make it; the issue's examples are the named tests.
"""
from __future__ import annotations

import struct
import time
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

from core.architecture import PRESETS, build_model, parse
from core.checkpoint import FORMAT, VERSION, CheckpointError, load_checkpoint
from core.validation import check_archive, check_state_dict, check_tensor

LENET = PRESETS["lenet"]


def payload(**changes) -> dict:
    """A valid lenet checkpoint payload as save_checkpoint writes it, with some fields replaced."""
    torch.manual_seed(0)
    model = build_model(LENET)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.zeros(2, 1, 28, 28)).sum().backward()
    optimizer.step()
    base = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": parse(LENET).to_text(),
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "classes": [str(i) for i in range(10)],
        "normalization": {"mean": [0.13], "std": [0.31]},
        "history": {"steps": [1], "loss": [2.3], "accuracy": [0.1], "test_steps": [], "test_accuracy": []},
        "optimizer": optimizer.state_dict(),
        "config": {"lr": 0.1, "optimizer": "sgd"},
        "dataset": "mnist",
    }
    base.update(changes)
    return base


def with_weight(key: str, tensor: torch.Tensor) -> dict:
    data = payload()
    data["state"][key] = tensor
    return data


def saved(tmp_path: Path, data: dict, name: str = "crafted.pt") -> Path:
    path = tmp_path / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sparse/nested/quantized constructors warn that they are beta
        torch.save(data, path)
    return path


def broadcast(value: float, count: int, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """A tensor of ``count`` values (or ``shape``) that all read one 4-byte storage: strides of 0."""
    shape = shape or (count,)
    return torch.empty(0).set_(torch.tensor([value]).untyped_storage(), 0, shape, (0,) * len(shape))


def refused(path: Path) -> str:
    started = time.perf_counter()
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    elapsed = time.perf_counter() - started
    message = str(caught.value)
    assert "\n" not in message and elapsed < 5, (message, elapsed)
    return message


def test_a_valid_payload_loads(tmp_path):
    checkpoint = load_checkpoint(saved(tmp_path, payload()))
    assert checkpoint.classes == tuple(str(i) for i in range(10))
    assert checkpoint.build()(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


# --------------------------------------------------------------------- tensors weights_only accepts


def test_sparse_weights_are_refused_by_name(tmp_path):
    data = with_weight("fc3.bias", torch.zeros(10).to_sparse())
    assert refused(saved(tmp_path, data)) == "crafted.pt: fc3.bias is a sparse tensor (sparse_coo)"


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_sparse_csr_weights_are_refused(tmp_path):
    data = with_weight("fc3.weight", torch.zeros(10, 84).to_sparse_csr())
    assert "fc3.weight is a sparse tensor (sparse_csr)" in refused(saved(tmp_path, data))


def test_meta_weights_are_refused(tmp_path):
    data = with_weight("fc3.bias", torch.empty(10, device="meta"))
    assert "fc3.bias is a meta tensor" in refused(saved(tmp_path, data))


@pytest.mark.filterwarnings("ignore:TypedStorage is deprecated")
def test_quantized_weights_are_refused(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = torch.quantize_per_tensor(torch.zeros(10), 0.1, 0, torch.qint8)
    assert "fc3.bias is a quantized tensor (qint8)" in refused(saved(tmp_path, with_weight("fc3.bias", quantized)))


def test_nested_weights_are_refused_not_a_nested_tensor_impl_traceback(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nested = torch.nested.nested_tensor([torch.zeros(4), torch.zeros(6)])
    message = refused(saved(tmp_path, with_weight("fc3.bias", nested)))
    assert "fc3.bias is a nested tensor" in message and "NestedTensorImpl" not in message


def test_complex_weights_are_refused(tmp_path):
    data = with_weight("fc3.bias", torch.zeros(10, dtype=torch.complex64))
    assert "fc3.bias is a complex tensor" in refused(saved(tmp_path, data))


def test_integer_weights_are_refused(tmp_path):
    data = with_weight("conv1.bias", torch.zeros(8, dtype=torch.int32))
    assert "conv1.bias holds int32, not floating-point numbers" in refused(saved(tmp_path, data))


def test_cuda_tagged_weights_load_onto_the_cpu(tmp_path, monkeypatch):
    """A checkpoint saved on a GPU machine: map_location puts it on the CPU, where the app runs it."""
    import torch.serialization

    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    path = saved(tmp_path, payload())
    monkeypatch.undo()
    checkpoint = load_checkpoint(path)
    assert all(t.device.type == "cpu" for t in checkpoint.state.values())


def test_weights_in_float64_are_accepted(tmp_path):
    data = payload()
    data["state"] = {k: v.double() if v.is_floating_point() else v for k, v in data["state"].items()}
    assert load_checkpoint(saved(tmp_path, data)).build()(torch.zeros(1, 1, 28, 28)).isfinite().all()


# --------------------------------------------------------------------- zero strides: huge claims, tiny storage


def test_zero_stride_weights_are_refused_before_they_are_copied(tmp_path):
    data = with_weight("fc1.weight", broadcast(0.5, 0, shape=(120, 256)))
    message = refused(saved(tmp_path, data))
    assert message == (
        "crafted.pt: fc1.weight claims 30,720 values but its storage holds 1 (zero or overlapping strides)"
    )


def test_zero_stride_metrics_history_is_refused_at_once(tmp_path):
    data = payload(history={"steps": [1], "loss": broadcast(1.0, 10**9), "accuracy": [0.1]})
    assert "crafted.pt: history loss is a tensor, not a list of numbers" in refused(saved(tmp_path, data))


def test_zero_stride_normalisation_is_refused_at_once(tmp_path):
    data = payload(normalization={"mean": broadcast(0.1, 10**9), "std": [0.3]})
    assert "the normalisation mean is a tensor, not a list of numbers" in refused(saved(tmp_path, data))


def test_zero_stride_class_names_are_refused_at_once(tmp_path):
    data = payload(classes=broadcast(1.0, 10**9))
    assert "the class names are a tensor, not a list of text" in refused(saved(tmp_path, data))


def test_zero_stride_optimizer_state_is_refused(tmp_path):
    data = payload()
    data["optimizer"]["state"][0]["momentum_buffer"] = broadcast(0.0, 0, shape=(8, 1, 5, 5))
    assert "momentum_buffer of parameter 0 claims 200 values" in refused(saved(tmp_path, data))


def test_check_tensor_refuses_a_broadcast_without_touching_its_values():
    huge = broadcast(1.0, 10**12)
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match="claims 1,000,000,000,000 values but its storage holds 1"):
        check_tensor("x", huge)
    assert time.perf_counter() - started < 0.5


def test_a_record_declaring_gigabytes_is_refused_from_the_zip_directory(tmp_path):
    path = saved(tmp_path, payload())
    declare_size(path, "data/0", 0xFFFF_FFF0)
    message = refused(path)
    assert "declares 4.0 GB of data but the file holds" in message


def test_a_compressed_record_is_refused(tmp_path):
    path = saved(tmp_path, payload())
    with zipfile.ZipFile(path) as source:
        records = [(info.filename, source.read(info.filename)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for filename, data in records:
            target.writestr(filename, data)
    assert "is compressed, which torch.save never does" in refused(path)


def test_a_checkpoint_larger_than_the_budget_is_refused_before_loading(tmp_path):
    path = saved(tmp_path, payload())
    with pytest.raises(CheckpointError, match="loading its weights needs .* the budget is 1.0 kB"):
        check_archive(path, budget=1024)


def declare_size(path: Path, record_suffix: str, size: int) -> None:
    """Rewrite the uncompressed size the zip's local and central headers give for one record."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(record_suffix))
    struct.pack_into("<I", data, info.header_offset + 22, size)  # local header: uncompressed size
    name = info.filename.encode()
    central = data.find(b"PK\x01\x02")
    while central != -1:
        length = struct.unpack_from("<H", data, central + 28)[0]
        if bytes(data[central + 46 : central + 46 + length]) == name:
            struct.pack_into("<I", data, central + 24, size)
            break
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))


# --------------------------------------------------------------------- values and fields


@pytest.mark.parametrize("bad, word", [(float("nan"), "NaN"), (float("inf"), "infinite values")])
def test_non_finite_weights_are_refused(tmp_path, bad, word):
    data = payload()
    data["state"]["conv1.weight"][0, 0, 0, 0] = bad
    assert refused(saved(tmp_path, data)) == f"crafted.pt: conv1.weight contains {word}"


def test_a_three_channel_normalisation_for_a_one_channel_model_is_refused(tmp_path):
    data = payload(normalization={"mean": [0.1, 0.2, 0.3], "std": [0.3, 0.3, 0.3]})
    path = saved(tmp_path, data, "lenet_mnist.pt")
    assert refused(path) == "lenet_mnist.pt: the normalisation mean has 3 channels, the model takes 1"


def test_a_non_positive_normalisation_std_is_refused(tmp_path):
    data = payload(normalization={"mean": [0.1], "std": [0.0]})
    assert "std must be positive" in refused(saved(tmp_path, data))


def test_a_nan_in_the_history_is_refused(tmp_path):
    data = payload(history={"steps": [1], "loss": [float("nan")], "accuracy": [0.1]})
    assert "history loss[0] is nan, not a finite number" in refused(saved(tmp_path, data))


def test_history_columns_of_different_lengths_are_refused(tmp_path):
    data = payload(history={"steps": [1, 2], "loss": [1.0], "accuracy": [0.1, 0.2]})
    assert "the history has 2 steps but 1 loss values" in refused(saved(tmp_path, data))


def test_a_huge_class_list_is_refused_by_count(tmp_path):
    data = payload(classes=["x"] * 100_000)
    assert "names 100,000 classes but its last layer has 10 outputs" in refused(saved(tmp_path, data))


def test_class_names_that_are_not_text_are_refused(tmp_path):
    data = payload(classes=[torch.zeros(1)] * 10)
    assert "class name 0 is a tensor, not text" in refused(saved(tmp_path, data))


def test_a_two_channel_model_is_refused(tmp_path):
    text = LENET.replace("INPUT(1x28x28)", "INPUT(2x28x28)")
    model = build_model(text)
    data = payload(architecture=text, state=model.state_dict(), normalization={"mean": [0, 0], "std": [1, 1]})
    assert "the model takes 2-channel inputs" in refused(saved(tmp_path, data))


def test_an_optimizer_state_for_another_model_is_refused(tmp_path):
    data = payload()
    data["optimizer"]["state"][0]["momentum_buffer"] = torch.zeros(3)
    assert "momentum_buffer of parameter 0 has shape (3,), the parameter (8, 1, 5, 5)" in refused(saved(tmp_path, data))


def test_an_optimizer_state_with_too_few_parameters_is_refused(tmp_path):
    data = payload()
    data["optimizer"]["param_groups"][0]["params"] = [0, 1]
    assert "the optimizer state is for 2 parameters; the model has 10" in refused(saved(tmp_path, data))


def test_a_config_holding_a_tensor_is_refused(tmp_path):
    data = payload(config={"lr": torch.zeros(10**6)})
    assert "the training setting 'lr' is a tensor" in refused(saved(tmp_path, data))


def test_an_architecture_with_a_lone_surrogate_is_one_printable_line(tmp_path):
    data = payload(architecture="CONV(8,3) -> \ud800 -> FC(10)")
    message = refused(saved(tmp_path, data))
    assert "impossible architecture" in message
    message.encode("utf-8")  # printable on any terminal: no lone surrogate in the message itself


def test_an_architecture_over_the_layer_limit_is_refused_without_building(tmp_path):
    data = payload(architecture="INPUT(1x512x512) -> CONV(20000,3) -> FC(10)")
    assert "conv1: CONV(20000,3) on 1x512x512 gives 20000x510x510 = 5,202,000,000 values" in refused(
        saved(tmp_path, data)
    )


# --------------------------------------------------------------------- the checker on its own


def test_check_state_dict_copies_into_ordinary_memory_and_checks_names():
    model = build_model(LENET)
    with torch.device("meta"):
        expected = build_model(LENET).state_dict()
    state = {k: v.detach() for k, v in model.state_dict().items()}
    checked = check_state_dict(state, expected, "run")
    assert checked.keys() == state.keys()
    assert all(checked[k].data_ptr() != state[k].data_ptr() for k in state)
    del state["fc3.bias"]
    with pytest.raises(CheckpointError, match="run does not fit this architecture: missing weights for fc3.bias"):
        check_state_dict(state, expected, "run")


def test_check_state_dict_without_expectations_still_checks_every_tensor():
    with pytest.raises(CheckpointError, match="run: b contains NaN"):
        check_state_dict({"a": torch.zeros(2), "b": torch.tensor([float("nan")])}, None, "run")


def test_check_state_dict_refuses_non_text_names():
    with pytest.raises(CheckpointError, match="a weight is named by an int, not by text"):
        check_state_dict({3: torch.zeros(1)}, None, "run")
