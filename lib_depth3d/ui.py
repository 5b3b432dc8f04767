"""Every gradio call of the extension (gradio 3.41, and 4 for Forge): the Depth 3D tab, the
txt2img/img2img accordion, the "Depth mask inpaint" script's controls and the settings' components.

``scripts/`` only adapts A1111 and calls the builders here: ``on_ui_tabs`` calls
:func:`build_tab`, the accordion's ``Script.ui`` :func:`build_accordion`, the mask script's
:func:`build_mask_script_controls`. ``python -m lib_depth3d ui`` serves the same tab standalone.

The tab's canvas editor is ``javascript/depth3d_canvas.js``; it exchanges the lines JSON with
Python through hidden textboxes (see :mod:`lib_depth3d.canvas`). The tab's work goes through
:mod:`lib_depth3d.pipeline`; every :class:`~lib_depth3d.errors.Depth3DError` is shown in words
beside the canvas, never as a traceback.
"""

from __future__ import annotations

import html
import inspect
import json
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import gradio as gr
from PIL import Image

from lib_depth3d import canvas
from lib_depth3d.camera.inputs import AXES, PRINCIPAL_POINT_MODES
from lib_depth3d.camera.inputs import MODES as CALIBRATION_MODES
from lib_depth3d.options import MAX_SERVED_GRID_SIDE, SceneOptions
from lib_depth3d.errors import Depth3DError, InputError
from lib_depth3d.files import base64_file_bytes, open_image, to_rgb
from lib_depth3d.progress import Progress

if TYPE_CHECKING:
    from lib_depth3d.camera.detect import DetectionConfidence
    from lib_depth3d.scene.fit import CalibrationFit

TAB_TITLE = "Depth 3D"
TAB_ID = "depth3d"
ANIMATIONS = ("none", "walk", "dolly", "orbit")
HIDDEN = ["depth3d-hidden"]
GRADIO_4 = int(gr.__version__.split(".")[0]) >= 4
"""Forge runs gradio 4: the few calls that differ go through the helpers below."""


def _upload_image(**kwargs) -> gr.Image:
    return gr.Image(sources=["upload"], **kwargs) if GRADIO_4 else gr.Image(source="upload", **kwargs)


def _js(function_name: str) -> dict:
    return {"js": function_name} if GRADIO_4 else {"_js": function_name}


def _file_path(uploaded) -> str:
    """An uploaded gr.File's path: gradio 4 passes the path, gradio 3 a temporary-file wrapper."""
    return uploaded if isinstance(uploaded, str) else uploaded.name


def _is_inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether ``path`` is ``folder`` or under it once both are resolved (``..`` and symbolic links)."""
    resolved, base = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return resolved == base or base in resolved.parents


def _gradio_temp_folder() -> Path:
    """Where gradio (3.41 and 4) keeps uploads and the copies of the files it serves."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")


def _spellings(folder: str | os.PathLike) -> set[str]:
    return {spelling.rstrip(os.sep) for spelling in (str(folder), os.path.abspath(folder), os.path.realpath(folder))}


def _without_server_paths(text: str, outputs_dir: str | None = None, models_folder: str | None = None) -> str:
    """``text`` with every path under the outputs folder, gradio's temp folder or the system's
    temp folder replaced by words: the page may be seen by people who must not learn the
    server's folders (an uploaded file's path, an output path). A path in the models folder is
    kept: a missing-weights message names it as the remedy. A sentence's full stop after a
    path stays."""
    folders = {str(_gradio_temp_folder()): "the uploaded file", tempfile.gettempdir(): "a temporary file"}
    if outputs_dir:
        folders[str(outputs_dir)] = "the outputs folder"
    kept = _spellings(models_folder) if models_folder else set()
    variants = {}
    for folder, words in folders.items():
        for spelling in _spellings(folder):
            variants.setdefault(spelling, words)

    def hidden(match: re.Match, words: str) -> str:
        path = match.group(0)
        return path if any(path == folder or path.startswith(folder + os.sep) for folder in kept) else words

    for folder in sorted(variants, key=len, reverse=True):  # the deepest folder names a path best
        pattern = re.escape(folder) + r"(?![^/\s'\",;:])(?:/[^\s'\",;:]*[^\s'\",;:.)])?"
        text = re.sub(pattern, lambda match, words=variants[folder]: hidden(match, words), text)
    return text


NOT_AN_UPLOAD = "Depth 3D reads only files uploaded through this page; upload the file again."

if not GRADIO_4:
    class _UploadedFile(gr.File):
        """``gr.File`` that takes only files uploaded through the page. Gradio 3 copies whatever
        server path a request names as ``{"name": path, "is_file": true}`` into its temp folder,
        hands the copy to the event and then serves it; the page's own uploads are already in that
        folder. (Gradio 4 refuses such paths itself.)"""

        is_template = True  # the page shows it as the "file" component it is

        def preprocess(self, x):
            entries = x if isinstance(x, list) else [x] if x else []
            if any(entry.get("is_file") and not _is_inside(entry["name"], self.DEFAULT_TEMP_DIR) for entry in entries):
                raise gr.Error(NOT_AN_UPLOAD)
            return super().preprocess(x)


def _file_input(**kwargs) -> gr.File:
    return gr.File(**kwargs) if GRADIO_4 else _UploadedFile(**kwargs)


NOT_A_PICTURE = "The uploaded file is not a readable picture. Use a PNG, JPEG or WebP file."


def _picture_upload_bytes(payload) -> bytes:
    """The file behind the picture input's value as the page sends it: gradio 3 a data URL (or
    bare base64), gradio 4 the ``FileData`` of an upload, whose path must be in gradio's temp folder
    (the event skips gradio's own reading, and with it gradio's check of that path)."""
    if isinstance(payload, dict):
        path = payload.get("path") if GRADIO_4 else None
        if not isinstance(path, str) or not _is_inside(path, _gradio_temp_folder()):
            raise InputError(NOT_AN_UPLOAD)
        try:
            return Path(path).read_bytes()
        except OSError as error:
            raise InputError("The uploaded picture is no longer on the server; upload it again.") from error
    try:
        return base64_file_bytes(str(payload), "The picture")
    except InputError as error:
        raise InputError(NOT_A_PICTURE) from error


