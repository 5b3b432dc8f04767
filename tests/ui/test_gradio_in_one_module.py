"""gradio is used in one module only, lib_depth3d/ui.py: the engine and scripts/ never touch it.

The scan reads the real source files: an ``import gradio`` (at any depth, also inside a
function) or a use of the name ``gr`` anywhere else fails the test, naming file and line.
"""

import ast
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

UI_MODULE = REPO_ROOT / "lib_depth3d" / "ui.py"


def gradio_uses(source: str) -> list[tuple[int, str]]:
    """(line, what) for each import of gradio and each use of the name ``gr`` in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f"import {alias.name}") for alias in node.names
                      if alias.name.split(".")[0] == "gradio"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "gradio":
            found.append((node.lineno, f"from {node.module} import ..."))
        elif isinstance(node, ast.Name) and node.id == "gr":
            found.append((node.lineno, "gr"))
    return found


def python_files_outside_ui() -> list[Path]:
    files = [*(REPO_ROOT / "lib_depth3d").rglob("*.py"), *(REPO_ROOT / "scripts").glob("*.py")]
    return sorted(path for path in files if path != UI_MODULE)


@pytest.mark.parametrize("snippet", [
    "import gradio as gr",
    "import gradio.routes",
    "from gradio import Blocks",
    "def build():\n    import gradio\n",
    "row = gr.Row()",
])
def test_the_scan_finds_each_way_of_using_gradio(snippet):
    assert gradio_uses(snippet)


def test_gradio_is_used_in_lib_depth3d_ui_only():
    files = python_files_outside_ui()
    assert REPO_ROOT / "scripts" / "depth3d.py" in files and REPO_ROOT / "lib_depth3d" / "pipeline.py" in files
    uses = [f"{path.relative_to(REPO_ROOT)}:{line}: {what}"
            for path in files for line, what in gradio_uses(path.read_text(encoding="utf-8"))]
    assert uses == []
    assert gradio_uses(UI_MODULE.read_text(encoding="utf-8"))
