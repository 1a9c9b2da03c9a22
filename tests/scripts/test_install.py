"""scripts/install.sh, run as a new user would: a fresh clone, the distribution's Python first on the PATH."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
DISTRIBUTION_PYTHON = Path("/usr/bin/python3")
BASH = shutil.which("bash") or "/bin/bash"


def _environment(path: str, **extra: str) -> dict[str, str]:
    """The caller's environment (HOME, pip settings) without any hint of another Python."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHON", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
    return {**env, "PATH": path, **extra}


def _install(checkout: Path, *args: str, path: str = SYSTEM_PATH, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([BASH, str(checkout / "scripts" / "install.sh"), *args], cwd=checkout,
                          env=_environment(path, **extra), capture_output=True, text=True, timeout=900)


@pytest.fixture
def script_only(tmp_path) -> Path:
    """A checkout holding only the script: a run that gets past its checks fails instead of installing."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "install.sh", tmp_path / "scripts")
    return tmp_path


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def _system_commands_except(bin_dir: Path, *left_out: str) -> str:
    """A PATH with every command of the system's bin folders but `left_out` (e.g. no apt-get)."""
    bin_dir.mkdir(exist_ok=True)
    for folder in SYSTEM_PATH.split(":"):
        for command in Path(folder).iterdir() if Path(folder).is_dir() else ():
            link = bin_dir / command.name
            if command.name not in left_out and not link.exists() and not link.is_symlink():
                link.symlink_to(command)
    return str(bin_dir)


@pytest.mark.parametrize("version", ["3.8", "3.10", "3.15"])
def test_a_python_outside_the_pins_range_is_refused_with_what_to_install(script_only, version):
    fake = _executable(script_only / "python", f"#!/bin/sh\necho {version}\n")
    result = _install(script_only, PYTHON=str(fake))
    assert result.returncode == 1
    assert result.stderr.startswith("error: Convscope needs Python 3.11 to 3.14")
    assert f"{fake} is {version}" in result.stderr and "PYTHON=python3.11 bash scripts/install.sh" in result.stderr
    assert "Traceback" not in result.stderr and not (script_only / ".venv").exists()


def test_a_missing_or_broken_interpreter_is_named(script_only):
    missing = _install(script_only, PYTHON=str(script_only / "python3.12"))
    assert missing.returncode == 1 and f"error: '{script_only / 'python3.12'}' not found" in missing.stderr
    broken = _install(script_only, PYTHON=str(_executable(script_only / "python", "#!/bin/sh\nexit 3\n")))
    assert broken.returncode == 1 and "does not run as a Python interpreter" in broken.stderr


def test_an_unknown_option_is_refused(script_only):
    result = _install(script_only, "--devel")
    assert result.returncode == 1
    assert result.stderr == "error: unknown option '--devel' (usage: bash scripts/install.sh [--dev])\n"


def test_without_apt_a_missing_qt_library_is_named_and_nothing_is_installed(script_only, tmp_path):
    ldconfig = shutil.which("ldconfig", path=SYSTEM_PATH)
    if ldconfig is None:
        pytest.skip("no ldconfig on this machine")
    path = _system_commands_except(tmp_path / "bin", "apt-get", "apt", "dpkg", "dpkg-query", "sudo", "ldconfig")
    _executable(tmp_path / "bin" / "ldconfig", f"#!/bin/sh\n{ldconfig} -p | grep -v libxcb-cursor.so.0\n")
    result = _install(script_only, path=path, PYTHON=sys.executable)
    assert result.returncode == 1
    assert result.stderr.startswith("error: Qt needs these libraries, not found here:")
    assert "libxcb-cursor.so.0" in result.stderr and "There is no apt-get" in result.stderr
    assert not (script_only / ".venv").exists()


def test_a_user_without_root_or_sudo_is_told_the_apt_command(script_only, tmp_path):
    path = _system_commands_except(tmp_path / "bin", "id", "sudo", "dpkg-query")
    _executable(tmp_path / "bin" / "id", "#!/bin/sh\necho 1000\n")
    _executable(tmp_path / "bin" / "dpkg-query",  # every package installed but one
                '#!/bin/sh\nfor last; do :; done\n[ "$last" = libxcb-cursor0 ] || printf "install ok installed"\n')
    result = _install(script_only, path=path, PYTHON=sys.executable)
    assert result.returncode == 1
    assert result.stderr.startswith("error: missing Debian packages: libxcb-cursor0")
    assert "Install them as root (apt-get install libxcb-cursor0" in result.stderr
    assert not (script_only / ".venv").exists()


@pytest.mark.slow
def test_the_readme_commands_work_in_a_fresh_clone_with_the_distribution_python(tmp_path):
    """The committed HEAD, cloned, set up with PATH=/usr/sbin:/usr/bin:/sbin:/bin (about a minute)."""
    if not DISTRIBUTION_PYTHON.exists() or shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs /usr/bin/python3, git and a git checkout")
    clone = tmp_path / "convscope"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    python = clone / ".venv" / "bin" / "python"

    first = _install(clone)
    assert first.returncode == 0, first.stdout + first.stderr[-3000:]
    assert f"Creating .venv with {DISTRIBUTION_PYTHON} (" in first.stdout
    shot = tmp_path / "shot.png"
    window = subprocess.run([str(python), "main.py", "--screenshot", str(shot)], cwd=clone, capture_output=True,
                            text=True, timeout=300, env=_environment(SYSTEM_PATH, QT_QPA_PLATFORM="offscreen"))
    assert window.returncode == 0, window.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    torch_file = Path(subprocess.run([str(python), "-c", "import torch; print(torch.__file__)"], capture_output=True,
                                     text=True, check=True, timeout=120).stdout.strip())
    installed_at = torch_file.stat().st_mtime_ns

    again = _install(clone)
    assert again.returncode == 0 and "Python packages up to date in .venv (app); pip skipped." in again.stdout

    dev = _install(clone, "--dev")
    assert dev.returncode == 0 and "Installing requirements-dev.txt into .venv" in dev.stdout, dev.stderr[-3000:]
    subprocess.run([str(python), "-c", "import pytest, pytestqt, hypothesis"], check=True, timeout=120)
    assert "pip skipped" in _install(clone).stdout  # the dev install covers the app's requirements
    assert "pip skipped" in _install(clone, "--dev").stdout
    assert torch_file.stat().st_mtime_ns == installed_at