def read_picture_upload(payload) -> Image.Image | None:
    """The picture input's value as the page sends it, read by :func:`lib_depth3d.files.open_image`
    (our limits, the EXIF orientation) into an RGB picture; None when the input was cleared.

    The tab reads it itself (its event skips gradio's reading): gradio raises on a file that is not
    a picture, and the page then shows only "Error". Raises :class:`InputError` saying what is wrong.
    """
    if payload is None:
        return None
    return to_rgb(open_image(_picture_upload_bytes(payload)))


def _message(kind: str, text: str) -> str:
    return f'<div class="depth3d-message depth3d-{kind}">{_escape(text)}</div>'


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>")


def _parse_lines(lines_text: str) -> dict | None:
    """The canvas's lines JSON (None before a picture is loaded)."""
    if not lines_text or not lines_text.strip():
        return None
    try:
        lines = json.loads(lines_text)
    except json.JSONDecodeError as error:
        raise InputError(f"The canvas sent lines that are not JSON ({error}); reload the page.") from error
    if not isinstance(lines, dict):
        raise InputError("The canvas sent lines that are not a JSON object; reload the page.")
    return lines


def _canvas_message(picture: Image.Image | None, lines: dict | None) -> str:
    return json.dumps({
        "serial": time.time_ns(),
        "image_url": canvas.picture_data_url(picture) if picture is not None else None,
        "lines": lines,
    })


def _degrees(value: float) -> str:
    return f"{value:.2f}°"


# --- the tab's handlers ------------------------------------------------------------------------
# Each handler takes the tab's values by name (a mapping) and returns, by name, only the values it
# changes; build_tab names every component once and connects the handlers through _NamedEvents.
# The names: "upload" (the picture input), "picture" (the picture in use), "lines" (the canvas's
# lines JSON), "to_canvas", "report", "message", "detected", the settings of SETTING_NAMES, and
# the build, .fspy and mask values named in each handler's docstring.


@dataclass(frozen=True)
class _Settings:
    """The calibration settings beside the canvas."""

    mode: str
    first_axis: str
    second_axis: str
    principal_point_mode: str
    focal_length_mm: float
    reference_axis: str
    reference_distance: float
    reference_unit: str

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> "_Settings":
        return cls(**{name: values[name] for name in SETTING_NAMES})

    def apply(self, lines: dict) -> dict:
        return canvas.lines_with_settings(
            lines,
            mode=self.mode,
            first_axis=self.first_axis,
            second_axis=self.second_axis,
            principal_point_mode=self.principal_point_mode,
            focal_length_mm=24.0 if self.focal_length_mm is None else float(self.focal_length_mm),
            reference_axis=None if self.reference_axis == "none" else self.reference_axis,
            reference_distance=float(self.reference_distance or 0) or None,
            reference_unit=self.reference_unit,
        )


SETTING_NAMES = tuple(field.name for field in fields(_Settings))
"""The calibration settings' names, as :func:`lib_depth3d.canvas.settings_of_lines` gives them."""


def _solve(lines_text: str, note: str = "") -> tuple[str, str]:
    """(report JSON for the canvas, message HTML) for ``lines_text``; ``note`` ends a solved message."""
    from lib_depth3d import pipeline

    try:
        lines = _parse_lines(lines_text)
        if lines is None:
            return "", ""
        report = pipeline.calibrate_lines(lines)
        overlay = canvas.calibration_overlay(report, lines)
    except Depth3DError as error:
        return json.dumps({"error": str(error), "lines": lines_text}), _message("error", f"Cannot solve the camera: {error}")
    text = (
        f"Solved: horizontal field of view {_degrees(report['trueHorizontalFieldOfViewDegrees'])}, "
        f"vertical {_degrees(report['trueVerticalFieldOfViewDegrees'])}, "
        f"focal length {report['focalLengthMillimeters']:.1f} mm ({report['focalLengthPixels']:.1f} px)."
    )
    residuals = [r for r in report.get("vanishingPointResidualsPixels") or [] if r]
    if residuals:
        text += " Line misfit: " + ", ".join(f"{r:.2f} px" for r in residuals) + "."
    if note:
        text += f"\n{note}"
    for warning in report.get("warnings") or []:
        text += f"\nWarning: {warning}"
    kind = "warning" if report.get("warnings") else "ok"
    # The lines solved travel back, so the canvas can tell a stale report from the current one.
    return json.dumps({"report": report, "overlay": overlay, "lines": lines_text}), _message(kind, text)


def on_lines(values: Mapping[str, Any]) -> dict[str, Any]:
    """The canvas's lines changed: ``lines`` solved into ``report`` and ``message``. ``detected``
    (set by :func:`on_detect_lines`) adds the detection's confidence while the lines are the ones
    it found."""
    detected = values.get("detected") or {}
    lines_text = values["lines"] or ""
    same_as_detected = bool(detected) and lines_text.strip() == detected["lines"].strip()
    report, message = _solve(lines_text, detected["note"] if same_as_detected else "")
    return {"report": report, "message": message}


def on_picture(values: Mapping[str, Any]) -> dict[str, Any]:
    """A new ``upload`` (the picture input's value as the page sends it, see
    :func:`read_picture_upload`): it becomes the ``picture``, with a first drawing of its size and
    the current settings sent to the canvas. An upload that is not a usable picture is cleared from
    the input and the canvas keeps the current one; the message says why."""
    try:
        picture = read_picture_upload(values["upload"])
    except InputError as error:
        text = f"Cannot use the picture: {error} The canvas keeps the current picture."
        return {"upload": None, "message": _message("error", text)}
    if picture is None:
        return {"picture": None, "lines": "", "to_canvas": _canvas_message(None, None), "message": ""}
    lines = _Settings.of(values).apply(canvas.default_lines(picture.width, picture.height))
    return {"picture": picture, "lines": json.dumps(lines), "to_canvas": _canvas_message(picture, lines), "message": ""}


def on_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """A changed setting: merged into the ``lines``; the canvas shows the handles it needs."""
    try:
        lines = _parse_lines(values["lines"])
    except InputError:
        lines = None
    if lines is None:
        return {}
    lines = _Settings.of(values).apply(lines)
    return {"lines": json.dumps(lines), "to_canvas": _canvas_message(values["picture"], lines)}


