import os

import pytest
from hypothesis import settings

from lib_depth3d.camera import read_fspy
from tests.support.fspy_reference import written_reference_project_bytes
from tests.support.paths import ARTIFACTS_DIR, FSPY_FIXTURES

# The suite is deterministic: every run draws the same examples. `HYPOTHESIS_PROFILE=explore`
# draws new ones each run, to look for failures before they reach the suite.
settings.register_profile("deterministic", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


@pytest.fixture(scope="session")
def fspy_fixtures():
    """The folder of fSpy's public reference projects (``$DEPTH3D_SHARED/fixtures/fspy``).

    Tests that use it are skipped, with the folder they looked in, where it is missing: every
    property they check is also checked on projects the tests write themselves.
    """
    if not FSPY_FIXTURES.is_dir():
        pytest.skip(
            f"fSpy's reference projects not found in {FSPY_FIXTURES}: set DEPTH3D_SHARED to the "
            "shared folder that holds fixtures/fspy (.ci/run sets it to the ../shared beside the clone)"
        )
    return FSPY_FIXTURES


@pytest.fixture(params=["written", "fspy"])
def reference_project_bytes(request):
    """A function ``name → bytes`` of fSpy's reference project ``name``, in two variants.

    ``written``: the project as the tests write it from its embedded control points
    (tests/support/fspy_reference.py); ``fspy``: fSpy's own file, skipped where it is missing.
    """
    if request.param == "written":
        return written_reference_project_bytes
    folder = request.getfixturevalue("fspy_fixtures")
    return lambda name: (folder / f"{name}.fspy").read_bytes()


@pytest.fixture
def reference_project(reference_project_bytes):
    """A function ``name → FspyProject``: :func:`reference_project_bytes`, read."""
    return lambda name: read_fspy(reference_project_bytes(name))


@pytest.fixture(scope="session")
def artifacts_dir():
    """A folder kept after the run for screenshots and reports (ignored by git)."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    return ARTIFACTS_DIR
