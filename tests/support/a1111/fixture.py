"""The ``a1111`` pytest fixture: the host double on ``sys.modules`` and helpers to drive it.

Use it with ``from tests.support.a1111.fixture import a1111  # noqa: F401`` in a test module.
Each test gets fresh modules (settings, state, callbacks), a WebUI folder under ``tmp_path``
(``paths.data_path``, ``paths.models_path``, the outputs), ``torch.load`` replaced by A1111's
safe unpickler (``modules.safe``), and restores ``sys.modules``, ``sys.path``, ``torch.load``
and ``DEPTH3D_MODELS_DIR`` afterwards.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

import pytest

DOUBLE_DIR = Path(__file__).resolve().parent
MODULES_DIR = DOUBLE_DIR / "modules"
REPO_ROOT = DOUBLE_DIR.parents[2]
MODULE_NAMES = (
    "paths", "devices", "errors", "shared", "safe", "script_callbacks", "scripts", "generation_parameters_copypaste",
    "images", "processing", "ui_components",
)


def _load(name: str, path: Path, package_path: Path | None = None) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        name, path, submodule_search_locations=[str(package_path)] if package_path else None
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def paste_values(infotext: str, fields: list) -> list:
    """The values A1111's paste button gives ``fields`` (``(component, key)`` pairs, ``key`` a
    name or a function of the parsed parameters) from an infotext, as ``connect_paste`` does: a
    missing value (None) leaves the component as it is; otherwise the value is converted to the
    type of the component's current value ("False" → False for checkboxes), and a value that
    cannot be converted leaves the component as it is."""
    from modules.generation_parameters_copypaste import parse_generation_parameters

    params = parse_generation_parameters(infotext)
    values = []
    for component, key in fields:
        current = component.value
        value = key(params) if callable(key) else params.get(key)
        if value is None:
            values.append(current)
            continue
        try:
            values.append(False if isinstance(current, bool) and value == "False" else type(current)(value))
        except (TypeError, ValueError):
            values.append(current)
    return values


class Host:
    """The fake WebUI of one test: its modules, folders and the ways a user starts work."""

    def __init__(self, root: Path):
        self.root = root
        self.modules = {name: sys.modules[f"modules.{name}"] for name in MODULE_NAMES}
        self.launch = sys.modules["launch"]
        for name, module in self.modules.items():
            setattr(self, name, module)

    def load_script(self, relative_path: str) -> ModuleType:
        """Load ``scripts/NAME.py`` of the extension by path, as A1111's ``load_scripts`` does:
        the extension folder is ``scripts.basedir()`` and on ``sys.path`` while it loads."""
        path = REPO_ROOT / relative_path
        saved_path = list(sys.path)
        sys.path.insert(0, str(REPO_ROOT))
        self.scripts.current_basedir = str(REPO_ROOT)
        try:
            spec = importlib.util.spec_from_file_location(path.name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        finally:
            sys.path[:] = saved_path
            self.scripts.current_basedir = self.paths.script_path
        return module

    @staticmethod
    def script_classes(module: ModuleType) -> list[type]:
        return [value for value in vars(module).values() if inspect.isclass(value)
                and issubclass(value, sys.modules["modules.scripts"].Script) and value.__module__ == module.__name__]

    def runner(self, module: ModuleType, is_img2img: bool):
        """The ScriptRunner of the txt2img (or img2img) tab holding ``module``'s scripts."""
        runner = self.scripts.ScriptRunner(self.script_classes(module), is_img2img)
        for script in runner.scripts:
            script.filename = module.__file__
        return runner

    def img2img_script(self, relative_path: str):
        """(runner, script) of an img2img tab whose Script dropdown holds ``relative_path``'s
        one selectable script, its controls built inside a gradio Blocks as A1111 builds them."""
        import gradio as gr

        module = self.load_script(relative_path)
        with gr.Blocks():
            runner = self.runner(module, is_img2img=True)
        (script,) = runner.selectable_scripts
        return runner, script

    def txt2img(self, runner, script_args: list, **fields):
        outputs = self.root / "outputs"
        p = self.processing.StableDiffusionProcessingTxt2Img(
            outpath_samples=str(outputs / "txt2img-images"), outpath_grids=str(outputs / "txt2img-grids"),
            scripts=runner, script_args=script_args, **fields)
        return p, self._generate(p)

    def img2img(self, runner, script_args: list, **fields):
        outputs = self.root / "outputs"
        p = self.processing.StableDiffusionProcessingImg2Img(
            outpath_samples=str(outputs / "img2img-images"), outpath_grids=str(outputs / "img2img-grids"),
            scripts=runner, script_args=script_args, **fields)
        return p, self._generate(p)

    def _generate(self, p):
        """What modules/txt2img.py and img2img.py do with a ``p``: set up the scripts, let a
        selected dropdown script run, else process_images."""
        state = self.shared.state
        state.begin(job="txt2img")
        try:
            p.scripts.setup_scrips(p)
            processed = p.scripts.run(p, *p.script_args)
            if processed is None:
                processed = self.processing.process_images(p)
            return processed
        finally:
            state.end()


@pytest.fixture
def a1111(tmp_path, monkeypatch):
    """A fresh AUTOMATIC1111 double (see :class:`Host`) installed as ``modules`` and ``launch``."""
    import torch

    saved_torch_load = torch.load
    saved_modules = {name: module for name, module in sys.modules.items()
                     if name == "modules" or name.startswith("modules.") or name == "launch"}
    saved_path = list(sys.path)
    monkeypatch.delenv("DEPTH3D_MODELS_DIR", raising=False)
    root = tmp_path / "webui"
    root.mkdir()
    try:
        for name in saved_modules:
            del sys.modules[name]
        package = _load("modules", MODULES_DIR / "__init__.py", MODULES_DIR)
        for name in MODULE_NAMES:
            module = _load(f"modules.{name}", MODULES_DIR / f"{name}.py")
            setattr(package, name, module)
            if name == "paths":
                module.script_path = module.data_path = str(root)
                module.models_path = str(root / "models")
        _load("launch", DOUBLE_DIR / "launch.py")
        yield Host(root)
    finally:
        for name in [n for n in sys.modules if n == "modules" or n.startswith("modules.") or n == "launch"]:
            del sys.modules[name]
        sys.modules.update(saved_modules)
        sys.path[:] = saved_path
        torch.load = saved_torch_load
