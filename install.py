"""AUTOMATIC1111 runs this at start-up: install the runtime requirements that are missing.

Only packages absent from the WebUI's environment are installed (``launch.is_installed``,
``launch.run_pip``); a package already there is never upgraded or replaced, whatever its
version, so the versions A1111 pins (numpy, torch, gradio, pydantic, …) stay as they are, and
pip's default "only if needed" strategy leaves the dependencies already installed alone.
Nothing is printed when nothing is missing. A requirement listed in ``IMPORTED_AS`` counts as
present when its module imports, whichever distribution provides it: A1111 ships OpenCV as
``opencv-python``, and a second OpenCV distribution beside it would overwrite its ``cv2``.
"""

import importlib.util
import re
from pathlib import Path

import launch

REQUIREMENTS = Path(__file__).resolve().parent / "requirements.txt"
NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
IMPORTED_AS = {"opencv-python-headless": "cv2"}


def requirements(path: Path = REQUIREMENTS) -> list[tuple[str, str]]:
    """(distribution name, requirement as written) for each line of ``requirements.txt``."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        match = NAME.match(line)
        if match:
            found.append((match.group(1), line.replace(" ", "")))
    return found


def present(name: str) -> bool:
    """Whether the WebUI already has the requirement ``name`` (by its import where it has several sources)."""
    if name in IMPORTED_AS:
        return importlib.util.find_spec(IMPORTED_AS[name]) is not None
    return launch.is_installed(name)


def install_missing() -> None:
    for name, requirement in requirements():
        if not present(name):
            launch.run_pip(f'install "{requirement}"', f"Depth3D requirement: {requirement}")


install_missing()
