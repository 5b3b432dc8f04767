"""AUTOMATIC1111's ``launch`` module as ``install.py`` sees it: ``is_installed`` and ``run_pip``.

``installed`` lists the distributions the fake WebUI has (name → version); ``run_pip``
records its calls instead of running pip.
"""

from __future__ import annotations

installed: dict[str, str] = {
    "torch": "2.1.2", "numpy": "1.26.2", "Pillow": "9.5.0", "gradio": "3.41.2", "fastapi": "0.94.0",
    "httpx": "0.24.1", "pydantic": "1.10.13", "transformers": "4.30.2", "safetensors": "0.4.2",
    # requirements_versions.txt pins scikit-image 0.21.0, which brings scipy.
    "scikit-image": "0.21.0", "scipy": "1.11.4",
}
pip_calls: list[tuple[str, str]] = []


def _normalised(name: str) -> str:
    return name.lower().replace("_", "-")


def is_installed(package: str) -> bool:
    return any(_normalised(name) == _normalised(package) for name in installed)


def run_pip(command: str, desc: str | None = None, live: bool = False) -> str:
    pip_calls.append((command, desc))
    return ""
