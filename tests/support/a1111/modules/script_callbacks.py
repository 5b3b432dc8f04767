"""Callbacks an extension registers; the double records them and lets tests fire them."""

from __future__ import annotations

from collections import defaultdict


class ImageSaveParams:
    """What ``on_image_saved`` callbacks get: the image, ``p``, the full file name and PNG info."""

    def __init__(self, image, p, filename, pnginfo):
        self.image = image
        self.p = p
        self.filename = filename
        self.pnginfo = pnginfo


callbacks: dict[str, list] = defaultdict(list)


def _add(kind, callback):
    callbacks[kind].append(callback)


def on_ui_tabs(callback):
    _add("ui_tabs", callback)


def on_ui_settings(callback):
    _add("ui_settings", callback)


def on_app_started(callback):
    _add("app_started", callback)


def on_before_image_saved(callback):
    _add("before_image_saved", callback)


def on_image_saved(callback):
    _add("image_saved", callback)


def on_before_component(callback):
    _add("before_component", callback)


def on_after_component(callback):
    _add("after_component", callback)


def on_script_unloaded(callback):
    _add("script_unloaded", callback)


def ui_tabs_callback() -> list:
    tabs = []
    for callback in callbacks["ui_tabs"]:
        tabs += callback() or []
    return tabs


def ui_settings_callback() -> None:
    for callback in callbacks["ui_settings"]:
        callback()


def app_started_callback(demo, app) -> None:
    for callback in callbacks["app_started"]:
        callback(demo, app)


def before_image_saved_callback(params: ImageSaveParams) -> None:
    for callback in callbacks["before_image_saved"]:
        callback(params)


def image_saved_callback(params: ImageSaveParams) -> None:
    for callback in callbacks["image_saved"]:
        callback(params)
