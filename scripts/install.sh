#!/usr/bin/env bash
# Sets Convscope up on a fresh Debian/Ubuntu machine: Qt's system libraries (apt-get, only those
# missing), then a virtual environment in .venv with the pinned Python packages. A venv, because the
# distribution's Python refuses `pip install` (PEP 668). `--dev` adds the test tools.
# Safe to run again: when nothing changed it skips apt and pip and takes about a second.
# PYTHON=/path/to/python3.X picks the interpreter the venv is made from (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."

# The pins allow these versions: Pillow 13, scikit-learn 1.9 and import-linter 2.16 need 3.11 or newer,
# PySide6 6.11 wheels stop at 3.14.
min_minor=11
max_minor=14
venv=.venv

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

mode=app
case "${1:-}" in
  "") ;;
  --dev) mode=dev ;;
  *) die "unknown option '$1' (usage: bash scripts/install.sh [--dev])" ;;
esac

# Prints "3.11" for a working interpreter, nothing for anything else.
python_version() {
  "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null | grep -xE '[0-9]+\.[0-9]+' || true
}

supported() { # "3.11" -> true when the pins have wheels for it
  [ "${1%%.*}" = 3 ] && [ "${1#*.}" -ge "$min_minor" ] && [ "${1#*.}" -le "$max_minor" ]
}

# The base interpreter the venv comes from. A working .venv is kept unless PYTHON names another one.
reuse_venv=no
if [ -x "$venv/bin/python" ] && supported "$(python_version "$venv/bin/python")"; then
  reuse_venv=yes
  if [ -n "${PYTHON:-}" ]; then
    same='import os, sys; print(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))'
    [ "$("$venv/bin/python" -c "$same")" = "$("$PYTHON" -c "$same" 2>/dev/null)" ] || reuse_venv=no
  fi
fi
if [ "$reuse_venv" = no ]; then
  base=${PYTHON:-python3}
  other="or point PYTHON at another: PYTHON=/usr/bin/python3.12 bash scripts/install.sh"
  command -v "$base" >/dev/null || die "'$base' not found. Install Python 3.$min_minor or newer \
(Debian/Ubuntu: apt-get install python3 python3-venv), $other"
  version=$(python_version "$base")
  [ -n "$version" ] || die "'$base' does not run as a Python interpreter; $other"
  supported "$version" || die "Convscope needs Python 3.$min_minor to 3.$max_minor (the pinned packages \
have no wheels for others); $(command -v "$base") is $version. Install one, e.g. \
apt-get install python3.11 python3.11-venv (Ubuntu 22.04: from the deadsnakes PPA), then run again with it: \
PYTHON=python3.11 bash scripts/install.sh"
fi

# Debian package, and the library it provides that Qt's xcb platform plugin loads (- for none).
qt_libs="libegl1:libEGL.so.1 libgl1:libGL.so.1 libglx0:libGLX.so.0 libglvnd0:libGLdispatch.so.0
libx11-6:libX11.so.6 libxcb1:libxcb.so.1 libxkbcommon0:libxkbcommon.so.0 libfontconfig1:libfontconfig.so.1
libfreetype6:libfreetype.so.6 libglib2.0-0:libglib-2.0.so.0 libdbus-1-3:libdbus-1.so.3 fonts-dejavu-core:-
libxcb-cursor0:libxcb-cursor.so.0 libxcb-icccm4:libxcb-icccm.so.4 libxcb-keysyms1:libxcb-keysyms.so.1
libxcb-image0:libxcb-image.so.0 libxcb-randr0:libxcb-randr.so.0 libxcb-render-util0:libxcb-render-util.so.0
libxcb-shape0:libxcb-shape.so.0 libxcb-xkb1:libxcb-xkb.so.1 libxkbcommon-x11-0:libxkbcommon-x11.so.0
libx11-xcb1:libX11-xcb.so.1"

missing_debs=""
if command -v dpkg-query >/dev/null; then
  for entry in $qt_libs; do
    pkg=${entry%%:*}
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing_debs="$missing_debs $pkg"
  done
elif [ "$(uname -s)" = Linux ]; then
  # Not Debian: no package names to ask for, so look for the libraries themselves.
  known=$( (command -v ldconfig >/dev/null && ldconfig -p || /sbin/ldconfig -p) 2>/dev/null || true)
  missing_sos=""
  for entry in $qt_libs; do
    so=${entry#*:}
    [ "$so" = - ] || awk -v so="$so" '$1 == so {found = 1} END {exit !found}' <<<"$known" \
      || missing_sos="$missing_sos $so"
  done
  [ -z "$missing_sos" ] || die "Qt needs these libraries, not found here:$missing_sos. There is no apt-get \
(not Debian/Ubuntu): install them with your system's package manager and run again."
fi
if [ "$reuse_venv" = no ] && ! "$base" -c 'import ensurepip, venv' 2>/dev/null; then
  command -v dpkg-query >/dev/null || die "$(command -v "$base") cannot make a virtual environment (no ensurepip); \
install your distribution's venv package for Python $version and run again."
  missing_debs="$missing_debs python$version-venv"  # Debian ships venv's ensurepip apart from Python
fi

if [ -n "$missing_debs" ]; then
  command -v apt-get >/dev/null || die "missing Debian packages:$missing_debs, and no apt-get to install them; \
install them by hand and run again."
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "missing Debian packages:$missing_debs. Install them as root \
(apt-get install$missing_debs) and run again."
    sudo=sudo
  fi
  echo "Installing Debian packages:$missing_debs"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing_debs
fi

if [ "$reuse_venv" = no ]; then
  echo "Creating $venv with $(command -v "$base") ($version)"
  rm -rf "$venv"
  "$base" -m venv "$venv"
fi
python=$venv/bin/python

# A stamp per mode: the hash of the requirement files and the venv's Python, written after pip succeeds.
# requirements-dev.txt starts with `-r requirements.txt`, so a dev install stamps both modes.
stamp_of() { # mode -> hash
  local files=(requirements.txt)
  [ "$1" = dev ] && files+=(requirements-dev.txt)
  cat "${files[@]}" | "$python" -c \
    'import hashlib, sys; print(hashlib.sha256(sys.version.encode() + sys.stdin.buffer.read()).hexdigest())'
}
stamp_file() { echo "$venv/.convscope-$1.sha256"; }

if [ "$(cat "$(stamp_file "$mode")" 2>/dev/null)" = "$(stamp_of "$mode")" ]; then
  echo "Python packages up to date in $venv ($mode); pip skipped."
else
  req=requirements.txt
  [ "$mode" = dev ] && req=requirements-dev.txt
  echo "Installing $req into $venv"
  "$python" -m pip install -q --disable-pip-version-check -r "$req"
  stamp_of app >"$(stamp_file app)"
  [ "$mode" = app ] || stamp_of dev >"$(stamp_file dev)"
fi
if [ "$mode" = dev ]; then echo "Ready: $python -m pytest"; else echo "Ready: $python main.py"; fi
