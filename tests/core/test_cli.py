import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from core.checkpoint import load_checkpoint
from core.assets import DEFAULT_CHECKPOINT
from core.data import mnist_subset_raw

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
