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
import io
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import gradio as gr
from PIL import Image, ImageOps

from lib_depth3d import canvas
from lib_depth3d.camera.inputs import AXES, PRINCIPAL_POINT_MODES
from lib_depth3d.camera.inputs import MODES as CALIBRATION_MODES
from lib_depth3d.errors import Depth3DError, InputError

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


def _without_server_paths(text: str, outputs_dir: str | None = None) -> str:
    """``text`` with every path under the outputs folder, gradio's temp folder or the system's
    temp folder replaced by words: the page may be seen by people who must not learn the
    server's folders (an uploaded file's path, an output path)."""
    folders = {str(_gradio_temp_folder()): "the uploaded file", tempfile.gettempdir(): "a temporary file"}
    if outputs_dir:
        folders[str(outputs_dir)] = "the outputs folder"
    variants = {}
    for folder, words in folders.items():
        for spelling in (folder, os.path.abspath(folder), os.path.realpath(folder)):
            variants.setdefault(spelling.rstrip(os.sep), words)
    for folder in sorted(variants, key=len, reverse=True):  # the deepest folder names a path best
        text = re.sub(re.escape(folder) + r"(?![^/\s'\",;:])(?:/[^\s'\",;:]*)?", variants[folder], text)
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


def _upright(picture: Image.Image) -> Image.Image:
    return ImageOps.exif_transpose(picture)


def _canvas_message(picture: Image.Image | None, lines: dict | None) -> str:
    return json.dumps({
        "serial": time.time_ns(),
        "image_url": canvas.picture_data_url(picture) if picture is not None else None,
        "lines": lines,
    })


def _degrees(value: float) -> str:
    return f"{value:.2f}°"


def solve_lines(lines_text: str) -> tuple[str, str]:
    """(report JSON for the canvas, message HTML) for the canvas's current lines."""
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
    for warning in report.get("warnings") or []:
        text += f"\nWarning: {warning}"
    kind = "warning" if report.get("warnings") else "ok"
    # The lines solved travel back, so the canvas can tell a stale report from the current one.
    return json.dumps({"report": report, "overlay": overlay, "lines": lines_text}), _message(kind, text)


@dataclass
class _Settings:
    """The calibration settings beside the canvas, in the order the events pass them."""

    mode: str
    first_axis: str
    second_axis: str
    principal_point_mode: str
    focal_length_mm: float
    reference_axis: str
    reference_distance: float
    reference_unit: str

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


def on_picture(picture, *settings):
    """A new picture: a first drawing with the current settings, sent to the canvas."""
    if picture is None:
        return None, "", _canvas_message(None, None), ""
    picture = _upright(picture)
    lines = _Settings(*settings).apply(canvas.default_lines(picture.width, picture.height))
    return picture, json.dumps(lines), _canvas_message(picture, lines), ""


def on_settings(picture, lines_text, *settings):
    """A changed setting: merged into the lines; the canvas shows the handles it needs."""
    try:
        lines = _parse_lines(lines_text)
    except InputError:
        lines = None
    if lines is None:
        return gr.update(), gr.update()
    lines = _Settings(*settings).apply(lines)
    return json.dumps(lines), _canvas_message(picture, lines)


def on_fspy_upload(fspy_file):
    """A `.fspy` project: its picture and lines replace the current ones, its settings are shown."""
    from lib_depth3d.camera import lines_json, read_fspy

    if fspy_file is None:
        return (gr.update(),) * 4 + (gr.update(),) * 8 + ("",)
    try:
        project = read_fspy(Path(_file_path(fspy_file)).read_bytes())
        picture = _upright(Image.open(io.BytesIO(project.image_bytes)))
        picture.load()
        lines = lines_json(project.calibration_input())
    except (Depth3DError, OSError) as error:
        text = _without_server_paths(f"Cannot load the .fspy: {error}")
        return (gr.update(),) * 4 + (gr.update(),) * 8 + (_message("error", text),)
    settings = canvas.settings_of_lines(lines)
    setting_updates = tuple(gr.update(value=settings[name]) for name in _Settings.__dataclass_fields__)
    return (picture, picture, json.dumps(lines), _canvas_message(picture, lines)) + setting_updates + ("",)


def on_save_fspy(picture, lines_text, outputs_dir):
    """The picture and the current lines as an fSpy project to download."""
    from lib_depth3d.camera import calibrate, fspy_project_bytes, parse_lines_json
    from lib_depth3d.files import png_bytes, write_bytes_atomic

    if picture is None or not lines_text:
        return None, _message("error", "Upload a picture and draw its lines before saving an .fspy project.")
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
        return None, _message("error", _without_server_paths(f"Cannot save the .fspy: {error}", outputs_dir))
    note = "" if calibration is not None else " (the lines do not solve yet; the project holds no camera)"
    return str(path), _message("ok", f"Saved the .fspy project{note}.")


def _new_output_dir(outputs_dir: str | None) -> Path:
    if outputs_dir:
        base = Path(outputs_dir)
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=base))
    return Path(tempfile.mkdtemp(prefix="depth3d-"))


