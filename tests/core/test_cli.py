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


@pytest.mark.slow
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


@pytest.mark.slow
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


# ----------------------------------------------------------------------------- runs, search and issue-13 cases

import json  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

import main as convscope  # noqa: E402
from core.architecture import PRESETS  # noqa: E402
from core.run_status import RunStatus  # noqa: E402
from core.runs import RunWriter, open_run, runs_home  # noqa: E402


def _run_folder(stdout: str) -> Path:
    return Path(next(line for line in stdout.splitlines() if line.startswith("run folder: ")).split(": ", 1)[1])


def _in_process(capsys, *args: str) -> tuple[int, str, str]:
    code = convscope.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_writes_a_run_folder_under_convscope_home_with_the_same_metrics_and_weights(tmp_path, capsys):
    out = tmp_path / "xo.pt"
    code, stdout, _ = _in_process(capsys, "train", "--preset", "xo", "--data", "xo", "--epochs", "2",
                                  "--batch-size", "100", "--out", str(out))
    assert code == 0
    folder = _run_folder(stdout)
    assert folder.parent == runs_home()
    run, checkpoint = open_run(folder), load_checkpoint(out)
    assert run.status is RunStatus.FINISHED and run.newest_step == 40
    history = run.history()
    assert history.steps == checkpoint.history.steps and history.loss == pytest.approx(checkpoint.history.loss)
    assert history.test_accuracy == pytest.approx(checkpoint.history.test_accuracy)
    newest = run.load()
    assert all(torch.equal(newest[k], v) for k, v in checkpoint.state.items())
    assert run.settings["batch_size"] == 100 and run.dataset == "xo" and run.seed == 0


def test_evaluate_takes_a_run_folder_and_reads_its_newest_snapshot(tmp_path):
    bundled = load_checkpoint(DEFAULT_CHECKPOINT)
    writer = RunWriter(tmp_path / "run", PRESETS["lenet"], classes=bundled.classes, normalization=bundled.normalization)
    writer.snapshot(1, {k: torch.zeros_like(v) for k, v in bundled.state.items()})
    writer.snapshot(2, bundled.state)
    writer.close()
    result = _main("evaluate", "--checkpoint", str(tmp_path / "run"), "mnist-test")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("accuracy: 0.9790 (979/1000)")


def test_out_that_is_a_folder_is_refused_before_training(tmp_path, capsys):
    code, _, stderr = _in_process(capsys, "train", "--preset", "xo", "--data", "xo", "--out", str(tmp_path))
    assert code == 2 and stderr.startswith(f"error: cannot write {tmp_path}: it is a folder")
    assert not runs_home().exists()  # refused before anything was trained


@pytest.mark.parametrize("where", ["/proc/convscope.pt", "missing-folder/model.pt"])
def test_an_unwritable_out_is_refused_before_training(tmp_path, capsys, where):
    out = where if where.startswith("/") else str(tmp_path / where)
    code, _, stderr = _in_process(capsys, "train", "--preset", "xo", "--data", "xo", "--out", out)
    assert code == 2 and stderr.startswith(f"error: cannot write {out}") and len(stderr.splitlines()) == 1
    assert not runs_home().exists()


def test_a_save_that_still_fails_writes_the_weights_next_to_the_autosave_and_says_where(tmp_path, capsys, monkeypatch):
    import core.cli

    out = tmp_path / "model.pt"
    real_save = core.cli.save_checkpoint

    def disk_full(path, checkpoint):
        if Path(path) == out:
            raise OSError(28, "No space left on device")
        real_save(path, checkpoint)

    monkeypatch.setattr(core.cli, "save_checkpoint", disk_full)
    code, stdout, stderr = _in_process(capsys, "train", "--preset", "xo", "--data", "xo", "--epochs", "1",
                                       "--max-steps", "5", "--out", str(out))
    assert code != 0 and len(stderr.strip().splitlines()) == 1
    assert stderr.startswith(f"error: could not write {out} (No space left on device); the weights were saved to ")
    rescued = Path(stderr.strip().rsplit(" ", 1)[1])
    assert rescued.parent == Path(os.environ["CONVSCOPE_HOME"]) / "autosave"
    saved, trained = load_checkpoint(rescued), open_run(_run_folder(stdout)).load()
    assert all(torch.equal(saved.state[k], trained[k]) for k in trained)


def test_a_huge_batch_size_is_clamped_and_samples_per_s_counts_real_samples(capsys):
    code, stdout, _ = _in_process(capsys, "train", "--preset", "xo", "--data", "xo", "--epochs", "2",
                                  "--batch-size", "1000000000")
    assert code == 0
    assert "note: the batch size 1000000000 is larger than the 2000 training examples: using batches of 2000" in stdout
    rates = [float(part.split()[-1].replace(",", "")) for part in stdout.split(" samples/s")[:-1]]
    assert rates and max(rates) < 1e7  # 2,000 real images a step (it read 1.8 billion/s when counting 1e9)
    run = open_run(_run_folder(stdout))
    assert [m["step"] for m in run.metrics] == [1, 2] and run.settings["batch_size"] == 2000


