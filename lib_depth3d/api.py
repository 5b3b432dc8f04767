"""HTTP API (FastAPI router, pydantic 1): depth, scene and mask of a picture sent as base64.

Mounted by the A1111 extension in ``on_app_started`` (``app.include_router(router)``); any
FastAPI app can include it. Routes, all under ``/depth3d/v1``:

- ``GET /models``: the depth models and whether their weights are in the models folder, and
  ControlNet's depth preprocessors when that extension is loaded (``model: "controlnet:<name>"``).
- ``POST /depth``: the 16-bit depth PNG (near = bright) of ``image``, with the model's licence.
- ``POST /scene``: the ``.glb`` (base64), fSpy camera parameters JSON, depth PNG and ``.fspy``.
- ``POST /mask``: the inpainting mask (white = repaint) from the picture's depth.

Pictures and ``.fspy`` projects travel as base64 (a ``data:`` URL prefix is accepted). No request
field names a file on the server. Each route has :data:`LIMITS`: a request body larger than its
limit gets 413 before it is parsed, and a picture with more pixels than its limit gets 413 from
its header, before it is decoded. Bad requests get 400 with ``{"detail": message}``, a missing,
mistyped or unknown field 422 with FastAPI's list of errors less the values sent; missing weights
that cannot be fetched, a GPU out of memory and a failing ControlNet preprocessor get 503. No
error repeats the request's body.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import tempfile
import warnings
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, Field

from lib_depth3d import pipeline
from lib_depth3d.depth.depthmap import DepthMap, depth_image_nearness, depth_png_bytes
from lib_depth3d.depth.controlnet import depth_preprocessors
from lib_depth3d.depth.licence_note import licence_of
from lib_depth3d.depth.registry import DEFAULT_MODEL, MODELS
from lib_depth3d.depth.sources import CONTROLNET_PREFIX, estimator_sources
from lib_depth3d.errors import Depth3DError, DepthSourceError, FspyFormatError, InputError, WeightsError
from lib_depth3d.files import open_image

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

MAX_GRID_SIDE = 2048
"""The largest ``resolution`` of a scene's grid (the command line allows a vertex per pixel, up to
4096²): a full-resolution 4096² scene took 5 GB in ``bench/api.py``."""

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


class LimitedRoute(APIRoute):
    """A route that reads at most its :data:`LIMITS` body and answers a validation error
    without the values sent (FastAPI's own 422 repeats them)."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()
        route = self.path[len(PREFIX):]

        async def limited_handler(request: Request) -> Response:
            limits = LIMITS.get(route)
            if limits is not None:
                await _read_body(request, limits.max_body_bytes)
            try:
                return await handler(request)
            except RequestValidationError as error:
                raise HTTPException(status_code=422, detail=_validation_detail(error)) from None

        return limited_handler


router = APIRouter(prefix=PREFIX, tags=["Depth3D"], route_class=LimitedRoute)


class StrictRequest(BaseModel):
    """A request whose unknown fields are refused (a misspelt option would otherwise be ignored)."""

    class Config:
        extra = "forbid"


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
    fov_deg: Optional[float] = Field(None, description="horizontal field of view when no calibration is given")
    lines: Optional[dict] = Field(None, description="vanishing lines JSON (pixels), solved for the camera")
    fspy: Optional[str] = Field(None, description="an fSpy project, base64, for the camera")
    near: Optional[float] = None
    far: Optional[float] = None
    resolution: int = Field(512, ge=2, le=MAX_GRID_SIDE, description="vertex samples on the picture's longer "
                                                                   f"side (at most {MAX_GRID_SIDE})")
    cut_discontinuities: bool = True
    decimate: bool = True
    fill_occlusions: bool = Field(True, description="add a background layer behind foreground edges, so a moving "
                                                    "viewer sees the background continued instead of holes")
    texture_format: str = Field("png", max_length=20)
    animation: Optional[str] = Field(None, max_length=20)


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


def _base64_bytes(data: str, field: str) -> bytes:
    """The bytes of a base64 field (a ``data:`` URL prefix is dropped); :class:`InputError` naming it."""
    text = data.split(",", 1)[1] if data.startswith("data:") else data
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InputError(f"{field} is not valid base64 ({error}).") from error
    if not raw:
        raise InputError(f"{field} is empty.")
    return raw


def _header_size(raw: bytes, field: str, max_pixels: int) -> tuple[int, int]:
    """The picture's (width, height) from its header alone; :class:`TooLarge` over ``max_pixels``."""
    too_large = f"{field} has more than {max_pixels / 1e6:g} megapixels, this route's limit; send a smaller picture."
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # judged below, against our limit
            with Image.open(io.BytesIO(raw)) as header:
                size = header.size
    except Image.DecompressionBombError as error:
        raise TooLarge(too_large) from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InputError(f"{field} is not a readable picture; send a PNG, JPEG or WebP file in base64.") from error
    if size[0] * size[1] > max_pixels:
        raise TooLarge(too_large)
    return size


def decode_picture(data: str, field: str, max_pixels: int, *, size: tuple[int, int] | None = None) -> Image.Image:
    """A picture from a base64 string (or ``data:`` URL); :class:`InputError` naming ``field``.

    Its header is read first, and a picture over ``max_pixels`` is refused undecoded; one that is
    not of ``size`` (width, height, upright) when given is refused too.
    """
    raw = _base64_bytes(data, field)
    _header_size(raw, field, max_pixels)
    try:
        picture = open_image(raw)
    except InputError as error:
        raise InputError(f"{field}: {error}") from error
    if size is not None and picture.size != tuple(size):
        raise InputError(f"{field} is {picture.width}×{picture.height} but image is {size[0]}×{size[1]}; "
                         "send the depth at the picture's size.")
    return picture


def decode_fspy(data: str) -> bytes:
    """The bytes of an fSpy project sent as base64 (or ``data:`` URL); :class:`FspyFormatError`
    when they are not one (a picture or a lines JSON sent in its place)."""
    raw = _base64_bytes(data, "fspy")
    if raw[:4] != b"fspy":
        raise FspyFormatError("fspy is not an fSpy project (a .fspy file starts with 'fspy'); send the bytes of "
                              "a project saved by fSpy or the Depth 3D tab, or the vanishing lines as 'lines'.")
    return raw


def _encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _failure(error: Depth3DError) -> HTTPException:
    if isinstance(error, TooLarge):
        status = 413
    elif isinstance(error, (WeightsError, DepthSourceError)):  # the server's side, not the request's
        status = 503
    else:
        status = 400
    return HTTPException(status_code=status, detail=_clipped(str(error)))


def _depth(request: DepthRequest, picture: Image.Image) -> DepthMap:
    if request.depth_image is not None:
        # The command line's rule: a depth picture is the picture's own size, never silently rescaled.
        depth_picture = decode_picture(request.depth_image, "depth_image", picture.width * picture.height,
                                       size=picture.size)
        return pipeline.estimate(picture, depth_upload=depth_picture)
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
        picture = decode_picture(request.image, "image", LIMITS["/depth"].max_picture_pixels)
        result = _depth(request, picture)
    except Depth3DError as error:
        raise _failure(error) from error
    return DepthResponse(depth=_encode(depth_png_bytes(result)), kind=result.kind, width=result.width,
                         height=result.height, licence=_licence(request))


@router.post("/scene", response_model=SceneResponse)
def scene(request: SceneRequest) -> SceneResponse:
    from lib_depth3d.scene import SceneOptions

    try:
        picture = decode_picture(request.image, "image", LIMITS["/scene"].max_picture_pixels)
        calibration = fspy_bytes = None
        if request.lines is not None and request.fspy is not None:
            raise InputError("Give either lines or fspy for the camera, not both.")
        if request.lines is not None:
            calibration, _ = pipeline.load_calibration(request.lines)
        if request.fspy is not None:
            calibration, fspy_bytes = pipeline.load_calibration(decode_fspy(request.fspy))
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
        picture = decode_picture(request.image, "image", LIMITS["/mask"].max_picture_pixels)
        options = MaskOptions(near_min=request.near_min, near_max=request.near_max, percentiles=request.percentiles,
                              invert=request.invert, hard=request.hard, ramp=request.ramp,
                              feather_px=request.feather_px, grow_px=request.grow_px)
        if request.depth_image is not None:  # a depth picture is cut as stored, not renormalised
            depth_map = depth_image_nearness(decode_picture(request.depth_image, "depth_image",
                                                            LIMITS["/mask"].max_picture_pixels))
        else:
            depth_map = _depth(request, picture)
        result = pipeline.make_mask(picture, depth_map, options)
    except Depth3DError as error:
        raise _failure(error) from error
    return MaskResponse(mask=_encode(_png(result.mask)), cutoffs=tuple(result.cutoffs), warnings=result.warnings)
