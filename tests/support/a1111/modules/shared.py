"""``opts`` (settings), ``state`` (progress and interruption) and ``cmd_opts`` (command line)."""

from __future__ import annotations

from types import SimpleNamespace


class OptionInfo:
    """A setting as registered with ``opts.add_option`` (A1111's signature)."""

    def __init__(self, default=None, label="", component=None, component_args=None, onchange=None,
                 section=None, refresh=None, comment_before="", comment_after="", infotext=None, restrict_api=False,
                 category_id=None):
        self.default = default
        self.label = label
        self.component = component
        self.component_args = component_args
        self.onchange = onchange
        self.section = section
        self.refresh = refresh
        self.comment_before = comment_before
        self.comment_after = comment_after
        self.infotext = infotext
        self.restrict_api = restrict_api
        self.category_id = category_id

    def info(self, text: str) -> "OptionInfo":
        self.label += f" ({text})"
        return self

    def needs_reload_ui(self) -> "OptionInfo":
        return self


OPTION_CATEGORIES = {
    "saving": "Saving images", "sd": "Stable Diffusion", "ui": "User Interface", "system": "System",
    "postprocessing": "Postprocessing", "training": "Training",
}
"""The settings categories A1111 1.7+ registers (``modules/shared_options.py``); a section whose
category is none of them is listed under "Uncategorized"."""


def options_section(section_identifier: tuple, options_dict: dict) -> dict:
    """Give every option the section ``(id, label)``, and with ``(id, label, category_id)`` the category."""
    for info in options_dict.values():
        info.section = tuple(section_identifier[:2])
        if len(section_identifier) == 3:
            info.category_id = section_identifier[2]
    return options_dict


class Options:
    """Settings: ``opts.key`` reads the stored value or the registered default."""

    def __init__(self, defaults: dict):
        object.__setattr__(self, "data", {})
        object.__setattr__(self, "data_labels", {key: OptionInfo(value) for key, value in defaults.items()})

    def add_option(self, key: str, info: OptionInfo) -> None:
        self.data_labels[key] = info

    def __getattr__(self, key):
        if key in self.data:
            return self.data[key]
        if key in self.data_labels:
            return self.data_labels[key].default
        raise AttributeError(f"opts has no setting {key!r}")

    def __setattr__(self, key, value):
        self.data[key] = value

    def set(self, key, value) -> bool:
        self.data[key] = value
        return True


class State:
    """Progress of the current job; ``interrupted`` is set by the Interrupt button."""

    def __init__(self):
        self.job = ""
        self.job_no = 0
        self.job_count = 0
        self.sampling_step = 0
        self.sampling_steps = 0
        self.textinfo = None
        self.interrupted = False
        self.skipped = False
        self.stopping_generation = False
        self.textinfo_history: list[str] = []

    def __setattr__(self, key, value):
        if key == "textinfo" and value is not None and hasattr(self, "textinfo_history"):
            self.textinfo_history.append(value)
        object.__setattr__(self, key, value)

    def interrupt(self) -> None:
        self.interrupted = True

    def skip(self) -> None:
        self.skipped = True

    def nextjob(self) -> None:
        self.job_no += 1
        self.sampling_step = 0

    def begin(self, job: str = "(unknown)") -> None:
        self.job = job
        self.job_no = 0
        self.job_count = -1
        self.interrupted = False
        self.skipped = False
        self.stopping_generation = False
        self.textinfo = None

    def end(self) -> None:
        self.job = ""
        self.job_count = 0


opts = Options({
    "samples_save": True,
    "samples_format": "png",
    "samples_filename_pattern": "",
    "save_images_add_number": True,
    # A1111 saves into dated subfolders by default; the double does not, unless a test turns it on.
    "save_to_dirs": False,
    "grid_save_to_dirs": False,
    "directories_filename_pattern": "[date]",
    "grid_save": True,
    "grid_format": "png",
    "grid_extended_filename": False,
    "return_grid": True,
    "enable_pnginfo": True,
    "save_txt": False,
    "outdir_samples": "",
    "outdir_txt2img_samples": "outputs/txt2img-images",
    "outdir_img2img_samples": "outputs/img2img-images",
    "outdir_txt2img_grids": "outputs/txt2img-grids",
    "outdir_img2img_grids": "outputs/img2img-grids",
    "filename_max_length": 128,
})
state = State()
cmd_opts = SimpleNamespace(use_cpu=["all"], no_half=False, api=False, listen=False, disable_safe_unpickle=False)
