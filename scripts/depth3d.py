"""AUTOMATIC1111 adapter: the always-on "Depth 3D" accordion, the Depth 3D tab, settings and API.

Only adapts A1111's objects (``p``, ``processed``, ``opts``, ``state``) to
:mod:`lib_depth3d.pipeline`; every step of the work is done there. For each generated picture
the camera is chosen and the depth estimated once (``postprocess_image``); when A1111 saves the
picture, the depth PNG, ``.glb`` (and mask) are written beside it under the same base name, with
that camera (``on_image_saved``);
at the end the depth images (and masks) are appended to the gallery (``postprocess``).

No ``from __future__ import annotations`` here: A1111 loads script files without entering
them in ``sys.modules``, and dataclasses with string annotations then fail to build.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from modules import paths, script_callbacks, scripts, shared

from lib_depth3d import pipeline, ui
from lib_depth3d.camera.sources import (AutomaticCamera, CameraChoice, CameraSource, FieldOfViewCamera,
                                        calibration_source)
from lib_depth3d.depth.depthmap import DepthMap, DepthWithCamera, depth_png_bytes
from lib_depth3d.depth.registry import DEFAULT_MODEL, MODELS
from lib_depth3d.depth.sources import DepthSource, estimator_sources, parse_depth_source
from lib_depth3d.depth.weights import webui_models_dir
from lib_depth3d.depth.weights_advice import WEBUI_ADVICE
from lib_depth3d.errors import Depth3DError, InputError, WeightsError
from lib_depth3d.files import atomic_output, write_bytes_atomic
from lib_depth3d.options import DEFAULT_FOV_DEG, check_field_of_view

SECTION = ("depth3d", "Depth 3D", "postprocessing")
"""The settings section (id, label) and the category A1111 1.7+ lists it under (registered by
A1111 as "Postprocessing", beside upscaling and face restoration)."""
OUTPUT_DEPTH = "Depth image in the gallery"
OUTPUT_SCENE = "3D scene (.glb)"
OUTPUT_MASK = "Mask"
OUTPUT_CHOICES = (OUTPUT_DEPTH, OUTPUT_SCENE, OUTPUT_MASK)
OUTPUT_TAGS = {OUTPUT_DEPTH: "depth", OUTPUT_SCENE: "glb", OUTPUT_MASK: "mask"}
NO_CALIBRATION = "None (use the field of view)"
AUTOMATIC_CAMERA = "Automatic (lines detected in each picture or the depth network's camera or the field of view)"
INFOTEXT_MODEL = "Depth3D model"
INFOTEXT_OUTPUTS = "Depth3D outputs"
INFOTEXT_FOV = "Depth3D FOV"
INFOTEXT_CALIBRATION = "Depth3D calibration"
INFOTEXT_NET_SIZE = "Depth3D net size"
INFOTEXT_ERROR = "Depth3D error"
"""Why Depth 3D stopped a run: A1111's API answers ``info`` with the generation parameters but
without the comments shown under the gallery, so the reason is given there too."""


def models_folder() -> Path:
    """The depth weights folder: the setting, else ``<A1111 models>/depth3d``."""
    return webui_models_dir(shared.opts.data.get("depth3d_models_dir"), paths.models_path)


def outputs_folder() -> Path:
    """Where the Depth 3D tab writes its builds: the setting, else ``<A1111 outputs>/depth3d``."""
    return Path(shared.opts.data.get("depth3d_outputs_dir") or os.path.join(paths.data_path, "outputs", "depth3d"))


def saved_calibrations() -> list[str]:
    """``.fspy`` projects saved from the tab, relative to :func:`outputs_folder`."""
    folder = outputs_folder()
    found = sorted(folder.glob("**/*.fspy")) if folder.is_dir() else []
    return [NO_CALIBRATION, AUTOMATIC_CAMERA, *(path.relative_to(folder).as_posix() for path in found)]


@dataclass(frozen=True)
class Settings:
    """The accordion's values, parsed: the depth source and the camera source they name."""

    depth: DepthSource
    camera: CameraSource
    outputs: tuple
    fov_deg: float
    calibration_name: str
    net_size: int | None

    @classmethod
    def from_ui(cls, model, outputs, fov_deg, calibration_name, net_size) -> "Settings":
        sources = estimator_sources()
        if model not in sources:
            raise InputError(f"Depth 3D: unknown depth model {model!r}; choose one of {', '.join(sources)}.")
        unknown = [choice for choice in outputs or () if choice not in OUTPUT_CHOICES]
        if unknown:
            raise InputError(f"Depth 3D: unknown output {unknown[0]!r}; choose from {', '.join(OUTPUT_CHOICES)}.")
        if not outputs:
            raise InputError("Depth 3D is enabled with nothing to produce: tick at least one output, or disable it.")
        try:
            fov = check_field_of_view(float(fov_deg))
        except InputError as error:
            raise InputError(f"Depth 3D: {error}") from error
        size = int(net_size or 0) or None
        depth = parse_depth_source(model, input_size=size, models_folder=models_folder(),
                                   keep_loaded=bool(shared.opts.data.get("depth3d_keep_loaded", False)),
                                   weights_advice=WEBUI_ADVICE)
        calibration_name = calibration_name or NO_CALIBRATION
        if calibration_name == NO_CALIBRATION:
            camera = FieldOfViewCamera(fov)
        elif calibration_name == AUTOMATIC_CAMERA:
            camera = AutomaticCamera(FieldOfViewCamera(fov))
        else:
            camera = _saved_calibration(calibration_name)
        return cls(depth, camera, tuple(outputs), fov, calibration_name, size)

    def check_network_size(self, width: int, height: int) -> None:
        """Refuse a network size the model (or ControlNet's preprocessor, as its resolution) cannot
        take, before any picture is generated."""
        try:
            self.depth.check(width, height)
        except InputError as error:
            raise InputError(f"Depth 3D: {error} Set 0 to use the model's own size.") from error

    def check_weights(self) -> None:
        """Find and verify the depth weights (downloading them when missing) before any picture is
        generated: a failure later, in a hook, would only be logged while the pictures go on."""
        try:
            self.depth.check_weights(_show_progress)
        except WeightsError as error:
            raise WeightsError(f"Depth 3D: {error}") from error

    def infotext(self) -> dict:
        return {
            INFOTEXT_MODEL: self.depth.name,
            INFOTEXT_OUTPUTS: "+".join(OUTPUT_TAGS[choice] for choice in self.outputs),
            INFOTEXT_FOV: f"{self.fov_deg:g}",
            INFOTEXT_CALIBRATION: None if self.calibration_name == NO_CALIBRATION else self.calibration_name,
            INFOTEXT_NET_SIZE: self.net_size,
        }