def _lines_loaded(picture: Image.Image, lines: dict) -> dict[str, Any]:
    """What the tab shows for a picture and lines that replace the current ones, settings included."""
    return {"lines": json.dumps(lines), "to_canvas": _canvas_message(picture, lines), **canvas.settings_of_lines(lines)}


FSPY_WITHOUT_PICTURE = (
    "Cannot load the .fspy: it holds no picture. Save it in fSpy with its picture loaded, "
    "or upload the picture here and draw its lines."
)


def on_fspy_upload(values: Mapping[str, Any]) -> dict[str, Any]:
    """An ``fspy_file``: its picture and lines replace the current ones, its settings are shown."""
    from lib_depth3d.camera import lines_json, read_fspy
    from lib_depth3d.files import open_image, to_rgb

    fspy_file = values["fspy_file"]
    if fspy_file is None:
        return {"message": ""}
    try:
        project = read_fspy(Path(_file_path(fspy_file)).read_bytes())
        if not project.image_bytes:
            return {"message": _message("error", FSPY_WITHOUT_PICTURE)}
        picture = to_rgb(open_image(project.image_bytes))
        lines = lines_json(project.calibration_input())
    except (Depth3DError, OSError) as error:
        return {"message": _message("error", _without_server_paths(f"Cannot load the .fspy: {error}"))}
    return {"picture": picture, "upload": picture, **_lines_loaded(picture, lines), "message": ""}


def _confidence_words(confidence: DetectionConfidence) -> str:
    """The detection's confidence as a sentence: the counts, the misfit, and each doubt."""
    from lib_depth3d.camera import detect

    counts = confidence.segments_per_direction
    found = f"Detected lines: {counts[0]} and {counts[1]} segments along two directions" + (
        f", {counts[2]} along a third" if len(counts) > 2 else "")
    found += f", misfit up to {confidence.misfit_px:.2f} px"
    if confidence.high:
        assumed = (" The principal point is assumed at the picture's centre: right for an uncropped photo, "
                   "not for a cropped one.") if confidence.principal_point_assumed_at_centre else ""
        return found + ": high confidence." + assumed
    doubts = []
    if confidence.principal_point_from_third_vp:
        doubts.append("the principal point comes from three vanishing points, with nothing left to check it")
    if min(counts[:2]) < detect.HIGH_CONFIDENCE_MIN_SEGMENTS:
        doubts.append("a direction has few segments")
    if confidence.misfit_px > detect.HIGH_CONFIDENCE_MAX_MISFIT_PX:
        doubts.append("the segments miss their vanishing points by more than "
                      f"{detect.HIGH_CONFIDENCE_MAX_MISFIT_PX:g} px")
    if not confidence.fov_sensitivity_deg <= detect.HIGH_CONFIDENCE_MAX_FOV_SENSITIVITY_DEG:
        doubts.append("one direction's edges are nearly parallel in the picture, so the focal length is barely fixed")
    low, high = confidence.fov_interval_deg
    if high - low > detect.HIGH_CONFIDENCE_MAX_FOV_INTERVAL_DEG:
        doubts.append(f"the segments allow a field of view from {low:.0f}° to {high:.0f}°")
    residual = confidence.orthogonality_residual_deg
    if residual is not None and residual > detect.HIGH_CONFIDENCE_MAX_ORTHOGONALITY_DEG:
        doubts.append(f"the third direction is {residual:.1f}° from perpendicular to the other two")
    if residual is None and not confidence.principal_point_from_third_vp:
        doubts.append("no third direction was found to check the focal length the other two give")
    return found + ": low confidence (" + "; ".join(doubts) + "). Check the lines and correct them."


def on_detect_lines(values: Mapping[str, Any]) -> dict[str, Any]:
    """"Detect lines": vanishing lines detected in the ``picture`` replace the canvas's ``lines``
    (the reference distance set there stays), solved, with the confidence in words. A picture
    where detection fails keeps its lines and gets the reason."""
    from lib_depth3d.camera.detect import detect_calibration

    picture = values["picture"]
    if picture is None:
        return {"message": _message("error", "Upload a picture first, then detect its lines.")}
    try:
        detection = detect_calibration(picture)
    except Depth3DError as error:
        return {"message": _message("error", f"Cannot detect lines: {error} The lines on the canvas are unchanged.")}
    lines = detection.lines_json()
    try:
        current = _parse_lines(values["lines"]) or {}
    except InputError:
        current = {}
    if current.get("reference"):
        lines["reference"] = current["reference"]
    loaded = _lines_loaded(picture, lines)
    note = _confidence_words(detection.confidence)
    report, message = _solve(loaded["lines"], note)
    return {**loaded, "report": report, "message": message, "detected": {"lines": loaded["lines"], "note": note}}


def on_save_fspy(values: Mapping[str, Any]) -> dict[str, Any]:
    """The ``picture`` and the current ``lines`` as an fSpy project to download (``fspy_download``)."""
    from lib_depth3d.camera import calibrate, fspy_project_bytes, parse_lines_json
    from lib_depth3d.files import png_bytes, write_bytes_atomic

    picture, lines_text, outputs_dir = values["picture"], values["lines"], values["outputs_dir"]
    if picture is None or not lines_text:
        return {"fspy_download": None,
                "message": _message("error", "Upload a picture and draw its lines before saving an .fspy project.")}
    try:
        calibration_input = parse_lines_json(_parse_lines(lines_text))
        try:
            calibration = calibrate(calibration_input)
        except Depth3DError:
            calibration = None
        data = fspy_project_bytes(calibration_input, png_bytes(picture), calibration)
        path = _new_output_dir(outputs_dir) / "depth3d.fspy"
        write_bytes_atomic(path, data)
    except (Depth3DError, OSError) as error:
        text = _without_server_paths(f"Cannot save the .fspy: {error}", outputs_dir)
        return {"fspy_download": None, "message": _message("error", text)}
    note = "" if calibration is not None else " (the lines do not solve yet; the project holds no camera)"
    return {"fspy_download": str(path), "message": _message("ok", f"Saved the .fspy project{note}.")}


