#!/usr/bin/env bash
# Installs what Convscope needs on a fresh Debian machine: Qt's system libraries, then the Python
# packages. `--dev` adds the test tools. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

qt_libs="libegl1 libgl1 libglx0 libglvnd0 libx11-6 libxcb1 libxkbcommon0 libfontconfig1 libfreetype6
libglib2.0-0 libdbus-1-3 fonts-dejavu-core libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0
libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 libx11-xcb1"
missing=""
for pkg in $qt_libs; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
fi

req=requirements.txt
[ "${1:-}" = "--dev" ] && req=requirements-dev.txt
python3 -m pip install -q --disable-pip-version-check -r "$req"
