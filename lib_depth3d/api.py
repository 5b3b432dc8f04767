"""HTTP API (FastAPI router, pydantic 1): depth, scene and mask of a picture sent as base64.

Mounted by the A1111 extension in ``on_app_started`` through :func:`mount`, which also tells the
routes the WebUI's models folder; any FastAPI app can include :data:`router` (weights then live in
the default folder). Each route parses its request once into a depth source, a camera source and
options, and calls :mod:`lib_depth3d.pipeline`. Routes, all under ``/depth3d/v1``:

- ``GET /models``: the depth models and whether their weights are in the models folder, and
  ControlNet's depth preprocessors when that extension is loaded (``model: "controlnet:<name>"``).
- ``POST /depth``: the 16-bit depth PNG (near = bright) of ``image``, with the model's licence.
- ``POST /scene``: the ``.glb`` (base64), fSpy camera parameters JSON, depth PNG and ``.fspy``.
- ``POST /mask``: the inpainting mask (white = repaint) from the picture's depth.

Pictures and ``.fspy`` projects travel as base64 (a ``data:`` URL prefix is accepted). No request
field names a file on the server. Each route has :data:`LIMITS`: a request body larger than its
limit gets 413 before it is parsed, and a picture with more pixels than its limit gets 413 from
its header, before it is decoded. The POST routes run on a bounded worker pool
(:mod:`lib_depth3d.worker_pool`, one worker per core) with a bounded queue in front: a request
that finds the pool full gets 503 with a ``Retry-After`` header before its body is read. Bad
requests get 400 with ``{"detail": message}``, a missing, mistyped or unknown field 422 with
FastAPI's list of errors less the values sent; missing weights that cannot be fetched, a GPU out
of memory and a failing ControlNet preprocessor get 503. No error repeats the request's body.
"""

from __future__ import annotations

import base64
import functools
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Literal, Optional, Tuple

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from PIL import Image
from pydantic import BaseModel, Field

from lib_depth3d import pipeline
from lib_depth3d.camera.sources import (
    AutomaticCamera,
    CameraSource,
    DetectedLinesCamera,
    EstimatedCamera,
    FieldOfViewCamera,
    FspyCamera,
    calibration_source,
)
from lib_depth3d.depth.controlnet import depth_preprocessors
from lib_depth3d.depth.depthmap import depth_png_bytes
from lib_depth3d.depth.registry import DEFAULT_MODEL, MODELS
from lib_depth3d.depth.sources import DepthSource, UserDepth, parse_depth_source
from lib_depth3d.depth.weights_advice import MODELS_FOLDER_ADVICE
from lib_depth3d.errors import (Depth3DError, DepthSourceError, FspyFormatError, InputError, ServerBusyError,
                                WeightsError)
from lib_depth3d.files import base64_file_bytes, open_image, picture_header_size, png_bytes
from lib_depth3d.options import (
    DEFAULT_FOV_DEG,
    FIELD_OF_VIEW_RANGE_DEG,
    MAX_SERVED_GRID_SIDE,
    MIN_RESOLUTION,
    SceneOptions,
)
from lib_depth3d.worker_pool import WorkerPool, default_pool

PREFIX = "/depth3d/v1"
MIB = 1024 * 1024


@dataclass(frozen=True)
class RequestLimits:
    """What one route accepts: its request body in bytes, and each picture in it in pixels
    (width × height, read from the picture's header before it is decoded)."""

    max_body_bytes: int
    max_picture_pixels: int


LIMITS = {
    "/depth": RequestLimits(max_body_bytes=128 * MIB, max_picture_pixels=4096 * 4096),
    "/scene": RequestLimits(max_body_bytes=192 * MIB, max_picture_pixels=4096 * 4096),
    "/mask": RequestLimits(max_body_bytes=128 * MIB, max_picture_pixels=4096 * 4096),
}
"""Per route (path under :data:`PREFIX`). Each body has room for a 4096² RGB PNG and a 4096²
16-bit depth PNG of noise (what compresses worst) in base64, 112 MiB, and on ``/scene`` an
``.fspy`` that holds the picture once more."""