def _enabled_from_infotext(params: dict) -> bool:
    return INFOTEXT_MODEL in params


def _outputs_from_infotext(params: dict):
    tags = params.get(INFOTEXT_OUTPUTS)
    if tags is None:
        return None
    by_tag = {tag: choice for choice, tag in OUTPUT_TAGS.items()}
    return [by_tag[tag] for tag in tags.split("+") if tag in by_tag]


def _calibration_from_infotext(params: dict):
    """The saved calibration named in the infotext; none named in a Depth 3D infotext means the
    field of view was used (None leaves the dropdown alone for other infotexts)."""
    default = NO_CALIBRATION if INFOTEXT_MODEL in params else None
    return params.get(INFOTEXT_CALIBRATION, default)


def _net_size_from_infotext(params: dict):
    return params.get(INFOTEXT_NET_SIZE, 0 if INFOTEXT_MODEL in params else None)


@dataclass(frozen=True)
class PictureDepth:
    """What Depth 3D found for one generated picture: its camera, chosen once (lines detected in
    the picture are detected once, before the network runs, and the files reuse them), and its
    depth with the camera the depth source estimated, if any."""

    camera: CameraChoice
    estimated: DepthWithCamera


@dataclass
class Job:
    """One generation's Depth 3D work: the settings and, per picture, its camera and depth."""

    settings: Settings
    depths: dict = field(default_factory=dict)
    """Position of the picture in the run (``iteration * batch_size + batch_index``) → its
    :class:`PictureDepth`.
    The position, not the image object, identifies a picture: for inpainting A1111 saves and
    shows a new image, the picture pasted back into the original."""
    pasted_depths: dict = field(default_factory=dict)
    """Position → the :class:`PictureDepth` of the picture inpainting "Only masked" pasted
    together (None where its depth failed): estimated on that picture, once."""
    written: set = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    failure: str | None = None
    """Why the depth of a picture failed (the GPU ran out of memory, ControlNet raised): the
    pictures after it are left without depth rather than failing the same way again."""


def _saved_calibration(name: str) -> CameraSource:
    folder = outputs_folder().resolve()
    path = (folder / name).resolve()
    if folder not in path.parents or not path.is_file():
        raise InputError(f"Depth 3D: the saved calibration {name!r} is not in {folder}; pick another one.")
    return calibration_source(path.read_bytes(), name)