def on_build(picture, lines_text, source, depth_file, near, far, resolution, cut_edges, decimate, animation,
             outputs_dir, fill_occlusions=True, models_folder=None, weights_advice=None, progress=gr.Progress()):
    """Calibration + depth + scene: the .glb in the viewer, the files to download, the camera in words.
    ``models_folder``: where depth weights live (None: the default folder); ``weights_advice``: see
    :class:`~lib_depth3d.depth.sources.NetworkDepth` (None: the standalone server's)."""
    from lib_depth3d import pipeline
    from lib_depth3d.camera.sources import calibration_source
    from lib_depth3d.depth.sources import parse_depth_source
    from lib_depth3d.depth.weights import MODELS_FOLDER_ADVICE
    from lib_depth3d.scene import SceneOptions

    nothing = (None, None, "", None)
    if picture is None or not lines_text:
        return nothing + (_message("error", "Upload a picture first, then draw its vanishing lines."),)

    def report_progress(text: str, fraction: float | None) -> None:
        progress(fraction, desc=text)

    try:
        camera = calibration_source(_parse_lines(lines_text), "the canvas")
        depth_source = parse_depth_source(source, depth=None if depth_file is None else _file_path(depth_file),
                                          models_folder=models_folder,
                                          weights_advice=weights_advice or MODELS_FOLDER_ADVICE)
        options = SceneOptions(
            near=float(near) if near else None,
            far=float(far) if far else None,
            resolution=int(resolution),
            cut_discontinuities=bool(cut_edges),
            decimate=bool(decimate),
            fill_occlusions=bool(fill_occlusions),
            animation=None if animation == "none" else animation,
        )
        build = pipeline.run_scene(picture, depth=depth_source, camera=camera, options=options,
                                   glb_path=_new_output_dir(outputs_dir) / "depth3d.glb", progress=report_progress)
    except (Depth3DError, OSError) as error:
        return nothing + (_message("error", _without_server_paths(f"Cannot build the scene: {error}", outputs_dir)),)
    files = build.files
    summary = _scene_summary(files.calibration_report or {})
    downloads = [str(path) for path in (files.glb, files.fspy, files.camera_json, files.depth_png) if path]
    text = "Built the scene." + "".join(f"\nWarning: {warning}" for warning in files.warnings)
    kind = "warning" if files.warnings else "ok"
    return str(files.glb), downloads, summary, build.depth, _message(kind, text)


def _scene_summary(report: dict) -> str:
    if not report:
        return ""
    rows = [
        ("Horizontal field of view", _degrees(report["trueHorizontalFieldOfViewDegrees"])),
        ("Vertical field of view", _degrees(report["trueVerticalFieldOfViewDegrees"])),
        ("Focal length", f"{report['focalLengthMillimeters']:.2f} mm ({report['focalLengthPixels']:.1f} px)"),
        ("Camera position", ", ".join(f"{v:.3f}" for v in report["cameraPosition"])
         + (f" {report['referenceDistanceUnit']}" if report.get("referenceDistanceUnit") else " units")),
    ]
    return "\n".join(f"- **{name}:** {value}" for name, value in rows)


def on_mask(picture, depth, near_min, near_max, invert, hard, feather_px, grow_px):
    """Live mask preview from the last build's depth (white = repaint)."""
    from lib_depth3d import pipeline
    from lib_depth3d.mask import MaskOptions

    if picture is None or depth is None:
        return None, _message("info", "Build a scene first: the mask comes from its depth.")
    try:
        result = pipeline.make_mask(picture, depth.nearness(), MaskOptions(
            near_min=float(near_min), near_max=float(near_max), invert=bool(invert), hard=bool(hard),
            feather_px=float(feather_px), grow_px=int(grow_px),
        ))
    except Depth3DError as error:
        return None, _message("error", f"Cannot make the mask: {error}")
    text = "".join(f"Warning: {warning}\n" for warning in result.warnings)
    return result.mask, _message("warning", text) if text else ""


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
        with gr.Row(elem_id="depth3d_main_row"):
            with gr.Column(scale=3, elem_id="depth3d_canvas_column"):
                gr.HTML('<div id="depth3d_canvas_host" class="depth3d-canvas-host"></div>')
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
                    depth_file = _file_input(file_types=["image", ".npy"],
                                             label=f"Depth image, near = bright (for '{USER_DEPTH_IMAGE}')",
                                             elem_id="depth3d_depth_file")
                    with gr.Row():
                        near = gr.Number(value=0, label="Near (0 = from depth)", elem_id="depth3d_near")
                        far = gr.Number(value=0, label="Far (0 = from depth)", elem_id="depth3d_far")
                    resolution = gr.Slider(16, 2048, value=512, step=16, label="Grid resolution (long side)",
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

        settings = [mode, first_axis, second_axis, principal_point_mode, focal_length_mm,
                    reference_axis, reference_distance, reference_unit]
        picture.upload(on_picture, inputs=[picture, *settings],
                       outputs=[picture_state, lines_box, to_canvas_box, message])
        picture.clear(on_picture, inputs=[picture, *settings],
                      outputs=[picture_state, lines_box, to_canvas_box, message])
        for setting in settings:
            setting.input(on_settings, inputs=[picture_state, lines_box, *settings],
                          outputs=[lines_box, to_canvas_box])
        lines_box.change(solve_lines, inputs=[lines_box], outputs=[report_box, message])
        fspy_upload.upload(on_fspy_upload, inputs=[fspy_upload],
                           outputs=[picture_state, picture, lines_box, to_canvas_box, *settings, message])
        save_fspy.click(on_save_fspy, inputs=[picture_state, lines_box, outputs_state],
                        outputs=[fspy_download, message])
        built = build.click(on_build,
                    inputs=[picture_state, lines_box, source, depth_file, near, far, resolution, cut_edges,
                            decimate, animation, outputs_state, fill_occlusions, models_state, advice_state],
                    outputs=[scene_file, downloads, summary, depth_state, message])
        mask_inputs = [picture_state, depth_state, mask_near_min, mask_near_max, mask_invert, mask_hard,
                       mask_feather, mask_grow]
        built.then(on_mask, inputs=mask_inputs, outputs=[mask_preview, mask_message])
        for control in (mask_near_min, mask_near_max, mask_invert, mask_hard, mask_feather, mask_grow):
            control.change(on_mask, inputs=mask_inputs, outputs=[mask_preview, mask_message])
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