MAX_NET_SIZE = 1036
"""The largest ``net_size`` the API runs a network at, twice Depth Anything V2's own 518 (the
command line and the WebUI allow up to 4096): a network's memory grows with the square of its
size, and Depth Anything V2 Small alone took 2.9 GB at 2044 in ``bench/api.py``."""


MAX_DETAIL_CHARS = 500
"""An error message longer than this is cut, so that no value from the request comes back whole."""


class TooLarge(InputError):
    """A request body or a picture over its route's limit (HTTP 413)."""


def _clipped(text: str) -> str:
    return text if len(text) <= MAX_DETAIL_CHARS else text[:MAX_DETAIL_CHARS] + "…"


def _validation_detail(error: RequestValidationError) -> list:
    """FastAPI's 422 list without what pydantic keeps of the input (``ctx`` holds the whole body
    of a malformed JSON), with each location and message cut to a readable length."""
    return [{"loc": [_clipped(str(part)) if isinstance(part, str) else part for part in item["loc"]],
             "msg": _clipped(item["msg"]), "type": item["type"]}
            for item in error.errors()]


async def _read_body(request: Request, max_bytes: int) -> None:
    """Read the body into the request's cache, refusing it as soon as it passes ``max_bytes``."""
    limit = f"{max_bytes // MIB} MiB" if max_bytes >= MIB else f"{max_bytes} bytes"
    limit_text = f"The request body is over this route's limit of {limit}; send smaller pictures."
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise HTTPException(status_code=413, detail=limit_text)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise HTTPException(status_code=413, detail=limit_text)
        chunks.append(chunk)
    request._body = b"".join(chunks)  # Starlette's own cache, which request.body() and json() read


def _busy(error: ServerBusyError) -> JSONResponse:
    """The 503 of a full pool, returned rather than raised: A1111's ``--api`` error handlers
    rebuild a raised exception's answer without its headers, and the retry hint is one."""
    return JSONResponse({"detail": str(error)}, status_code=503,
                        headers={"Retry-After": str(error.retry_after_s)})


class LimitedRoute(APIRoute):
    """A route that reads at most its :data:`LIMITS` body and answers a validation error
    without the values sent (FastAPI's own 422 repeats them). A route with limits is a heavy
    one: it is admitted to the app's worker pool (:func:`mount`) before its body is read, and
    its endpoint (made by :func:`_on_the_pool`) runs under that admission."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()
        route = self.path[len(PREFIX):]

        async def limited_handler(request: Request) -> Response:
            limits = LIMITS.get(route)
            if limits is None:
                return await _validated(handler, request)
            try:
                admission = _pool(request).admit()
            except ServerBusyError as error:
                return _busy(error)
            with admission:
                setattr(request.state, ADMISSION_STATE, admission)
                await _read_body(request, limits.max_body_bytes)
                return await _validated(handler, request)

        return limited_handler


async def _validated(handler: Callable, request: Request) -> Response:
    try:
        return await handler(request)
    except RequestValidationError as error:
        raise HTTPException(status_code=422, detail=_validation_detail(error)) from None


router = APIRouter(prefix=PREFIX, tags=["Depth3D"], route_class=LimitedRoute)

MODELS_FOLDER_STATE = "depth3d_models_folder"
"""The app's state attribute holding a function that gives the models folder (see :func:`mount`)."""

WEIGHTS_ADVICE_STATE = "depth3d_weights_advice"
"""The app's state attribute holding how a missing-weights message ends (see :func:`mount`)."""

POOL_STATE = "depth3d_worker_pool"
"""The app's state attribute holding the :class:`~lib_depth3d.worker_pool.WorkerPool` of its heavy routes."""

ADMISSION_STATE = "depth3d_admission"
"""The request's state attribute holding its :class:`~lib_depth3d.worker_pool.Admission`."""

SCENE_DEFAULTS = SceneOptions()


