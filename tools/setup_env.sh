#!/usr/bin/env bash
# Sets up everything Depth3D's standalone tool and its test suite need, from the project's own files:
#   - .venv/ with the versions AUTOMATIC1111 1.10 pins (requirements-dev.txt) and this project
#     installed editable in it, which gives the `depth3d` command (.venv/bin/depth3d),
#   - Khronos glTF-Validator under tools/node/ (npm),
#   - Debian's chromium and blender when running as root and they are missing.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=""
    command -v chromium >/dev/null || missing="$missing chromium"
    command -v blender >/dev/null || missing="$missing blender python3-numpy"
    if [ -n "$missing" ]; then
        echo "setup: installing Debian packages:$missing"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
    fi
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .

if [ ! -d tools/node/node_modules/gltf-validator ]; then
    echo "setup: installing gltf-validator (npm)"
    npm install --silent --no-audit --no-fund --prefix tools/node
fi
echo "setup: ready (.venv/bin/depth3d, .venv/bin/python)"