def on_blender_addon(values: Mapping[str, Any]) -> dict[str, Any]:
    """The Blender add-on that imports a scene at its camera (``depth3d_blender.zip``) to download."""
    from lib_depth3d.blender_addon import addon_zip_bytes
    from lib_depth3d.files import write_bytes_atomic

    try:
        path = _new_output_dir(values["outputs_dir"]) / "depth3d_blender.zip"
        write_bytes_atomic(path, addon_zip_bytes())
    except (Depth3DError, OSError) as error:
        text = _without_server_paths(f"Cannot write the Blender add-on: {error}", values["outputs_dir"])
        return {"blender_addon_file": None, "message": _message("error", text)}
    return {"blender_addon_file": str(path),
            "message": _message("ok", "Install the add-on in Blender, then File › Import › Depth3D scene (.glb).")}


def _new_output_dir(outputs_dir: str | None) -> Path:
    if outputs_dir:
        base = Path(outputs_dir)
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=base))
    return Path(tempfile.mkdtemp(prefix="depth3d-"))


def on_build(values: Mapping[str, Any], progress: Progress | None = None) -> dict[str, Any]:
    """Calibration + depth + scene from the ``picture``, its ``lines`` and the depth and scene
    settings (``source``, ``depth_file``, ``near``, ``far``, ``resolution``, ``cut_edges``,
    ``decimate``, ``fill_occlusions``, ``animation``), written under ``outputs_dir`` with depth
    weights from ``models_folder`` (None: the default folder) and ``weights_advice`` ending a
    missing-weights message (see :class:`~lib_depth3d.depth.sources.NetworkDepth`; None: the
    standalone server's). Gives the .glb for the viewer
    (``scene_file``), the ``downloads``, the camera in words (``summary``), the ``depth`` for the
    mask, and the ``message``; a failure clears the previous build's."""
    from lib_depth3d import pipeline
    from lib_depth3d.camera.sources import calibration_source
    from lib_depth3d.depth.sources import parse_depth_source
    from lib_depth3d.depth.weights_advice import MODELS_FOLDER_ADVICE

    def failed(text: str) -> dict[str, Any]:
        return {"scene_file": None, "downloads": None, "summary": "", "depth": None, "message": _message("error", text)}

    picture, lines_text, outputs_dir = values["picture"], values["lines"], values["outputs_dir"]
    if picture is None or not lines_text:
        return failed("Upload a picture first, then draw its vanishing lines.")
    depth_file = values["depth_file"]
    try:
        camera = calibration_source(_parse_lines(lines_text), "the canvas")
        depth_source = parse_depth_source(values["source"], depth=None if depth_file is None else _file_path(depth_file),
                                          models_folder=values["models_folder"],
                                          weights_advice=values["weights_advice"] or MODELS_FOLDER_ADVICE)
        options = SceneOptions(
            near=float(values["near"]) if values["near"] else None,
            far=float(values["far"]) if values["far"] else None,
            resolution=int(values["resolution"]),
            cut_discontinuities=bool(values["cut_edges"]),
            decimate=bool(values["decimate"]),
            fill_occlusions=bool(values["fill_occlusions"]),
            animation=None if values["animation"] == "none" else values["animation"],
            html_page=True,
        )
        build = pipeline.run_scene(picture, depth=depth_source, camera=camera, options=options,
                                   glb_path=_new_output_dir(outputs_dir) / "depth3d.glb", progress=progress)
    except (Depth3DError, OSError) as error:
        return failed(_without_server_paths(f"Cannot build the scene: {error}", outputs_dir,
                                            values["models_folder"]))
    files = build.files
    text = "Built the scene." + "".join(f"\nWarning: {warning}" for warning in files.warnings)
    return {
        "scene_file": str(files.glb),
        "downloads": [str(path) for path in (files.glb, files.html_page, files.fspy, files.camera_json, files.depth_png)
                      if path],
        "summary": _scene_summary(files.calibration_report or {}, build.scene.calibration_fit),
        "depth": build.depth,
        "message": _message("warning" if files.warnings else "ok", text),
    }


def _scene_summary(report: dict, fit: CalibrationFit | None) -> str:
    """The camera in words and, when the depth was fitted to (or checked against) the
    calibration, the fit's line as the command line prints it."""
    if not report:
        return ""
    rows = [
        ("Horizontal field of view", _degrees(report["trueHorizontalFieldOfViewDegrees"])),
        ("Vertical field of view", _degrees(report["trueVerticalFieldOfViewDegrees"])),
        ("Focal length", f"{report['focalLengthMillimeters']:.2f} mm ({report['focalLengthPixels']:.1f} px)"),
        ("Camera position", ", ".join(f"{v:.3f}" for v in report["cameraPosition"])
         + (f" {report['referenceDistanceUnit']}" if report.get("referenceDistanceUnit") else " units")),
    ]
    if fit is not None:
        rows.append(("Depth", fit.summary()))
    return "\n".join(f"- **{name}:** {value}" for name, value in rows)


MASK_SETTING_NAMES = ("near_min", "near_max", "invert", "hard", "feather_px", "grow_px")


def on_mask(values: Mapping[str, Any]) -> dict[str, Any]:
    """Live ``mask_preview`` (white = repaint) from the last build's ``depth`` and the mask
    settings of :data:`MASK_SETTING_NAMES`, with its ``mask_message``."""
    from lib_depth3d import pipeline
    from lib_depth3d.mask import MaskOptions

    picture, depth = values["picture"], values["depth"]
    if picture is None or depth is None:
        return {"mask_preview": None, "mask_message": _message("info", "Build a scene first: the mask comes from its depth.")}
    try:
        result = pipeline.make_mask(picture, depth.nearness(), MaskOptions(
            near_min=float(values["near_min"]), near_max=float(values["near_max"]), invert=bool(values["invert"]),
            hard=bool(values["hard"]), feather_px=float(values["feather_px"]), grow_px=int(values["grow_px"]),
        ))
    except Depth3DError as error:
        return {"mask_preview": None, "mask_message": _message("error", f"Cannot make the mask: {error}")}
    text = "".join(f"Warning: {warning}\n" for warning in result.warnings)
    return {"mask_preview": result.mask, "mask_message": _message("warning", text) if text else ""}