def _gallery_depth(depth: DepthMap) -> Image.Image:
    """An 8-bit view of the depth for the gallery (the saved file is the 16-bit PNG)."""
    return Image.fromarray((depth.nearness() * 255.0 + 0.5).astype("uint8"), "L")


def _fitted(depth: DepthMap, picture: Image.Image) -> DepthMap:
    """The depth at the size of the picture A1111 shows and saves (inpainting pastes the result
    back into the full-size original)."""
    return depth if (depth.width, depth.height) == picture.size else depth.resized(*picture.size)


def _depth_of(job: Job, position: int, p, picture: Image.Image) -> PictureDepth | None:
    """The camera and depth of the picture A1111 shows and saves at ``position``.

    Inpainting "Only masked" generates a crop and pastes it back into the init image: the saved
    picture is another picture, so its depth is estimated on it (once) instead of the crop's
    depth being stretched over it."""
    found = job.depths.get(position)
    if found is None or getattr(p, "paste_to", None) is None:
        return found
    if position not in job.pasted_depths:
        try:
            job.pasted_depths[position] = PictureDepth(*pipeline.choose_camera_and_estimate(
                picture, job.settings.camera, job.settings.depth, progress=_show_progress))
        except Depth3DError as error:
            job.pasted_depths[position] = None
            job.warnings.append(f"the depth of inpainted picture {position + 1} failed, so it has no depth files. "
                                f"{error}")
    return job.pasted_depths[position]


def _show_progress(message: str, fraction) -> None:
    shared.state.textinfo = f"Depth 3D: {message}" + ("" if fraction is None else f" {fraction:.0%}")


def _refuse(p, error: Depth3DError) -> None:
    """Stop the run before anything is generated and say why where the user looks: under the
    gallery (a comment) and in the API's ``info`` (:data:`INFOTEXT_ERROR`). A1111 only logs an
    exception raised in a script's hook and goes on generating, so raising would not stop it."""
    message = str(error)
    p.comment(message)
    p.extra_generation_params[INFOTEXT_ERROR] = message
    shared.state.textinfo = message
    shared.state.interrupt()


class Script(scripts.Script):
    def title(self):
        return "Depth 3D"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def ui(self, is_img2img):
        default_model = shared.opts.data.get("depth3d_default_model", DEFAULT_MODEL)
        sources = estimator_sources()
        controls = ui.build_accordion(
            "img2img" if is_img2img else "txt2img",
            models=sources, model=default_model if default_model in sources else DEFAULT_MODEL,
            outputs=OUTPUT_CHOICES, produced=(OUTPUT_DEPTH, OUTPUT_SCENE), fov_deg=DEFAULT_FOV_DEG,
            calibrations=saved_calibrations(), calibration=NO_CALIBRATION,
        )
        enabled, model, outputs, fov, calibration, net_size = controls
        self.infotext_fields = [
            (enabled, _enabled_from_infotext),
            (model, INFOTEXT_MODEL),
            (outputs, _outputs_from_infotext),
            (fov, INFOTEXT_FOV),
            (calibration, _calibration_from_infotext),
            (net_size, _net_size_from_infotext),
        ]
        self.paste_field_names = [INFOTEXT_MODEL, INFOTEXT_OUTPUTS, INFOTEXT_FOV, INFOTEXT_CALIBRATION,
                                  INFOTEXT_NET_SIZE]
        return controls

    def process(self, p, enabled, model, outputs, fov_deg, calibration_name, net_size):
        p.depth3d_job = None
        if not enabled:
            return
        try:
            settings = Settings.from_ui(model, outputs, fov_deg, calibration_name, net_size)
            settings.check_network_size(p.width, p.height)
            settings.check_weights()
            job = Job(settings)
        except Depth3DError as error:
            _refuse(p, error)
            return
        p.extra_generation_params.update({k: v for k, v in settings.infotext().items() if v is not None})
        p.depth3d_job = job

    def postprocess_image(self, p, pp, *args):
        job = getattr(p, "depth3d_job", None)
        if job is None or job.failure is not None or shared.state.interrupted:
            return
        position = p.iteration * p.batch_size + p.batch_index
        shared.state.textinfo = f"Depth 3D: depth of picture {position + 1} of {p.n_iter * p.batch_size}"
        try:
            # A camera chosen without the depth (given, or confidently detected) reaches the network
            # (MoGe-2's field of view, Metric-Large's focal length); the files reuse this choice.
            job.depths[position] = PictureDepth(*pipeline.choose_camera_and_estimate(
                pp.image, job.settings.camera, job.settings.depth, progress=_show_progress))
        except Depth3DError as error:
            # Raised from this hook, it would only be logged: say it where a refusal is said.
            job.failure = (f"Depth 3D: the depth of picture {position + 1} failed, so it and the pictures after it "
                           f"have no depth. {error}")
            p.comment(job.failure)
            p.extra_generation_params[INFOTEXT_ERROR] = job.failure

    def postprocess(self, p, processed, *args):
        job = getattr(p, "depth3d_job", None)
        if job is None:
            return
        settings = job.settings
        first = processed.index_of_first_image
        pictures = list(zip(processed.images[first:], processed.infotexts[first:]))
        for position, (picture, infotext) in enumerate(pictures):
            found = _depth_of(job, position, p, picture)
            if found is None:
                continue
            depth = _fitted(found.estimated.depth, picture)
            if OUTPUT_DEPTH in settings.outputs:
                processed.images.append(_gallery_depth(depth))
                processed.infotexts.append(infotext)
            if OUTPUT_MASK in settings.outputs:
                processed.images.append(pipeline.make_mask(picture, depth.nearness()).mask)
                processed.infotexts.append(infotext)
        for warning in dict.fromkeys(job.warnings):
            p.comment(f"Depth 3D: {warning}")
        p.depth3d_job = None


