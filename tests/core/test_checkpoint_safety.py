"""A checkpoint is data, never code: from the command line and under a fuzz of its pickle stream.

Every hostile file here carries a payload that would create a marker file if it ran; the marker
must never appear, and the user must get one readable line instead of a traceback.
"""
from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from core.architecture import PRESETS, build_model, parse
from core.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from core.preprocess import MNIST_NORMALIZATION

REPO = Path(__file__).resolve().parents[2]


class RunsCode:
    """Unpickling this calls open(marker, "w"): the marker file appears only if the pickle's code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def checkpoint_bytes(folder: Path, architecture_text: str = PRESETS["xo"], weights_of: str = PRESETS["xo"]) -> bytes:
    torch.manual_seed(3)
    architecture = parse(architecture_text)
    path = folder / "made.pt"
    save_checkpoint(
        path,
        Checkpoint(
            architecture=architecture,
            state=build_model(parse(weights_of)).state_dict(),
            classes=tuple(str(i) for i in range(architecture.num_classes)),
            normalization=MNIST_NORMALIZATION,
        ),
    )
    return path.read_bytes()


def write_hostile_files(folder: Path) -> dict[str, Path]:
    """One file of each kind a user might be handed; 'evil' would create folder/'pwned' if it ran."""
    files = {name: folder / f"{name}.pt" for name in ("evil", "other_architecture", "other_program", "truncated", "empty")}
    torch.save({"format": "convscope-checkpoint", "version": 1, "payload": RunsCode(str(folder / "pwned"))}, files["evil"])
    lenet = PRESETS["lenet"]
    files["other_architecture"].write_bytes(checkpoint_bytes(folder, lenet.replace("CONV(16,5)", "CONV(12,5)"), lenet))
    torch.save({"model": build_model(parse(lenet)).state_dict(), "epoch": 3}, files["other_program"])
    good = checkpoint_bytes(folder)
    files["truncated"].write_bytes(good[: len(good) * 2 // 3])
    files["empty"].write_bytes(b"")
    return files


# (which file, the command after `python main.py`) -- the GUI start-up with --screenshot, and the CLI verb.
CLI_CASES = {
    "gui-evil": ("evil", ["--checkpoint", "{file}", "--screenshot", "{out}"]),
    "evaluate-evil": ("evil", ["evaluate", "--checkpoint", "{file}", "mnist-test"]),
    "gui-truncated": ("truncated", ["--checkpoint", "{file}", "--screenshot", "{out}"]),
    "evaluate-other_architecture": ("other_architecture", ["evaluate", "--checkpoint", "{file}", "mnist-test"]),
    "evaluate-other_program": ("other_program", ["evaluate", "--checkpoint", "{file}", "mnist-test"]),
    "evaluate-empty": ("empty", ["evaluate", "--checkpoint", "{file}", "mnist-test"]),
}


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path, Path]]:
    """Run every CLI case at once (each one starts Python and torch, ~1.5 s), then hand out the results."""
    folder = tmp_path_factory.mktemp("cli")
    files = write_hostile_files(folder)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    started = {}
    for case, (kind, template) in CLI_CASES.items():
        out = folder / f"{case}.png"
        argv = [part.format(file=files[kind], out=out) for part in template]
        process = subprocess.Popen(
            [sys.executable, str(REPO / "main.py"), *argv],
            cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        started[case] = (process, argv, out)
    results = {}
    for case, (process, argv, out) in started.items():
        stdout, stderr = process.communicate(timeout=120)
        results[case] = (subprocess.CompletedProcess(argv, process.returncode, stdout, stderr), out, folder)
    return results


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_refuses_a_bad_checkpoint_with_one_line_and_a_failing_status(cli_runs, case):
    result, screenshot, folder = cli_runs[case]
    kind = CLI_CASES[case][0]
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and f"{kind}.pt" in lines[0]
    assert "Traceback" not in result.stderr
    assert not screenshot.exists()
    assert not (folder / "pwned").exists()


def test_the_refusal_explains_that_the_file_could_run_code(cli_runs):
    for case in ("gui-evil", "evaluate-evil"):
        assert "could run code" in cli_runs[case][0].stderr


def test_the_refusal_names_what_would_have_run_and_holds_no_terminal_codes(tmp_path):
    files = write_hostile_files(tmp_path)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(files["evil"])
    message = str(caught.value)
    assert "\x1b" not in message
    assert "weights_only" not in message and "open" in message


# ----------------------------------------------------------------------------- pickle-stream fuzz

FUZZ_CASES = 600


def with_pickle(archive: bytes, pickle_bytes: bytes) -> bytes:
    """The same zip archive with its data.pkl record replaced."""
    source = zipfile.ZipFile(io.BytesIO(archive))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            data = pickle_bytes if info.filename.endswith("/data.pkl") else source.read(info.filename)
            target.writestr(info.filename, data)
    return out.getvalue()


def pickle_record(archive: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(archive))
    return source.read(next(name for name in source.namelist() if name.endswith("/data.pkl")))


def mutate(record: bytes, rng: np.random.Generator, payload: bytes) -> bytes:
    """Flip bytes, cut, insert noise, or splice in the opcodes of a pickle that would run code."""
    data = bytearray(record)
    how = rng.integers(4)
    if how == 0:
        for position in rng.integers(0, len(data), size=rng.integers(1, 9)):
            data[position] = rng.integers(0, 256)
    elif how == 1:
        data = data[: rng.integers(0, len(data))]
    elif how == 2:
        at = rng.integers(0, len(data))
        data[at:at] = rng.bytes(int(rng.integers(1, 32)))
    else:
        at = rng.integers(0, len(data))
        data[at:at] = payload
    return bytes(data)


def fuzz_pickle_stream(folder: Path) -> tuple[dict[str, int], list[str], Path]:
    """Load FUZZ_CASES mutated checkpoints; count the outcomes and list any error that was not a CheckpointError."""
    archive = checkpoint_bytes(folder)
    record = pickle_record(archive)
    marker = folder / "pwned"
    payload = pickle.dumps(RunsCode(str(marker)), protocol=2)[2:-1]  # without PROTO and STOP: splice-able opcodes
    rng = np.random.default_rng(7)
    outcomes = {"loaded": 0, "refused as code": 0, "refused": 0}
    escaped: list[str] = []
    target = folder / "fuzz.pt"
    for _ in range(FUZZ_CASES):
        target.write_bytes(with_pickle(archive, mutate(record, rng, payload)))
        try:
            load_checkpoint(target)
            outcomes["loaded"] += 1
        except CheckpointError as error:
            outcomes["refused as code" if "could run code" in str(error) else "refused"] += 1
        except Exception as error:  # any other type is a crash for the user: collected, asserted below
            escaped.append(f"{type(error).__module__}.{type(error).__name__}: {error}")
        assert not marker.exists()
    return outcomes, escaped, marker


def test_seeded_fuzz_of_the_pickle_stream_never_runs_code(tmp_path):
    outcomes, _, marker = fuzz_pickle_stream(tmp_path)
    assert not marker.exists()
    assert outcomes["refused as code"] > 0 and outcomes["refused"] > FUZZ_CASES // 4, outcomes


def test_seeded_fuzz_of_the_pickle_stream_gives_only_checkpoint_errors(tmp_path):
    _, escaped, _ = fuzz_pickle_stream(tmp_path)
    assert not escaped, f"{len(escaped)} of {FUZZ_CASES} escaped, e.g. {escaped[0]}"


def test_the_spliced_payload_would_run_code_if_loaded_unsafely(tmp_path):
    """Guard for the fuzz above: its payload is live, so 'the marker never appeared' means something."""
    marker = tmp_path / "pwned"
    payload = pickle.dumps(RunsCode(str(marker)), protocol=2)
    pickle.loads(payload).close()
    assert marker.exists()