UNEXPECTED = ("Depth 3D failed unexpectedly ({kind}); this is a bug: the server's log has the details, "
              "please report it.")


class _NamedEvents:
    """The tab's components by name, and events whose handlers take and return values by name.

    Gradio passes a handler whose inputs are given as a set one dict keyed by component and takes
    back a dict keyed by component (gradio 3.41 and 4): here both are translated to and from the
    names, once, so no handler depends on the order of a list.
    """

    def __init__(self, components: Mapping[str, Any]):
        self.components = dict(components)
        self.names = {component: name for name, component in self.components.items()}

    def on(self, trigger, handler, inputs: Sequence[str], outputs: Sequence[str], *, message: str = "message",
           **options):
        """Call ``handler`` on ``trigger`` (a component's event method, or a dependency's ``then``)
        with the values named ``inputs``; it may change those named ``outputs``. An unexpected
        exception is logged and reported in the output ``message``, never as gradio's bare "Error".
        ``options`` go to ``trigger`` (``show_progress``, …)."""
        output_components = [self.components[name] for name in outputs]

        def call(values, **keywords):
            named = {self.names[component]: value for component, value in values.items()}
            try:
                changed = handler(named, **keywords)
            except Exception as error:  # the last line of defence: a sentence beside the canvas
                logging.getLogger(__name__).exception("Depth 3D: %s failed", handler.__name__)
                changed = {message: _message("error", UNEXPECTED.format(kind=type(error).__name__))}
            # gradio reads an empty dict as a value for every output, not as "nothing changed".
            return {self.components[name]: value for name, value in changed.items()} or {output_components[0]: gr.update()}

        if "progress" in inspect.signature(handler).parameters:
            def event(values, progress=gr.Progress()):  # gradio finds its tracker by this default
                return call(values, progress=lambda text, fraction: progress(fraction, desc=text))
        else:
            def event(values):
                return call(values)
        event.__name__ = event.__qualname__ = handler.__name__
        return trigger(event, inputs={self.components[name] for name in inputs}, outputs=output_components, **options)


def _depth_sources() -> list[str]:
    from lib_depth3d.depth.sources import available_sources

    return available_sources()


def _licence_line(source_choice: gr.Dropdown, elem_id: str) -> gr.Markdown:
    """A line under ``source_choice`` naming the licence of the chosen source, kept up to date
    as the choice changes (some weights are for non-commercial use only)."""
    from lib_depth3d.depth.licence_note import licence_note

    line = gr.Markdown(licence_note(source_choice.value or ""), elem_id=elem_id, elem_classes=["depth3d-licence"])
    source_choice.change(show_licence, inputs=[source_choice], outputs=[line], queue=False, show_progress="hidden")
    return line


def show_licence(source: str | None) -> str:
    """The licence line for the source just chosen (empty when none is)."""
    from lib_depth3d.depth.licence_note import licence_note

    return licence_note(source or "")


def licences_html() -> str:
    """Each model's licence, grouped, as HTML for an A1111 setting's ``comment_after`` (the
    settings page shows no line that follows the choice)."""
    from lib_depth3d.depth.licence_note import models_by_licence

    groups = [
        f'<a href="{html.escape(licence.url)}" target="_blank">{html.escape(licence.name)}</a>: '
        + html.escape(", ".join(names))
        for licence, names in models_by_licence().items()
    ]
    return f'<span class="info">(Licences — {"; ".join(groups)})</span>'