def on_image_saved(params) -> None:
    """Write the depth PNG, ``.glb`` and mask of a saved picture beside it, with its base name."""
    p = params.p
    job = getattr(p, "depth3d_job", None)
    # A1111 saves the grid last, while p still points at the last picture; its files start "grid-".
    if job is None or Path(params.filename).name.startswith("grid-"):
        return
    position = p.iteration * p.batch_size + p.batch_index
    if position in job.written:
        return
    job.written.add(position)
    found = _depth_of(job, position, p, params.image)
    if found is None:
        return
    depth = _fitted(found.estimated.depth, params.image)
    picture_path = Path(params.filename)
    folder, base = picture_path.parent, picture_path.stem
    settings = job.settings
    shared.state.textinfo = f"Depth 3D: writing files for {picture_path.name}"
    if OUTPUT_SCENE in settings.outputs:
        camera = found.camera
        if camera.camera.image_size_px != params.image.size:
            # Another script resized the picture: the same view, whose camera is chosen again.
            camera = pipeline.choose_camera(params.image, settings.camera,
                                            estimate=lambda known_camera: found.estimated)
        build = pipeline.build_scene_files(params.image, depth=depth, camera=camera, glb_path=folder / f"{base}.glb")
        job.warnings += build.files.warnings
    else:
        write_bytes_atomic(folder / f"{base}_depth.png", depth_png_bytes(depth))
    if OUTPUT_MASK in settings.outputs:
        mask = pipeline.make_mask(params.image, depth.nearness())
        job.warnings += mask.warnings
        with atomic_output(folder / f"{base}_mask.png") as temporary:
            mask.mask.save(temporary, format="PNG")


def on_ui_settings() -> None:
    options = shared.options_section(SECTION, {
        "depth3d_models_dir": shared.OptionInfo(
            "", "Depth model folder (empty: models/depth3d in the WebUI folder)"),
        "depth3d_keep_loaded": shared.OptionInfo(
            False, "Keep the depth model on the GPU between generations (faster, uses VRAM)"),
        "depth3d_default_model": shared.OptionInfo(
            DEFAULT_MODEL, "Default depth model", *ui.dropdown_setting(MODELS), comment_after=ui.licences_html()),
        "depth3d_outputs_dir": shared.OptionInfo(
            "", "Folder for the Depth 3D tab's outputs (empty: outputs/depth3d)"),
    })
    for key, info in options.items():
        shared.opts.add_option(key, info)


def on_ui_tabs():
    tab = ui.build_tab(in_webui=True, outputs_dir=str(outputs_folder()), models_folder=str(models_folder()),
                       weights_advice=WEBUI_ADVICE)
    return [(tab, "Depth 3D", "depth3d")]


def on_app_started(demo, app) -> None:
    from lib_depth3d.api import mount

    mount(app, models_folder, weights_advice=WEBUI_ADVICE)


script_callbacks.on_image_saved(on_image_saved)
script_callbacks.on_ui_settings(on_ui_settings)
script_callbacks.on_ui_tabs(on_ui_tabs)
script_callbacks.on_app_started(on_app_started)
