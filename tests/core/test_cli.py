import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.architecture import PRESETS, build_model, parse
from core.assets import DEFAULT_CHECKPOINT
from core.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from core.data import mnist_subset_raw
from core.preprocess import MNIST_NORMALIZATION, Normalization
from main import main

ROOT = Path(__file__).resolve().parents[2]


def _main(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_train_writes_a_checkpoint_that_evaluate_reads(tmp_path):
    out = tmp_path / "xo.pt"
    result = _main("train", "--preset", "xo", "--data", "xo", "--epochs", "2", "--batch-size", "50", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "samples/s" in result.stdout and "s left" in result.stdout and f"wrote {out}" in result.stdout
    checkpoint = load_checkpoint(out)
    assert checkpoint.classes == ("X", "O") and len(checkpoint.history.test_accuracy) == 2


def test_evaluate_bundled_model_on_bundled_test_split():
    result = _main("evaluate", "mnist-test")
    assert result.returncode == 0, result.stderr
    first, *matrix = result.stdout.strip().splitlines()
    accuracy = float(first.split()[1])
    correct, total = map(int, first.split("(")[1].rstrip(")").split("/"))
    assert total == 1000 and abs(accuracy - correct / total) < 1e-4
    assert accuracy >= 0.97
    rows = [list(map(int, line.split()[1:])) for line in matrix[1:]]
    assert len(rows) == 10 and sum(map(sum, rows)) == 1000
    assert sum(rows[i][i] for i in range(10)) == correct


def test_evaluate_an_image_folder_of_digits(tmp_path):
    images, labels = mnist_subset_raw("test")
    for i in range(0, 1000, 25):
        folder = tmp_path / str(labels[i])
        folder.mkdir(exist_ok=True)
        Image.fromarray(images[i]).save(folder / f"{i}.png")
    result = _main("evaluate", "--checkpoint", str(DEFAULT_CHECKPOINT), str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("accuracy: ") and "/40)" in result.stdout.splitlines()[0]
    assert float(result.stdout.split()[1]) >= 0.85


def test_bad_input_exits_non_zero_with_one_line_and_no_traceback(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(np.random.default_rng(0).bytes(500))
    cases = [
        ("evaluate", "--checkpoint", str(junk), "mnist-test"),
        ("evaluate", str(tmp_path / "missing")),
        ("train", "--arch", "CONV(8,5) -> RELU -> CONVV(3)", "--out", str(tmp_path / "x.pt")),
        ("train", "--preset", "lenet", "--data", "xo", "--out", str(tmp_path / "x.pt")),
        ("train", "--lr", "-1", "--out", str(tmp_path / "x.pt")),
    ]
    for args in cases:
        result = _main(*args, timeout=120)
        assert result.returncode != 0, args
        assert "Traceback" not in result.stderr, args
        assert result.stderr.strip().startswith("error: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr


# ----------------------------------------------------------------------------- hostile input, one line each (issue 13)


def _write_inputs(folder: Path) -> dict[str, str]:
    """The files the cases below name: crafted checkpoints, a folder with broken files, odd model code."""
    paths: dict[str, str] = {}

    def checkpoint(name: str, text: str, normalization=MNIST_NORMALIZATION, classes=None, change=None) -> None:
        architecture = parse(text)
        state = build_model(architecture).state_dict()
        if change:
            change(state)
        save_checkpoint(folder / name, Checkpoint(
            architecture, state, classes or tuple(str(i) for i in range(architecture.num_classes)), normalization))
        paths[name] = str(folder / name)

    lenet32 = PRESETS["lenet"].replace("INPUT(1x28x28)", "INPUT(1x32x32)").replace("CONV(8,5)", "CONV(8,5,p=2)")
    checkpoint("lenet32.pt", lenet32)
    checkpoint("nan.pt", PRESETS["lenet"], change=lambda s: s["conv1.weight"].view(-1)[0].fill_(float("nan")))
    checkpoint("letters.pt", "INPUT(1x28x28) -> FC(2)", classes=("a", "b"))
    state = build_model(PRESETS["lenet"]).state_dict()
    state["fc3.bias"] = state["fc3.bias"].to_sparse()
    torch.save({"format": "convscope-checkpoint", "version": 1, "architecture": PRESETS["lenet"], "state": state,
                "classes": [str(i) for i in range(10)], "normalization": {"mean": [0.1], "std": [0.3]}},
               folder / "sparse.pt")
    paths["sparse.pt"] = str(folder / "sparse.pt")
    rgb_norm = Normalization((0.1,) * 3, (0.3,) * 3)
    torch.save({"format": "convscope-checkpoint", "version": 1, "architecture": PRESETS["lenet"],
                "state": build_model(PRESETS["lenet"]).state_dict(), "classes": [str(i) for i in range(10)],
                "normalization": {"mean": list(rgb_norm.mean), "std": list(rgb_norm.std)}}, folder / "lenet_mnist.pt")
    paths["lenet_mnist.pt"] = str(folder / "lenet_mnist.pt")
    digits = folder / "digits"
    images, labels = mnist_subset_raw("test")
    for i in range(20):
        (digits / str(labels[i])).mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(digits / str(labels[i]) / f"{i}.png")
    (digits / str(labels[0]) / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    paths["digits"] = str(digits)
    model = folder / "net.py"
    model.write_text(
        "import sys\nfrom torch import nn\n\n"
        "def interrupted():\n    raise KeyboardInterrupt\n\n"
        "def exits():\n    sys.exit(4)\n\n"
        "def pair():\n    return nn.Sequential(nn.Flatten(), nn.Linear(784, 3))\n"
    )
    paths["net.py"] = str(model)
    return paths


HOSTILE = {
    "32x32 model on mnist-test is evaluated on fitted digits": (0, ["evaluate", "--checkpoint", "{lenet32.pt}", "mnist-test"], "/1000)"),
    "NaN weights": (2, ["evaluate", "--checkpoint", "{nan.pt}", "mnist-test"], "nan.pt: conv1.weight contains NaN"),
    "sparse weights": (2, ["evaluate", "--checkpoint", "{sparse.pt}", "mnist-test"], "sparse.pt: fc3.bias is a sparse tensor"),
    "3-channel normalisation for a 1-channel model": (
        2, ["evaluate", "--checkpoint", "{lenet_mnist.pt}", "mnist-test"],
        "lenet_mnist.pt: the normalisation mean has 3 channels, the model takes 1"),
    "classes the model does not know": (2, ["evaluate", "--checkpoint", "{letters.pt}", "mnist-test"],
                                        "has classes the model does not know: 0, 1, 2, 3, 4"),
    "skipped files are reported": (0, ["evaluate", "{digits}"], "skipped 1 file: 7/broken.png (not a readable image"),
    "a file that is not a folder": (2, ["evaluate", "{net.py}"], "is neither 'mnist-test' nor an image folder"),
    "huge input shape": (2, ["--model", "{net.py}:pair", "--input-shape", "1x40000x40000"],
                         "input shape 1x40000x40000 has 1,600,000,000 values"),
    "model and checkpoint together": (2, ["--model", "{net.py}:pair", "--checkpoint", "{nan.pt}"],
                                      "--model and --checkpoint cannot be used together"),
    "weights without a model": (2, ["--weights", "{nan.pt}"], "--weights loads weights into --model"),
}


def _filled(part: str, paths: dict[str, str]) -> str:
    for name, path in paths.items():
        part = part.replace("{" + name + "}", path)
    return part


@pytest.fixture(scope="module")
def hostile_paths(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("hostile")
    return {**_write_inputs(folder), "out": str(folder / "shot.png")}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_input_gets_one_line_and_the_right_status(hostile_paths, case, capsys):
    status, template, expected = HOSTILE[case]
    assert main([_filled(part, hostile_paths) for part in template]) == status
    out, err = capsys.readouterr()
    if status:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert expected in lines[0]
    else:
        assert expected in out + err


@pytest.mark.slow
def test_a_factory_that_interrupts_or_exits_is_one_line_from_the_window_start(tmp_path):
    """The window's start-up path (a QApplication exists) in its own process, as a user runs it."""
    model = tmp_path / "net.py"
    model.write_text("import sys\n\ndef interrupted():\n    raise KeyboardInterrupt\n\ndef exits():\n    sys.exit(4)\n")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CONVSCOPE_HOME": str(tmp_path / "home")}
    expected = {"interrupted": "interrupted failed: KeyboardInterrupt", "exits": "exits failed: it called sys.exit(4)"}
    started = {
        name: subprocess.Popen(
            [sys.executable, "main.py", "--model", f"{model}:{name}", "--screenshot", str(tmp_path / "shot.png")],
            cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for name in expected
    }
    for name, process in started.items():
        _, err = process.communicate(timeout=300)
        assert process.returncode == 2, err
        assert err.strip().splitlines() == [f"error: {err.strip().split('error: ', 1)[1]}"] and expected[name] in err
    assert not (tmp_path / "shot.png").exists()