def build_tab(*, in_webui: bool = True, outputs_dir: str | None = None, models_folder: str | None = None,
              weights_advice: str | None = None) -> gr.Blocks:
    """The Depth 3D tab as a :class:`gr.Blocks` (A1111's ``on_ui_tabs`` or the standalone server).

    ``in_webui`` adds "send to img2img inpaint" (it needs A1111's img2img tab); ``outputs_dir``
    is where builds are written (a temporary folder when None); ``models_folder`` where depth
    weights live (None: the default folder); ``weights_advice`` ends a missing-weights message
    (see :class:`~lib_depth3d.depth.sources.NetworkDepth`; None: the standalone server's).
    """
    from lib_depth3d.depth.registry import DEFAULT_MODEL
    from lib_depth3d.depth.sources import USER_DEPTH_IMAGE

    with gr.Blocks(analytics_enabled=False, elem_id="depth3d_tab") as tab:
        picture_state = gr.State(None)
        depth_state = gr.State(None)
        outputs_state = gr.State(outputs_dir)
        models_state = gr.State(models_folder)
        advice_state = gr.State(weights_advice)
        detected_state = gr.State(None)
        with gr.Row(elem_id="depth3d_main_row"):
            with gr.Column(scale=3, elem_id="depth3d_canvas_column"):
                gr.HTML('<div id="depth3d_canvas_host" class="depth3d-canvas-host"></div>')
                detect_lines = gr.Button("Detect lines", elem_id="depth3d_detect_lines")
                message = gr.HTML(elem_id="depth3d_message")
                lines_box = gr.Textbox(elem_id="depth3d_lines", elem_classes=HIDDEN, show_label=False)
                to_canvas_box = gr.Textbox(elem_id="depth3d_to_canvas", elem_classes=HIDDEN, show_label=False)
                report_box = gr.Textbox(elem_id="depth3d_report", elem_classes=HIDDEN, show_label=False)
                # gradio's Model3D cannot start at the file's camera; javascript/depth3d_viewer.js
                # shows the .glb that this hidden component serves, starting at the picture.
                gr.HTML('<div id="depth3d_viewer_host" class="depth3d-viewer-host"></div>')
                scene_file = gr.File(interactive=False, elem_id="depth3d_model", elem_classes=HIDDEN, show_label=False)
            with gr.Column(scale=2, elem_id="depth3d_settings_column"):
                picture = _upload_image(type="pil", label="Picture", elem_id="depth3d_input")
                with gr.Accordion("Calibration", open=True):
                    mode = gr.Radio(list(CALIBRATION_MODES), value="two_vp", label="Mode",
                                    elem_id="depth3d_mode")
                    first_axis = gr.Radio(list(AXES), value="+x", label="Vanishing point 1 axis",
                                          elem_id="depth3d_axis1")
                    second_axis = gr.Radio(list(AXES), value="+y", label="Vanishing point 2 axis",
                                           elem_id="depth3d_axis2")
                    principal_point_mode = gr.Radio(list(PRINCIPAL_POINT_MODES), value="center",
                                                    label="Principal point", elem_id="depth3d_pp_mode")
                    focal_length_mm = gr.Number(value=24, label="Focal length (mm, one-VP mode)",
                                                elem_id="depth3d_focal_mm")
                    with gr.Row():
                        reference_axis = gr.Radio(["none", "+x", "+y", "+z"], value="none",
                                                  label="Reference distance along", elem_id="depth3d_ref_axis")
                        reference_distance = gr.Number(value=0, label="Reference distance",
                                                       elem_id="depth3d_ref_distance")
                        reference_unit = gr.Dropdown(list(canvas.REFERENCE_UNITS), value="m", label="Unit",
                                                     elem_id="depth3d_ref_unit")
                with gr.Accordion("fSpy project", open=False):
                    fspy_upload = _file_input(file_types=[".fspy"], label="Load .fspy", elem_id="depth3d_fspy_in")
                    save_fspy = gr.Button("Save .fspy", elem_id="depth3d_save_fspy")
                    fspy_download = gr.File(label=".fspy", interactive=False, elem_id="depth3d_fspy_out")
                with gr.Accordion("Depth and scene", open=True):
                    sources = _depth_sources()
                    source = gr.Dropdown(sources, value=DEFAULT_MODEL if DEFAULT_MODEL in sources else sources[0],
                                         label="Depth from", elem_id="depth3d_source")
                    _licence_line(source, "depth3d_source_licence")
                    depth_file = _file_input(file_types=["image", ".npy", ".exr"],
                                             label=f"Depth image (near = bright), .exr or .npy "
                                                   f"(for '{USER_DEPTH_IMAGE}')",
                                             elem_id="depth3d_depth_file")
                    with gr.Row():
                        near = gr.Number(value=0, label="Near (0 = from depth)", elem_id="depth3d_near")
                        far = gr.Number(value=0, label="Far (0 = from depth)", elem_id="depth3d_far")
                    resolution = gr.Slider(16, MAX_SERVED_GRID_SIDE, value=SceneOptions().resolution, step=16,
                                           label="Grid resolution (long side)",
                                           elem_id="depth3d_resolution")
                    with gr.Row():
                        cut_edges = gr.Checkbox(True, label="Cut depth edges", elem_id="depth3d_cut")
                        decimate = gr.Checkbox(True, label="Decimate flat areas", elem_id="depth3d_decimate")
                        fill_occlusions = gr.Checkbox(True, label="Fill behind foreground edges",
                                                      elem_id="depth3d_fill_occlusions")
                    animation = gr.Dropdown(list(ANIMATIONS), value="none", label="Camera animation",
                                            elem_id="depth3d_animation")
                build = gr.Button("Build", variant="primary", elem_id="depth3d_build")
                summary = gr.Markdown(elem_id="depth3d_summary")
                downloads = gr.File(file_count="multiple", label="Downloads", interactive=False,
                                    elem_id="depth3d_downloads")
                with gr.Row():
                    blender_addon = gr.Button("Blender add-on", elem_id="depth3d_blender_addon")
                    blender_addon_file = gr.File(label="Blender add-on (.zip: Edit › Preferences › Add-ons › Install)",
                                                 interactive=False, elem_id="depth3d_blender_addon_file")
        with gr.Accordion("Depth mask for inpainting", open=False, elem_id="depth3d_mask_panel"):
            with gr.Row():
                with gr.Column():
                    mask_near_min = gr.Slider(0, 1, value=0.5, step=0.01, label="Keep from nearness",
                                              elem_id="depth3d_mask_near_min")
                    mask_near_max = gr.Slider(0, 1, value=1.0, step=0.01, label="Keep to nearness",
                                              elem_id="depth3d_mask_near_max")
                    with gr.Row():
                        mask_invert = gr.Checkbox(False, label="Repaint the band instead", elem_id="depth3d_mask_invert")
                        mask_hard = gr.Checkbox(False, label="Hard edges", elem_id="depth3d_mask_hard")
                    mask_feather = gr.Slider(0, 64, value=0, step=0.5, label="Feather (px)",
                                             elem_id="depth3d_mask_feather")
                    mask_grow = gr.Slider(-64, 64, value=0, step=1, label="Grow / shrink (px)",
                                          elem_id="depth3d_mask_grow")
                    mask_message = gr.HTML(elem_id="depth3d_mask_message")
                with gr.Column():
                    mask_preview = gr.Image(type="pil", label="Mask (white = repaint)", interactive=False,
                                            elem_id="depth3d_mask_preview")
                    send_inpaint = gr.Button("Send to img2img inpaint", visible=in_webui,
                                             elem_id="depth3d_send_inpaint")

        events = _NamedEvents({
            "upload": picture, "picture": picture_state, "lines": lines_box, "to_canvas": to_canvas_box,
            "report": report_box, "message": message, "detected": detected_state,
            "mode": mode, "first_axis": first_axis, "second_axis": second_axis,
            "principal_point_mode": principal_point_mode, "focal_length_mm": focal_length_mm,
            "reference_axis": reference_axis, "reference_distance": reference_distance,
            "reference_unit": reference_unit,
            "fspy_file": fspy_upload, "fspy_download": fspy_download, "outputs_dir": outputs_state,
            "blender_addon_file": blender_addon_file,
            "source": source, "depth_file": depth_file, "near": near, "far": far, "resolution": resolution,
            "cut_edges": cut_edges, "decimate": decimate, "fill_occlusions": fill_occlusions,
            "animation": animation, "models_folder": models_state, "weights_advice": advice_state,
            "scene_file": scene_file, "downloads": downloads, "summary": summary, "depth": depth_state,
            "near_min": mask_near_min, "near_max": mask_near_max, "invert": mask_invert, "hard": mask_hard,
            "feather_px": mask_feather, "grow_px": mask_grow, "mask_preview": mask_preview,
            "mask_message": mask_message,
        })
        # The handler reads the upload itself (see read_picture_upload), so these events skip
        # gradio's reading of every input: they take no gr.State, whose value that reading supplies.
        new_picture = (["upload", *SETTING_NAMES], ["upload", "picture", "lines", "to_canvas", "message"])
        events.on(picture.upload, on_picture, *new_picture, preprocess=False)
        events.on(picture.clear, on_picture, *new_picture, preprocess=False)
        for name in SETTING_NAMES:
            # Instant: the message keeps its text rather than flashing gradio's progress over it.
            events.on(events.components[name].input, on_settings, ["picture", "lines", *SETTING_NAMES],
                      ["lines", "to_canvas", "message"], show_progress="hidden")
        events.on(lines_box.change, on_lines, ["lines", "detected"], ["report", "message"])
        events.on(detect_lines.click, on_detect_lines, ["picture", "lines"],
                  ["lines", "to_canvas", *SETTING_NAMES, "report", "message", "detected"])
        events.on(fspy_upload.upload, on_fspy_upload, ["fspy_file"],
                  ["picture", "upload", "lines", "to_canvas", *SETTING_NAMES, "message"])
        events.on(save_fspy.click, on_save_fspy, ["picture", "lines", "outputs_dir"], ["fspy_download", "message"])
        events.on(blender_addon.click, on_blender_addon, ["outputs_dir"], ["blender_addon_file", "message"])
        built = events.on(build.click, on_build,
                          ["picture", "lines", "source", "depth_file", "near", "far", "resolution", "cut_edges",
                           "decimate", "fill_occlusions", "animation", "outputs_dir", "models_folder",
                           "weights_advice"],
                          ["scene_file", "downloads", "summary", "depth", "message"])
        mask = (["picture", "depth", *MASK_SETTING_NAMES], ["mask_preview", "mask_message"])
        events.on(built.then, on_mask, *mask, message="mask_message")
        for name in MASK_SETTING_NAMES:
            events.on(events.components[name].change, on_mask, *mask, message="mask_message")
        send_inpaint.click(None, inputs=[mask_preview], outputs=[], **_js("depth3dSendToInpaint"))
    return tab


