"""HTTP API (FastAPI router, pydantic 1): depth, scene and mask of a picture sent as base64.

Mounted by the A1111 extension in ``on_app_started`` (``app.include_router(router)``); any
FastAPI app can include it. Routes, all under ``/depth3d/v1``:

- ``GET /models``: the depth models and whether their weights are in the models folder, and
  ControlNet's depth preprocessors when that extension is loaded (``model: "controlnet:<name>"``).
- ``POST /depth``: the 16-bit depth PNG (near = bright) of ``image``, with the model's licence.
- ``POST /scene``: the ``.glb`` (base64), fSpy camera parameters JSON, depth PNG and ``.fspy``.
- ``POST /mask``: the inpainting mask (white = repaint) from the picture's depth.

Pictures travel as base64 PNG/JPEG/WebP (a ``data:`` URL prefix is accepted). No request field
names a file on the server. Bad requests get 400 with ``{"detail": message}`` (422 from
FastAPI for a missing or mistyped field); missing weights that cannot be fetched, a GPU out of
memory and a failing ControlNet preprocessor get 503.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import tempfile
from typing import List, Optional, Tuple

from fastapi import APIRouter, HTTPException
from PIL import Image
from pydantic import BaseModel, Field

from lib_depth3d import pipeline
from lib_depth3d.depth.depthmap import DepthMap, depth_image_nearness, depth_png_bytes
from lib_depth3d.depth.controlnet import depth_preprocessors
from lib_depth3d.depth.licence_note import licence_of
from lib_depth3d.depth.registry import DEFAULT_MODEL, MODELS
from lib_depth3d.depth.sources import CONTROLNET_PREFIX, estimator_sources
from lib_depth3d.errors import Depth3DError, DepthSourceError, InputError, WeightsError
from lib_depth3d.files import open_image

router = APIRouter(prefix="/depth3d/v1", tags=["Depth3D"])


class ModelInfo(BaseModel):
    name: str
    title: str
    output_kind: str = Field(description="'disparity' (relative) or 'metric' (metres)")
    licence: str
    non_commercial: bool
    installed: bool = Field(description="its weight file is in the models folder")


class ModelsResponse(BaseModel):
    default: str
    models: List[ModelInfo]
    controlnet: List[str] = Field(description="ControlNet's depth preprocessors, usable as model "
                                              "'controlnet:<name>' (empty when that extension is not loaded)")


class DepthRequest(BaseModel):
    image: str = Field(description="the picture, base64 PNG/JPEG/WebP")
    model: Optional[str] = Field(None, description="a depth model (GET /models); default: " + DEFAULT_MODEL)
    depth_image: Optional[str] = Field(None, description="use this depth picture (base64, near = bright) instead "
                                                         "of a model")
    net_size: Optional[int] = Field(None, description="the network's processing size in pixels (ControlNet: its resolution)")


class DepthResponse(BaseModel):
    depth: str = Field(description="16-bit greyscale PNG, base64, near = bright")
    kind: str = Field(description="what the model estimated: 'disparity' or 'metric'")
    width: int
    height: int
    licence: Optional[str] = Field(None, description="the licence of the model's weights (None for a depth image "
                                                     "or ControlNet); CC BY-NC models are for non-commercial use only")


class SceneRequest(DepthRequest):
    fov_deg: Optional[float] = Field(None, description="horizontal field of view when no calibration is given")
    lines: Optional[dict] = Field(None, description="vanishing lines JSON (pixels), solved for the camera")
    fspy: Optional[str] = Field(None, description="an fSpy project, base64, for the camera")
    near: Optional[float] = None
    far: Optional[float] = None
    resolution: Optional[int] = 512
    cut_discontinuities: bool = True
    decimate: bool = True
    fill_occlusions: bool = Field(True, description="add a background layer behind foreground edges, so a moving "
                                                    "viewer sees the background continued instead of holes")
    texture_format: str = "png"
    animation: Optional[str] = None


class SceneResponse(BaseModel):
    glb: str = Field(description="the binary glTF scene, base64")
    camera: dict = Field(description="fSpy camera parameters of the scene's camera")
    depth: str = Field(description="16-bit depth PNG, base64, near = bright")
    fspy: Optional[str] = Field(None, description="the fSpy project, base64, when the camera came from lines")
    calibration: Optional[dict] = Field(None, description="the calibration report, when calibrated")
    warnings: List[str]


class MaskRequest(DepthRequest):
    near_min: float = 0.5
    near_max: float = 1.0
    percentiles: Optional[Tuple[float, float]] = None
    invert: bool = False
    hard: bool = False
    ramp: float = 0.05
    feather_px: float = 0.0
    grow_px: int = 0


class MaskResponse(BaseModel):
    mask: str = Field(description="'L' PNG, base64, white = repaint")
    cutoffs: Tuple[float, float]
    warnings: List[str]


def decode_picture(data: str, field: str) -> Image.Image:
    """A picture from a base64 string (or ``data:`` URL); :class:`InputError` naming ``field``."""
    text = data.split(",", 1)[1] if data.startswith("data:") else data
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InputError(f"{field} is not valid base64 ({error}).") from error
    if not raw:
        raise InputError(f"{field} is empty.")
    try:
        return open_image(raw)
    except InputError as error:
        raise InputError(f"{field}: {error}") from error


def _encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _failure(error: Depth3DError) -> HTTPException:
    unavailable = isinstance(error, (WeightsError, DepthSourceError))  # the server's side, not the request's
    return HTTPException(status_code=503 if unavailable else 400, detail=str(error))


def _depth(request: DepthRequest, picture: Image.Image) -> DepthMap:
    if request.depth_image is not None:
        return pipeline.estimate(picture, depth_upload=decode_picture(request.depth_image, "depth_image"))
    if request.model is not None and request.model not in MODELS and not request.model.startswith(CONTROLNET_PREFIX):
        raise InputError(f"Unknown depth model {request.model!r}. Choose one of: {', '.join(estimator_sources())}.")
    return pipeline.estimate(picture, model=request.model, input_size=request.net_size)


def _licence(request: DepthRequest) -> str | None:
    if request.depth_image is not None:
        return None
    licence = licence_of(request.model or DEFAULT_MODEL)
    return None if licence is None else licence.name


@router.get("/models", response_model=ModelsResponse)
def list_models() -> ModelsResponse:
    from lib_depth3d.depth.weights import local_file

    return ModelsResponse(default=DEFAULT_MODEL, models=[
        ModelInfo(name=spec.name, title=spec.title, output_kind=spec.output_kind, licence=spec.licence,
                  non_commercial=spec.non_commercial, installed=local_file(spec) is not None)
        for spec in MODELS.values()
    ], controlnet=depth_preprocessors())


@router.post("/depth", response_model=DepthResponse)
def depth(request: DepthRequest) -> DepthResponse:
    try:
        picture = decode_picture(request.image, "image")
        result = _depth(request, picture)
    except Depth3DError as error:
        raise _failure(error) from error
    return DepthResponse(depth=_encode(depth_png_bytes(result)), kind=result.kind, width=result.width,
                         height=result.height, licence=_licence(request))


@router.post("/scene", response_model=SceneResponse)
def scene(request: SceneRequest) -> SceneResponse:
    from lib_depth3d.scene import SceneOptions

    try:
        picture = decode_picture(request.image, "image")
        calibration = fspy_bytes = None
        if request.lines is not None and request.fspy is not None:
            raise InputError("Give either lines or fspy for the camera, not both.")
        if request.lines is not None:
            calibration, _ = pipeline.load_calibration(request.lines)
        if request.fspy is not None:
            try:
                fspy_bytes = base64.b64decode(request.fspy, validate=True)
            except (binascii.Error, ValueError) as error:
                raise InputError(f"fspy is not valid base64 ({error}).") from error
            calibration, fspy_bytes = pipeline.load_calibration(fspy_bytes)
        options = SceneOptions(near=request.near, far=request.far, resolution=request.resolution,
                               cut_discontinuities=request.cut_discontinuities, decimate=request.decimate,
                               fill_occlusions=request.fill_occlusions,
                               texture_format=request.texture_format, animation=request.animation)
        depth_map = _depth(request, picture)
        with tempfile.TemporaryDirectory(prefix="depth3d-api-") as folder:
            files = pipeline.build_scene_files(picture, depth=depth_map, calibration=calibration,
                                               fspy_bytes=fspy_bytes, fov_deg=request.fov_deg, options=options,
                                               output_dir=folder, base_name="scene")
            return SceneResponse(
                glb=_encode(files.glb.read_bytes()),
                camera=json.loads(files.camera_json.read_text(encoding="utf-8")),
                depth=_encode(files.depth_png.read_bytes()),
                fspy=_encode(files.fspy.read_bytes()) if files.fspy is not None else None,
                calibration=files.calibration_report,
                warnings=files.warnings,
            )
    except Depth3DError as error:
        raise _failure(error) from error


@router.post("/mask", response_model=MaskResponse)
def mask(request: MaskRequest) -> MaskResponse:
    from lib_depth3d.mask import MaskOptions

    try:
        picture = decode_picture(request.image, "image")
        options = MaskOptions(near_min=request.near_min, near_max=request.near_max, percentiles=request.percentiles,
                              invert=request.invert, hard=request.hard, ramp=request.ramp,
                              feather_px=request.feather_px, grow_px=request.grow_px)
        if request.depth_image is not None:  # a depth picture is cut as stored, not renormalised
            depth_map = depth_image_nearness(decode_picture(request.depth_image, "depth_image"))
        else:
            depth_map = _depth(request, picture)
        result = pipeline.make_mask(picture, depth_map, options)
    except Depth3DError as error:
        raise _failure(error) from error
    return MaskResponse(mask=_encode(_png(result.mask)), cutoffs=tuple(result.cutoffs), warnings=result.warnings)
