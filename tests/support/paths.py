"""Where the tests find the project, the shared reference data and their artefact folder."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# CI sets DEPTH3D_SHARED; without it, the ../shared beside the clone (absent on a bare clone).
SHARED_DIR = Path(os.environ.get("DEPTH3D_SHARED", REPO_ROOT.parent / "shared")).resolve()
FSPY_FIXTURES = SHARED_DIR / "fixtures" / "fspy"
EXAMPLES_DIR = REPO_ROOT / "examples"
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