def build_accordion(
    tab_name: str,
    *,
    models: Sequence[str],
    model: str,
    outputs: Sequence[str],
    produced: Sequence[str],
    fov_deg: float,
    calibrations: Sequence[str],
    calibration: str,
) -> list:
    """The always-on "Depth 3D" accordion of A1111's txt2img or img2img tab (``tab_name``).

    Built inside the current gradio block (A1111's ``Script.ui``). ``models`` (depth sources:
    model names or ``controlnet:…``), ``outputs`` and ``calibrations`` are the choices, ``model``,
    ``produced`` and ``calibration`` the values shown first; the chosen model's licence is shown
    under it. Returns [enable, model, outputs, field of view, calibration, network size]: the
    order in which A1111 passes their values to the script.
    """
    def elem_id(name: str) -> str:
        return f"depth3d_{tab_name}_{name}"

    with gr.Accordion("Depth 3D", open=False, elem_id=elem_id("accordion")):
        enabled = gr.Checkbox(False, label="Enable", elem_id=elem_id("enabled"))
        model_choice = gr.Dropdown(list(models), value=model, label="Depth model", elem_id=elem_id("model"))
        _licence_line(model_choice, elem_id("model_licence"))
        outputs_choice = gr.CheckboxGroup(list(outputs), value=list(produced), label="Produce",
                                          elem_id=elem_id("outputs"))
        fov = gr.Slider(10, 150, value=fov_deg, step=0.5, label="Field of view (degrees across the width)",
                        elem_id=elem_id("fov"))
        calibration_choice = gr.Dropdown(list(calibrations), value=calibration,
                                         label="Saved calibration (.fspy from the Depth 3D tab)",
                                         elem_id=elem_id("calibration"))
        net_size = gr.Number(0, precision=0, label="Network size in pixels (0 = the model's)",
                             elem_id=elem_id("net_size"))
    return [enabled, model_choice, outputs_choice, fov, calibration_choice, net_size]


def dropdown_setting(choices: Sequence[str]) -> tuple[type, dict]:
    """The component and its arguments for a setting chosen from ``choices`` (A1111's
    ``OptionInfo(default, label, component, component_args)``)."""
    return gr.Dropdown, {"choices": list(choices)}