def mount(app, models_folder: Callable[[], Path] | None = None, weights_advice: str = MODELS_FOLDER_ADVICE,
          pool: WorkerPool | None = None) -> None:
    """Include :data:`router` in the FastAPI ``app``; ``models_folder()`` gives the folder depth
    weights are read from and downloaded to, asked on each request (a setting may change it);
    ``weights_advice`` ends a missing-weights message (see
    :class:`~lib_depth3d.depth.sources.NetworkDepth`: the WebUI gives its setting). ``pool`` runs
    the heavy routes (default: the process's pool, one worker per core); an app that includes
    :data:`router` itself gets the process's pool."""
    setattr(app.state, MODELS_FOLDER_STATE, models_folder)
    setattr(app.state, WEIGHTS_ADVICE_STATE, weights_advice)
    setattr(app.state, POOL_STATE, pool)
    app.include_router(router)


def _pool(http: Request) -> WorkerPool:
    return getattr(http.app.state, POOL_STATE, None) or default_pool()


def _on_the_pool(work: Callable) -> Callable:
    """The endpoint of a heavy route: ``work(body, http)``, a plain function, run on a worker of
    the pool under the admission :class:`LimitedRoute` took for the request."""

    @functools.wraps(work)  # FastAPI reads the request's fields from work's signature
    async def endpoint(body, http: Request):
        return await getattr(http.state, ADMISSION_STATE).run(work, body, http)

    return endpoint


def _models_folder(http: Request) -> Path | None:
    provider = getattr(http.app.state, MODELS_FOLDER_STATE, None)
    return provider() if provider is not None else None


class StrictRequest(BaseModel):
    """A request whose unknown fields are refused (a misspelt option would otherwise be ignored)."""

    class Config:
        extra = "forbid"


class ModelInfo(BaseModel):
    name: str
    title: str
    output_kind: str = Field(description="'disparity' (relative), 'depth' (relative z-depth) or 'metric' (metres)")
    licence: str
    non_commercial: bool
    installed: bool = Field(description="its weight file is in the models folder")


class ModelsResponse(BaseModel):
    default: str
    models: List[ModelInfo]
    controlnet: List[str] = Field(description="ControlNet's depth preprocessors, usable as model "
                                              "'controlnet:<name>' (empty when that extension is not loaded)")


class DepthRequest(StrictRequest):
    image: str = Field(description="the picture, base64 PNG/JPEG/WebP")
    model: Optional[str] = Field(None, max_length=200,
                                 description="a depth model (GET /models); default: " + DEFAULT_MODEL)
    depth_image: Optional[str] = Field(None, description="use this depth picture (base64, near = bright, the "
                                                         "picture's size) instead of a model")
    net_size: Optional[int] = Field(None, le=MAX_NET_SIZE, description="the network's processing size in pixels "
                                                                     "(ControlNet: its resolution)")


class DepthResponse(BaseModel):
    depth: str = Field(description="16-bit greyscale PNG, base64, near = bright")
    kind: str = Field(description="what the model estimated: 'disparity' or 'metric'")
    width: int
    height: int
    licence: Optional[str] = Field(None, description="the licence of the model's weights (None for a depth image "
                                                     "or ControlNet); CC BY-NC models are for non-commercial use only")


