import pytest

from tests.support.paths import ARTIFACTS_DIR, FSPY_FIXTURES


@pytest.fixture(scope="session")
def fspy_fixtures():
    """The folder of public fSpy reference projects (../shared/fixtures/fspy)."""
    assert FSPY_FIXTURES.is_dir(), f"shared fixtures missing: {FSPY_FIXTURES}"
    return FSPY_FIXTURES


@pytest.fixture(scope="session")
def artifacts_dir():
    """A folder kept after the run for screenshots and reports (ignored by git)."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    return ARTIFACTS_DIR
