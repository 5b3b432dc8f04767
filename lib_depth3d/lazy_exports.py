"""Package namespaces that import a submodule only when one of its names is first used.

``from lib_depth3d.camera import Camera`` must not load line detection, the fSpy reader and
OpenCV's neighbours with it: a command pays only for the modules it runs (``depth3d scene
--depth D.npy`` imports no network code and no HTTP client). Each package lists its public names
and the submodule defining each; :func:`lazy_exports` gives the module ``__getattr__`` (PEP 562)
and ``__dir__`` that resolve them on first access.
"""

from __future__ import annotations

import importlib
from typing import Callable, Mapping


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """(``__getattr__``, ``__dir__``) for ``package`` whose public ``name`` lives in the submodule
    ``exports[name]`` (a name relative to the package, such as ``"model"``). An attribute that is
    no export is looked up as a submodule (``lib_depth3d.camera.detect``), as after an import."""

    def __getattr__(name: str) -> object:
        if name in exports:
            value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        else:
            try:
                value = importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as error:
                if error.name != f"{package}.{name}":
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        return value

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