def test_learning_rate_ten_marks_the_run_diverged_and_restores_the_weights(tmp_path, capsys):
    out = tmp_path / "xo.pt"
    code, stdout, stderr = _in_process(capsys, "train", "--preset", "xo", "--data", "xo", "--lr", "10", "--out", str(out))
    assert code == 3 and len(stderr.strip().splitlines()) == 1
    assert stderr.startswith("error: training diverged: the loss went from ") and "learning rate 10 is too high" in stderr
    run = open_run(_run_folder(stdout))
    assert run.status is RunStatus.DIVERGED and run.message in stderr
    saved, restored = load_checkpoint(out), run.load()  # the last good weights, also in the checkpoint
    assert f"from step {run.newest_step} are back" in stderr
    assert all(torch.equal(saved.state[k], restored[k]) for k in restored)
    assert all(torch.isfinite(v).all() for v in restored.values())


@pytest.mark.slow
def test_learning_rate_ten_on_lenet_is_reported_as_failed_to_learn_not_saved_as_a_success(tmp_path):
    out = tmp_path / "lenet.pt"
    result = _main("train", "--preset", "lenet", "--lr", "10", "--epochs", "3", "--out", str(out))
    assert result.returncode == 3
    assert result.stderr.startswith("error: training failed to learn: ") and "learning rate 10 is likely too high" in result.stderr
    run = open_run(_run_folder(result.stdout))
    assert run.status is RunStatus.FAILED_TO_LEARN and run.newest_step == 63  # stopped after the first epoch
    assert load_checkpoint(out).history.test_accuracy[-1] < 0.15  # still written: nothing is lost


def test_search_from_the_command_line_makes_four_runs_and_a_sorted_table(tmp_path, capsys):
    out = tmp_path / "search"
    code, stdout, stderr = _in_process(capsys, "search", "--preset", "xo", "--data", "xo", "--lr", "1e-3:1:log",
                                       "--trials", "4", "--epochs", "1", "--max-steps", "8", "--out", str(out))
    assert code == 0, stderr
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == ["trial-1", "trial-2", "trial-3", "trial-4"]
    assert all(open_run(out / f).metrics[-1]["step"] == 8 for f in folders)
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("trial  lr"))
    rows = [line.split() for line in lines[header + 1 : header + 5]]
    accuracies = [float(row[2]) for row in rows]
    assert accuracies == sorted(accuracies, reverse=True) and sorted(row[0] for row in rows) == ["1", "2", "3", "4"]
    stored = json.loads((out / "search.json").read_text())["results"]
    assert [r["number"] for r in stored] == [int(row[0]) for row in rows]
    assert f"best: trial {rows[0][0]} in {out / ('trial-' + rows[0][0])}" in stdout


def test_bad_search_and_run_input_gets_one_error_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    out = str(tmp_path / "s")
    cases = {
        ("search", "--lr", "1:0.1", "--out", out): "error: --lr '1:0.1': the range's low end 1 is above",
        ("search", "--out", out): "error: nothing to search",
        ("search", "--arch", "CONV({c},5) -> FC(10)", "--lr", "0.1,0.2", "--out", out): "error: the architecture uses {c}",
        ("search", "--lr", "0.1,1", "--param", "c1", "--out", out): "error: --param 'c1' should be NAME=VALUES",
        ("search", "--preset", "xo", "--data", "mnist", "--lr", "0.1,1", "--out", out): "error: the data has 10 classes",
        ("train", "--device", "cuda"): "error: there is no cuda device on this machine",
        ("train", "--max-steps", "0"): "error: --max-steps must be at least 1",
        ("train", "--pace", "-2"): "error: --pace must be a positive number",
        ("train", "--batch-size", "0"): "error: the batch size must be at least 1",
        ("evaluate", "--checkpoint", str(tmp_path / "empty"), "mnist-test"): "error: ",
    }
    for args, expected in cases.items():
        if "--device" in args and torch.cuda.is_available():
            continue
        code, _, stderr = _in_process(capsys, *args)
        assert code == 2, args
        assert stderr.startswith(expected) and len(stderr.strip().splitlines()) == 1, (args, stderr)
    assert not (tmp_path / "s").exists() and not runs_home().exists()


def test_a_run_folder_that_fills_up_mid_training_stops_with_the_weights_saved_elsewhere(capsys, monkeypatch):
    import core.runs

    real_snapshot, calls = core.runs.RunWriter.snapshot, []

    def full_after_the_first(self, step, state):
        calls.append(step)
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        return real_snapshot(self, step, state)

    monkeypatch.setattr(core.runs.RunWriter, "snapshot", full_after_the_first)
    code, stdout, stderr = _in_process(capsys, "train", "--preset", "xo", "--data", "xo", "--max-steps", "30")
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert "could not be written (No space left on device); training stopped at step 30 and the weights were saved to" in stderr
    rescued = load_checkpoint(Path(stderr.strip().rsplit(" ", 1)[1]))
    assert rescued.history.steps[-1] == 30
    run = open_run(_run_folder(stdout))
    assert run.status is RunStatus.STOPPED and "No space left" in run.message and run.steps() == [0]


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