class SceneRequest(DepthRequest):
    fov_deg: Optional[float] = Field(None, ge=FIELD_OF_VIEW_RANGE_DEG[0], le=FIELD_OF_VIEW_RANGE_DEG[1],
                                     description="horizontal field of view in degrees when no calibration is given "
                                                 f"(default {DEFAULT_FOV_DEG:g})")
    lines: Optional[dict] = Field(None, description="vanishing lines JSON (pixels), solved for the camera")
    camera: Optional[Literal["auto", "detect", "network"]] = Field(
        None, description="without lines or fspy: 'auto' uses vanishing lines detected in the picture when they "
                          "are trusted, else the depth network's own camera when it estimates one (Depth Anything "
                          "3, MoGe-2), else the field of view; 'detect' always uses the detected lines (refused when "
                          "none are found); 'network' the depth network's camera (else the field of view). The "
                          "camera JSON's depth3dCamera says which source gave the camera")
    fspy: Optional[str] = Field(None, description="an fSpy project, base64, for the camera")
    near: Optional[float] = SCENE_DEFAULTS.near
    far: Optional[float] = SCENE_DEFAULTS.far
    resolution: int = Field(SCENE_DEFAULTS.resolution, ge=MIN_RESOLUTION, le=MAX_SERVED_GRID_SIDE,
                            description=f"vertex samples on the picture's longer side (at most {MAX_SERVED_GRID_SIDE})")
    cut_discontinuities: bool = SCENE_DEFAULTS.cut_discontinuities
    decimate: bool = SCENE_DEFAULTS.decimate
    fill_occlusions: bool = Field(SCENE_DEFAULTS.fill_occlusions,
                                  description="add a background layer behind foreground edges, so a moving "
                                              "viewer sees the background continued instead of holes")
    texture_format: str = Field(SCENE_DEFAULTS.texture_format, max_length=20,
                                description="'source' (default): the picture's own JPEG or PNG file when "
                                            "the scene shows it unchanged, else its encoding; 'png'; 'jpeg'")
    plain_gltf: bool = Field(SCENE_DEFAULTS.plain_gltf,
                             description="float32 positions and UVs, for programs without KHR_mesh_quantization "
                                         "(default: 16-bit, where that keeps the decimation's tolerances)")
    animation: Optional[str] = Field(SCENE_DEFAULTS.animation, max_length=20)


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


def _header_size(raw: bytes, field: str, max_pixels: int) -> tuple[int, int]:
    """The picture's (width, height) from its header alone; :class:`TooLarge` over ``max_pixels``."""
    try:
        size = picture_header_size(raw, field)
    except InputError as error:
        raise InputError(f"{field} is not a readable picture; send a PNG, JPEG or WebP file in base64.") from error
    if size[0] * size[1] > max_pixels:
        raise TooLarge(f"{field} has more than {max_pixels / 1e6:g} megapixels, this route's limit; "
                       "send a smaller picture.")
    return size


def decode_picture(data: str, field: str, max_pixels: int) -> tuple[Image.Image, bytes]:
    """A picture from a base64 string (or ``data:`` URL), and its file's bytes; :class:`InputError`
    naming ``field``. Its header is read first, and a picture over ``max_pixels`` is refused undecoded.
    """
    raw = base64_file_bytes(data, field)
    _header_size(raw, field, max_pixels)
    try:
        return open_image(raw), raw
    except InputError as error:
        raise InputError(f"{field}: {error}") from error


def decode_fspy(data: str) -> bytes:
    """The bytes of an fSpy project sent as base64 (or ``data:`` URL); :class:`FspyFormatError`
    when they are not one (a picture or a lines JSON sent in its place)."""
    raw = base64_file_bytes(data, "fspy")
    if raw[:4] != b"fspy":
        raise FspyFormatError("fspy is not an fSpy project (a .fspy file starts with 'fspy'); send the bytes of "
                              "a project saved by fSpy or the Depth 3D tab, or the vanishing lines as 'lines'.")
    return raw


def _encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _failure(error: Depth3DError) -> HTTPException:
    if isinstance(error, TooLarge):
        status = 413
    elif isinstance(error, (WeightsError, DepthSourceError)):  # the server's side, not the request's
        status = 503
    else:
        status = 400
    if isinstance(error, WeightsError):
        # Built from the registry and the server's models folder, never from the request, and its
        # last sentence is the remedy: given whole.
        return HTTPException(status_code=status, detail=str(error))
    return HTTPException(status_code=status, detail=_clipped(str(error)))


def _depth_source(body: DepthRequest, http: Request, route: str) -> DepthSource:
    """The request's depth source: its depth picture, else its model (default :data:`DEFAULT_MODEL`)."""
    if body.depth_image is not None:
        depth_picture, _ = decode_picture(body.depth_image, "depth_image", LIMITS[route].max_picture_pixels)
        return UserDepth(depth_picture)
    return parse_depth_source(body.model or DEFAULT_MODEL, input_size=body.net_size,
                              models_folder=_models_folder(http),
                              weights_advice=getattr(http.app.state, WEIGHTS_ADVICE_STATE, MODELS_FOLDER_ADVICE))