def build_mask_script_controls(elem_prefix: str = "depth3d_mask") -> list:
    """The controls of the img2img script "Depth mask inpaint", inside the current gradio block.

    Returns them in the order of :data:`lib_depth3d.mask.inpaint.SCRIPT_ARGS`, the order in
    which A1111 passes their values to ``Script.run``. Sliders that take fractions start from a
    float so that a pasted infotext value keeps its fraction (A1111 converts a pasted value to
    the type of the control's value).
    """
    from lib_depth3d.depth.registry import DEFAULT_MODEL
    from lib_depth3d.depth.sources import USER_DEPTH_IMAGE, available_sources
    from lib_depth3d.mask.inpaint import BAND_MODES, INPAINTING_FILL_CHOICES, SCRIPT_ARGS

    def elem_id(name: str) -> str:
        return f"{elem_prefix}_{name}"

    with gr.Row():
        depth_source = gr.Dropdown(available_sources(), value=DEFAULT_MODEL, label="Depth from",
                                   elem_id=elem_id("source"))
        net_size = gr.Number(value=0, precision=0, label="Network size (0 = the model's own)",
                             elem_id=elem_id("net_size"))
    _licence_line(depth_source, elem_id("source_licence"))
    depth_image = gr.Image(type="pil", label=f"Depth image, near = bright (for '{USER_DEPTH_IMAGE}')",
                           elem_id=elem_id("depth_image"))
    with gr.Row():
        band_mode = gr.Radio(list(BAND_MODES), value=BAND_MODES[0], label="Band given as", elem_id=elem_id("band_mode"))
        band_low = gr.Slider(0, 100, value=50.0, step=1, label="Band from (% nearness: 0 = farthest)",
                             elem_id=elem_id("band_low"))
        band_high = gr.Slider(0, 100, value=100.0, step=1, label="Band to (% nearness: 100 = nearest)",
                              elem_id=elem_id("band_high"))
    with gr.Row():
        invert = gr.Checkbox(False, label="Repaint the band (instead of keeping it)", elem_id=elem_id("invert"))
        hard = gr.Checkbox(False, label="Hard edges", elem_id=elem_id("hard"))
        feather_px = gr.Slider(0, 64, value=0.0, step=0.5, label="Feather (px)", elem_id=elem_id("feather"))
        grow_px = gr.Slider(-64, 64, value=0, step=1, label="Grow / shrink (px)", elem_id=elem_id("grow"))
    with gr.Row():
        override_mask_blur = gr.Checkbox(True, label="Override mask blur", elem_id=elem_id("override_blur"))
        mask_blur = gr.Slider(0, 64, value=0, step=1, label="Mask blur (px)", elem_id=elem_id("mask_blur"))
        inpainting_fill = gr.Dropdown(list(INPAINTING_FILL_CHOICES), value="original", label="Masked content",
                                      elem_id=elem_id("fill"))
    with gr.Row():
        gallery_depth = gr.Checkbox(False, label="Show the depth", elem_id=elem_id("gallery_depth"))
        gallery_cutout = gr.Checkbox(False, label="Show the kept part (RGBA)", elem_id=elem_id("gallery_cutout"))
        save_images = gr.Checkbox(False, label="Save mask and extras", elem_id=elem_id("save"))
    controls = {
        "depth_source": depth_source, "depth_image": depth_image, "band_mode": band_mode, "band_low": band_low,
        "band_high": band_high, "invert": invert, "hard": hard, "feather_px": feather_px, "grow_px": grow_px,
        "net_size": net_size, "override_mask_blur": override_mask_blur, "mask_blur": mask_blur,
        "inpainting_fill": inpainting_fill, "gallery_depth": gallery_depth, "gallery_cutout": gallery_cutout,
        "save_images": save_images,
    }
    return [controls[name] for name in SCRIPT_ARGS]


EXTENSION_ROOT = Path(__file__).resolve().parent.parent
STANDALONE_HOST_JS = Path(__file__).resolve().parent / "ui_assets" / "standalone_host.js"


def standalone_head_html() -> str:
    """What A1111 puts into its page for an extension, for the standalone server: the page
    functions A1111 defines (our shim), every ``javascript/*.js`` in name order, and ``style.css``."""
    scripts = [STANDALONE_HOST_JS, *sorted((EXTENSION_ROOT / "javascript").glob("*.js"))]
    parts = [f"<script>\n{path.read_text(encoding='utf-8')}\n</script>" for path in scripts]
    parts.append(f"<style>\n{(EXTENSION_ROOT / 'style.css').read_text(encoding='utf-8')}\n</style>")
    return "\n".join(parts)


def _inject_into_pages(head_html: str) -> None:
    """Patch gradio's page template the way A1111 does (``modules/ui_gradio_extensions.py``)."""
    import gradio.routes

    original = getattr(gradio.routes.templates, "depth3d_original_response", gradio.routes.templates.TemplateResponse)

    def template_response(*args, **kwargs):
        response = original(*args, **kwargs)
        response.body = response.body.replace(b"</head>", f"{head_html}</head>".encode("utf-8"))
        response.init_headers()
        return response

    gradio.routes.templates.depth3d_original_response = original
    gradio.routes.templates.TemplateResponse = template_response


def standalone_app(*, outputs_dir: str | None = None) -> gr.Blocks:
    """The tab alone on a page, with the extension's JavaScript and CSS injected as A1111 would."""
    _inject_into_pages(standalone_head_html())
    tab = build_tab(in_webui=False, outputs_dir=outputs_dir)
    with gr.Blocks(title=TAB_TITLE, analytics_enabled=False) as app:
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab(TAB_TITLE, elem_id=f"tab_{TAB_ID}"):
                tab.render()
    return app


def _guard_file_route(temp_folder: Path):
    """An HTTP middleware serving gradio's ``/file=`` only for files in ``temp_folder``.

    Gradio 3.41 serves every file under the server's working folder there; the page needs only
    its uploads and the copies of its outputs, which gradio keeps in its temp folder.
    """
    from starlette.responses import PlainTextResponse

    async def guard(request, call_next):
        path = request.scope["path"]  # percent-decoded, as gradio's route reads it
        if path.startswith("/file=") and not _is_inside(path[len("/file="):], temp_folder):
            return PlainTextResponse("Not found.", status_code=404)
        return await call_next(request)

    return guard


def standalone_server(*, outputs_dir: str | None, temp_folder: Path):
    """The FastAPI app of ``python -m lib_depth3d ui``: the HTTP API of :mod:`lib_depth3d.api`
    (same routes, same limits, same worker pool as in the WebUI) and the tab at ``/``, whose
    ``/file=`` serves only ``temp_folder``, gradio's temp folder for this server alone."""
    from fastapi import FastAPI

    from lib_depth3d.api import mount

    blocks = standalone_app(outputs_dir=outputs_dir)
    blocks.queue(**({"default_concurrency_limit": 1} if GRADIO_4 else {"concurrency_count": 1}))
    blocks.show_api = False
    app = FastAPI()
    app.middleware("http")(_guard_file_route(temp_folder))
    mount(app)
    return gr.mount_gradio_app(app, blocks, path="")


def serve(*, host: str = "127.0.0.1", port: int = 7870, outputs_dir: str | None = None,
          temp_folder: Path) -> None:
    """Serve :func:`standalone_server` until interrupted, then remove ``temp_folder``.
    ``GRADIO_TEMP_DIR`` must name ``temp_folder`` before gradio is imported (gradio 4 reads it then)."""
    import socket

    import uvicorn

    app = standalone_server(outputs_dir=outputs_dir, temp_folder=temp_folder)
    # uvicorn ends a server stopped by a signal with that signal, past the caller's finally.
    app.router.on_shutdown.append(lambda: shutil.rmtree(temp_folder, ignore_errors=True))
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise InputError(
            f"Cannot listen on {host}:{port} ({error.strerror or error}); choose another --port."
        ) from error
    print(f"Depth 3D: http://{host}:{port}/ (HTTP API under /depth3d/v1)", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listener])
