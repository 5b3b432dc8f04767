"""Fixtures of the scene tests."""

import os

import pytest

from tests.support.blender import BLENDER4_PYTHON_VARIABLE, blender4_module, debian_blender


@pytest.fixture(scope="module", params=["3.4", "4.x"])
def blender(request):
    """Debian's Blender (3.4), or Blender 4.x as the bpy module of ``$DEPTH3D_BLENDER4_PYTHON``
    (skipped, saying how to get one, when the variable is not set)."""
    if request.param == "3.4":
        return debian_blender()
    python = os.environ.get(BLENDER4_PYTHON_VARIABLE)
    if not python:
        pytest.skip(f"Blender 4.x not given: set {BLENDER4_PYTHON_VARIABLE} to a Python that imports bpy 4.x "
                    "(tools/setup_env.sh --blender4 makes .venv-blender4/bin/python; .ci/run does)")
    return blender4_module(python)