def _camera_source(body: SceneRequest) -> CameraSource:
    if sum(value is not None for value in (body.lines, body.fspy, body.camera)) > 1:
        raise InputError("Give one of lines, fspy or camera for the camera, not several.")
    if body.lines is not None:
        return calibration_source(body.lines)
    if body.fspy is not None:
        return FspyCamera(decode_fspy(body.fspy))
    field_of_view = FieldOfViewCamera(assumed=True) if body.fov_deg is None else FieldOfViewCamera(body.fov_deg)
    if body.camera == "detect":
        return DetectedLinesCamera()
    if body.camera == "auto":
        return AutomaticCamera(field_of_view)
    if body.camera == "network":
        return EstimatedCamera(field_of_view)
    return field_of_view


@router.get("/models", response_model=ModelsResponse)
def list_models(http: Request) -> ModelsResponse:
    from lib_depth3d.depth.weights import local_file

    folder = _models_folder(http)
    return ModelsResponse(default=DEFAULT_MODEL, models=[
        ModelInfo(name=spec.name, title=spec.title, output_kind=spec.output_kind, licence=spec.licence,
                  non_commercial=spec.non_commercial, installed=local_file(spec, folder) is not None)
        for spec in MODELS.values()
    ], controlnet=depth_preprocessors())


@router.post("/depth", response_model=DepthResponse)
@_on_the_pool
def depth(body: DepthRequest, http: Request) -> DepthResponse:
    try:
        picture, _ = decode_picture(body.image, "image", LIMITS["/depth"].max_picture_pixels)
        source = _depth_source(body, http, "/depth")
        result = pipeline.estimate(picture, source)
    except Depth3DError as error:
        raise _failure(error) from error
    return DepthResponse(depth=_encode(depth_png_bytes(result)), kind=result.kind, width=result.width,
                         height=result.height, licence=source.licence.name if source.licence else None)


@router.post("/scene", response_model=SceneResponse)
@_on_the_pool
def scene(body: SceneRequest, http: Request) -> SceneResponse:
    try:
        picture, picture_bytes = decode_picture(body.image, "image", LIMITS["/scene"].max_picture_pixels)
        camera = _camera_source(body)
        options = SceneOptions(near=body.near, far=body.far, resolution=body.resolution,
                               cut_discontinuities=body.cut_discontinuities, decimate=body.decimate,
                               fill_occlusions=body.fill_occlusions,
                               texture_format=body.texture_format, plain_gltf=body.plain_gltf,
                               animation=body.animation)
        source = _depth_source(body, http, "/scene")
        with tempfile.TemporaryDirectory(prefix="depth3d-api-") as folder:
            build = pipeline.run_scene(picture, depth=source, camera=camera, glb_path=Path(folder) / "scene.glb",
                                       options=options, picture_bytes=picture_bytes)
            files = build.files
            return SceneResponse(
                glb=_encode(files.glb.read_bytes()),
                camera=json.loads(files.camera_json.read_text(encoding="utf-8")),
                depth=_encode(files.depth_png.read_bytes()),
                fspy=_encode(files.fspy.read_bytes()) if files.fspy is not None else None,
                calibration=files.calibration_report,
                warnings=list(files.warnings),
            )
    except Depth3DError as error:
        raise _failure(error) from error


@router.post("/mask", response_model=MaskResponse)
@_on_the_pool
def mask(body: MaskRequest, http: Request) -> MaskResponse:
    from lib_depth3d.mask import MaskOptions

    try:
        picture, _ = decode_picture(body.image, "image", LIMITS["/mask"].max_picture_pixels)
        options = MaskOptions(near_min=body.near_min, near_max=body.near_max, percentiles=body.percentiles,
                              invert=body.invert, hard=body.hard, ramp=body.ramp,
                              feather_px=body.feather_px, grow_px=body.grow_px)
        source = _depth_source(body, http, "/mask")
        result = pipeline.make_mask(picture, source.mask_nearness(picture), options)
    except Depth3DError as error:
        raise _failure(error) from error
    return MaskResponse(mask=_encode(png_bytes(result.mask)), cutoffs=tuple(result.cutoffs), warnings=result.warnings)
