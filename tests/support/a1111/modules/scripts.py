"""``Script``, ``AlwaysVisible`` and the runner that calls scripts' hooks in A1111's order."""

from __future__ import annotations

import os

from modules import errors

AlwaysVisible = object()

current_basedir = os.getcwd()


def basedir() -> str:
    """The folder of the extension whose script is being loaded (A1111 sets it per script file)."""
    return current_basedir


class PostprocessImageArgs:
    def __init__(self, image):
        self.image = image


class PostprocessBatchListArgs:
    def __init__(self, images):
        self.images = images


class Script:
    """Base class of every script; the hooks do nothing unless overridden."""

    filename = None
    args_from = None
    args_to = None
    alwayson = False
    is_txt2img = False
    is_img2img = False
    group = None
    infotext_fields = None
    paste_field_names = None
    api_info = None

    def title(self):
        raise NotImplementedError()

    def ui(self, is_img2img):
        return []

    def show(self, is_img2img):
        return True

    def run(self, p, *args):
        return None

    def setup(self, p, *args):
        pass

    def before_process(self, p, *args):
        pass

    def process(self, p, *args):
        pass

    def before_process_batch(self, p, *args, **kwargs):
        pass

    def process_batch(self, p, *args, **kwargs):
        pass

    def postprocess_batch(self, p, *args, **kwargs):
        pass

    def postprocess_batch_list(self, p, pp, *args, **kwargs):
        pass

    def postprocess_image(self, p, pp, *args):
        pass

    def postprocess(self, p, processed, *args):
        pass

    def before_component(self, component, **kwargs):
        pass

    def after_component(self, component, **kwargs):
        pass

    def elem_id(self, item_id):
        title = "".join(c for c in self.title().lower().replace(" ", "_") if c.isalnum() or c == "_")
        return f"script_{'img2img' if self.is_img2img else 'txt2img'}_{title}_{item_id}"


class ScriptRunner:
    """The scripts of one tab (txt2img or img2img): the always-on ones and the dropdown ones.

    ``p.script_args`` is a flat list: index 0 is the dropdown's choice (0 = None, n = the n-th
    selectable script), then each script's ``ui()`` values in ``args_from:args_to``.
    """

    def __init__(self, script_classes, is_img2img: bool):
        self.scripts = []
        self.alwayson_scripts = []
        self.selectable_scripts = []
        self.ui_components = {}
        position = 1
        for script_class in script_classes:
            script = script_class()
            script.is_img2img = is_img2img
            script.is_txt2img = not is_img2img
            visibility = script.show(is_img2img)
            if visibility is False:
                continue
            components = list(script.ui(is_img2img) or [])
            script.args_from, script.args_to = position, position + len(components)
            position += len(components)
            self.ui_components[script] = components
            if visibility is AlwaysVisible:
                script.alwayson = True
                self.alwayson_scripts.append(script)
            else:
                self.selectable_scripts.append(script)
            self.scripts.append(script)

    def script_args_for(self, choice: "Script | None" = None, values: "dict | None" = None) -> list:
        """A ``p.script_args`` list: ``values`` maps a script to its ``ui()`` values in order."""
        values = values or {}
        args = [0 if choice is None else self.selectable_scripts.index(choice) + 1]
        for script in self.scripts:
            given = list(values.get(script, [getattr(c, "value", None) for c in self.ui_components[script]]))
            if len(given) != script.args_to - script.args_from:
                raise ValueError(f"{script.title()} takes {script.args_to - script.args_from} ui values")
            args.extend(given)
        return args

    def _args(self, p, script):
        return p.script_args[script.args_from:script.args_to]

    def _each(self, p, hook, *before, **kwargs):
        """Call ``hook`` of every always-on script; as in A1111, an exception is reported
        (console) and the generation goes on: a script cannot stop a run by raising."""
        for script in self.alwayson_scripts:
            try:
                getattr(script, hook)(p, *before, *self._args(p, script), **kwargs)
            except Exception:
                errors.report(f"Error running {hook}: {script.filename}", exc_info=True)

    def run(self, p, *args):
        choice = args[0] if args else 0
        if not choice:
            return None
        script = self.selectable_scripts[choice - 1]
        return script.run(p, *args[script.args_from:script.args_to])

    def setup_scrips(self, p, *, is_ui=True):
        self._each(p, "setup")

    def before_process(self, p):
        self._each(p, "before_process")

    def process(self, p):
        self._each(p, "process")

    def before_process_batch(self, p, **kwargs):
        self._each(p, "before_process_batch", **kwargs)

    def process_batch(self, p, **kwargs):
        self._each(p, "process_batch", **kwargs)

    def postprocess_batch(self, p, images, **kwargs):
        self._each(p, "postprocess_batch", images=images, **kwargs)

    def postprocess_batch_list(self, p, pp, **kwargs):
        self._each(p, "postprocess_batch_list", pp, **kwargs)

    def postprocess_image(self, p, pp):
        self._each(p, "postprocess_image", pp)

    def postprocess(self, p, processed):
        self._each(p, "postprocess", processed)
