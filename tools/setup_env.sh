#!/usr/bin/env bash
# Sets up everything Depth3D's standalone tool and its test suite need, from the project's own files:
#   - .venv/ with the versions AUTOMATIC1111 1.10 pins (requirements-dev.txt) and this project
#     installed editable in it, which gives the `depth3d` command (.venv/bin/depth3d),
#   - Khronos glTF-Validator under tools/node/ (npm),
#   - Debian's chromium and blender when running as root and they are missing,
#   - with --blender4: .venv-blender4/, a Python 3.11 with Blender 4.x as the bpy module
#     (requirements-blender4.txt) for the Blender 4 tests; they run when DEPTH3D_BLENDER4_PYTHON
#     names its interpreter (.ci/run does so).
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
blender4=false
for argument in "$@"; do
    case "$argument" in
        --blender4) blender4=true ;;
        *) echo "setup: unknown option $argument (known: --blender4)" >&2; exit 2 ;;
    esac
done

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
if [ "$blender4" = true ]; then
    # bpy 4.x wheels are built for CPython 3.11 only; bpy brings its own numpy, so it gets its own venv.
    if [ ! -x .venv-blender4/bin/python ]; then
        command -v python3.11 >/dev/null || { echo "setup: --blender4 needs python3.11 (bpy 4.x wheels are cp311)" >&2; exit 1; }
        echo "setup: creating .venv-blender4 (Blender 4.x as a Python module)"
        python3.11 -m venv .venv-blender4
    fi
    .venv-blender4/bin/python -m pip install -q --disable-pip-version-check -r requirements-blender4.txt
    echo "setup: Blender $(.venv-blender4/bin/python -c 'import bpy; print(bpy.app.version_string)') in .venv-blender4"
fi
echo "setup: ready (.venv/bin/depth3d, .venv/bin/python)"
