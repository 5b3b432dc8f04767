"""``estimate_depth``: a picture in, a :class:`DepthMap` at the picture's size out
(``estimate_depth_and_camera``: with the camera the network estimated, if it estimates one).

What differs between architectures — the input size rule, normalisation, build, checkpoint
layouts, output resampling and what the output gives — is each one's
:class:`~lib_depth3d.depth.registry.Adapter`; no code here depends on which architecture runs.

Networks stay loaded between calls (the last ``MAX_LOADED_MODELS`` used; thread-safe: one lock
per model, so two requests for the same model run one after the other). They are kept on the
CPU in float32; a GPU or half-precision call works on a copy, dropped afterwards (and the GPU
cache emptied) unless ``keep_loaded`` is set. Device and precision follow AUTOMATIC1111
(``modules.devices``, ``--use-cpu``, ``--no-half``) when running inside it, else the best
available (CUDA in float16, MPS, CPU in float32). On CUDA the decoder runs channels-last, and a
network kept loaded replays CUDA graphs for input sizes it has seen (see ``accelerate.py``).
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from lib_depth3d.depth.depthmap import DepthMap, DepthWithCamera
from lib_depth3d.depth.registry import DEFAULT_MODEL, ModelSpec, NetworkCamera, adapter_for, get_model
from lib_depth3d.errors import DepthSourceError, InputError, WeightsError
from lib_depth3d.files import to_rgb
from lib_depth3d.options import DEFAULT_FOV_DEG
from lib_depth3d.progress import Progress


MIN_METRIC_DEPTH_M = 1e-3
MAX_INPUT_SIZE = 4096
MAX_NETWORK_SIDE = 8192


def network_size(width: int, height: int, spec: ModelSpec, input_size: int | None = None) -> tuple[int, int]:
    """The (width, height) in pixels the picture is resized to before the network.

    The aspect ratio is kept and each side rounded to the architecture's multiple (its
    :class:`~lib_depth3d.depth.registry.SizeRule`). Depth Anything V2 (as its authors run it):
    the shorter side becomes at least ``input_size`` ("lower bound"), multiples of 14. MiDaS:
    the scale closest to 1 of the two that fit one side to ``input_size`` ("minimal"),
    multiples of 32 — the rule of transformers' DPT image processor. Depth Anything 3: the longer
    side becomes ``input_size`` ("upper bound"), multiples of 14. Either way no side exceeds
    :data:`MAX_NETWORK_SIDE`: a longer one is scaled down to it.
    """
    size = spec.input_size if input_size is None else input_size
    rule = adapter_for(spec).size_rule
    multiple = rule.multiple_of
    if size % multiple or not multiple * 2 <= size <= MAX_INPUT_SIZE:
        raise InputError(
            f"The network size for {spec.name} must be a multiple of {multiple} between {multiple * 2} "
            f"and {MAX_INPUT_SIZE}; got {size}."
        )
    scale_height, scale_width = size / height, size / width
    if rule.keep_shorter_side_at_least:
        scale = max(scale_height, scale_width)
        minimum = size
    elif rule.fit_longer_side:
        scale = min(scale_height, scale_width)
        minimum = 0
    else:
        scale = scale_width if abs(1 - scale_width) < abs(1 - scale_height) else scale_height
        minimum = 0
    longest_side = MAX_NETWORK_SIDE // multiple * multiple
    if scale * max(width, height) > longest_side:
        # A very elongated picture (a panorama strip): its long side is capped, so its short side
        # gets fewer pixels than the network size rather than the picture being refused.
        scale = longest_side / max(width, height)
        minimum = 0

    def constrain(value: float) -> int:
        rounded = round(value / multiple) * multiple
        return math.ceil(value / multiple) * multiple if rounded < minimum else max(rounded, multiple)

    return min(constrain(scale * width), longest_side), min(constrain(scale * height), longest_side)


def network_input(picture: Image.Image, spec: ModelSpec, input_size: int | None = None):
    """The normalised (1, 3, h, w) float32 tensor the network sees (bicubic resize of 8-bit RGB)."""
    import torch

    rgb = to_rgb(picture)
    width, height = network_size(rgb.width, rgb.height, spec, input_size)
    resized = rgb.resize((width, height), Image.BICUBIC)
    normalisation = adapter_for(spec).normalisation
    mean, std = np.asarray(normalisation.mean, np.float32), np.asarray(normalisation.std, np.float32)
    array = (np.asarray(resized, dtype=np.float32) / 255.0 - mean) / std
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None]


def build_network(spec: ModelSpec, config: dict | None = None):
    """An uninitialised network of ``spec``'s architecture, in evaluation mode; ``config``: the
    configuration its checkpoint carries, for architectures whose checkpoints carry one."""
    adapter = adapter_for(spec)
    if config is None:
        return adapter.build(spec)
    if adapter.build_from_config is None:
        raise WeightsError(f"The weight file holds a model_config and weights, the layout of another family of "
                           f"networks, not of {spec.name}. Check that the file belongs to the chosen model.")
    return adapter.build_from_config(spec, config)


def resolve_device(requested: str | None = None):
    """(torch.device, dtype) to run on: ``requested``, else A1111's choice, else the best available."""
    import torch

    if requested:
        try:
            device = torch.device(requested)
        except RuntimeError as error:
            raise InputError(f"Unknown device {requested!r}; use cpu, cuda, cuda:N or mps.") from error
        if device.type == "cuda" and not torch.cuda.is_available():
            raise InputError("--device cuda was asked for but no CUDA GPU is available; use --device cpu.")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise InputError("--device mps was asked for but MPS is not available; use --device cpu.")
        return device, torch.float16 if device.type == "cuda" else torch.float32
    try:
        from modules import devices, shared  # AUTOMATIC1111, when running inside the WebUI
    except ImportError:
        devices = None
    if devices is not None:
        # get_device_for honours --use-cpu (all, or a task name); older WebUIs only have .device
        chosen = devices.get_device_for("depth3d") if hasattr(devices, "get_device_for") else devices.device
        device = torch.device(chosen)
        no_half = bool(getattr(getattr(shared, "cmd_opts", None), "no_half", False))
        dtype = torch.float32 if no_half or device.type == "cpu" else getattr(devices, "dtype", torch.float16)
        return device, dtype
    if torch.cuda.is_available():
        return torch.device("cuda"), torch.float16
    if torch.backends.mps.is_available():
        return torch.device("mps"), torch.float32
    return torch.device("cpu"), torch.float32


@dataclass
class _Loaded:
    """A network as loaded (CPU, the checkpoint's values in float32) and, when the user keeps it
    loaded, its copy on another device or in another precision."""

    network: object
    lock: threading.Lock
    config: dict | None = None
    placed: object = None
    graphed: object = None


def _placed(loaded: _Loaded, spec: ModelSpec, device, dtype):
    """The network on ``device`` in ``dtype``. A copy is made rather than moving the loaded one,
    so that a float16 run never rounds the float32 values later CPU runs use."""
    import torch

    master = loaded.network
    if device.type == "cpu" and dtype == torch.float32:
        return master
    placed = loaded.placed
    if placed is not None:
        parameter = next(placed.parameters())
        # Compared through a tensor: "cuda" names the current GPU, while weights report "cuda:0".
        if parameter.device == torch.empty(0, device=device).device and parameter.dtype == dtype:
            return placed
    loaded.placed = None
    with torch.device("meta"):
        copy = build_network(spec, loaded.config)
    copy.load_state_dict({key: value.to(device=device, dtype=dtype) for key, value in master.state_dict().items()},
                         strict=True, assign=True)
    if torch.device(device).type == "cuda":
        from lib_depth3d.depth.accelerate import to_channels_last

        copy = to_channels_last(copy)
    return copy.eval()


def _runner(loaded: _Loaded, network, device, keep_loaded: bool):
    """What to call for ``network``: CUDA graphs for a CUDA network the user keeps loaded (the
    graphs live as long as the kept copy), else the network itself."""
    if device.type != "cuda" or not keep_loaded:
        return network
    if loaded.graphed is None or loaded.graphed.network is not network:
        from lib_depth3d.depth.accelerate import GraphedNetwork

        loaded.graphed = GraphedNetwork(network)
    return loaded.graphed


MAX_LOADED_MODELS = 2
"""Networks kept in memory at once; the least recently used one is dropped beyond this."""

_cache: OrderedDict[tuple, _Loaded] = OrderedDict()
_cache_lock = threading.Lock()
_verified: set[tuple[str, int, int]] = set()


def weights_for(
    spec: ModelSpec,
    weights_path: str | os.PathLike | None = None,
    *,
    models_folder: str | os.PathLike | None = None,
    download_missing: bool = True,
    allow_unverified: bool = False,
    progress: Progress | None = None,
    advice: str | None = None,
) -> Path:
    """The weight file to load: ``weights_path``, else one in the models folder (``models_folder``,
    default :func:`~lib_depth3d.depth.weights.models_dir`; downloaded there when missing and
    ``download_missing``). Files from the models folder are checked against the registry's size
    and SHA-256 once per process. ``advice`` ends the message for missing weights (default
    :data:`~lib_depth3d.depth.weights_advice.MODELS_FOLDER_ADVICE`)."""
    from lib_depth3d.depth import weights

    advice = weights.MODELS_FOLDER_ADVICE if advice is None else advice
    if weights_path is not None:
        path = Path(weights_path)
        if not path.is_file():
            raise WeightsError(f"Weight file not found: {path}.")
        return path
    found = weights.local_file(spec, models_folder)
    if found is None:
        if not download_missing:
            raise WeightsError(weights.missing_weights_message(spec, "the file is not in the models folder",
                                                               models_folder, advice))
        primary = spec.files[0]

        def report(done: int, total: int | None) -> None:
            if progress is not None:
                progress(f"Downloading {primary.filename}", done / total if total else None)

        try:
            return weights.download(primary, weights.models_dir(models_folder), progress=report,
                                    allow_unverified=allow_unverified,
                                    on_wait=lambda notice: progress(notice, None) if progress is not None else None)
        except weights.DownloadLockError:
            raise  # its own advice; the file itself is not the problem
        except WeightsError as error:
            raise WeightsError(weights.missing_weights_message(spec, str(error).rstrip("."), models_folder,
                                                               advice)) from error
    path, weight_file = found
    key = (str(path), path.stat().st_size, path.stat().st_mtime_ns)
    if key not in _verified:
        if progress is not None:
            progress(f"Checking {path.name}", None)
        weights.verify(path, weight_file)
        _verified.add(key)
    return path


def load_network(spec: ModelSpec, path: Path):
    """The network of ``spec`` with the weights of ``path``, cached for the process."""
    import torch

    from lib_depth3d.depth import weights

    status = path.stat()
    key = (spec.name, str(path.resolve()), status.st_size, status.st_mtime_ns)  # a replaced file reloads
    with _cache_lock:
        loaded = _cache.get(key)
        if loaded is None:
            checkpoint = weights.read_checkpoint(path)
            with torch.device("meta"):  # no time spent initialising weights about to be replaced
                network = build_network(spec, checkpoint.config)
            state = adapter_for(spec).to_own_layout(checkpoint.state)
            weights.load_into(network, state, str(path))
            loaded = _cache[key] = _Loaded(network, threading.Lock(), checkpoint.config)
            while len(_cache) > MAX_LOADED_MODELS:
                _cache.popitem(last=False)
        _cache.move_to_end(key)
    return loaded


def unload_all() -> None:
    """Forget every cached network (frees their memory)."""
    with _cache_lock:
        _cache.clear()


def estimate_depth(picture: Image.Image, model: str = DEFAULT_MODEL, **options) -> DepthMap:
    """The depth of ``picture`` by ``model``: :func:`estimate_depth_and_camera` without the camera."""
    return estimate_depth_and_camera(picture, model, **options).depth


def estimate_depth_and_camera(
    picture: Image.Image,
    model: str = DEFAULT_MODEL,
    *,
    weights_path: str | os.PathLike | None = None,
    models_folder: str | os.PathLike | None = None,
    device: str | None = None,
    progress: Progress | None = None,
    input_size: int | None = None,
    keep_loaded: bool = False,
    download_missing: bool = True,
    allow_unverified: bool = False,
    weights_advice: str | None = None,
    known_camera: NetworkCamera | None = None,
    cpu_bf16: bool = False,
) -> DepthWithCamera:
    """Estimate the depth of ``picture`` (any PIL mode: RGB, RGBA, L, I;16, …) with ``model``.

    The depth is float32 values at the picture's size: ``disparity`` (relative, larger = nearer)
    for the relative models, ``depth`` (relative z-depth, up to scale) for Depth Anything 3 Small,
    Base and Mono-Large, ``metric`` (z-depth in metres, at least 1 mm) for the metric ones; where
    the network finds sky, the depth map's ``surface`` is False there.
    ``known_camera``: the picture's camera when the user gave one (pixels of the picture): MoGe-2
    then solves only for its shift (the official ``fov_x``), and a network with a canonical focal
    length (Depth Anything 3 Metric-Large) turns its output into metres with this camera's focal
    length rather than that of the default field of view (``DEFAULT_FOV_DEG``: the official code
    gives no metres without intrinsics).
    ``cpu_bf16``: on the CPU, run the network in bfloat16 (faster where the CPU has AVX512-BF16
    or AMX; depth within about 4 % of float32's, see docs/depth-models.md).
    ``input_size`` is the network's processing size (default: the model's, 518, 504 or 384).
    ``weights_path``: a weight file to use instead of the models folder (not hash-checked);
    ``models_folder``: the models folder (default :func:`~lib_depth3d.depth.weights.models_dir`).
    ``device``: ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (default: see :func:`resolve_device`).
    ``keep_loaded``: keep the network's GPU / half-precision copy for the next call.
    ``download_missing``/``allow_unverified``: see :func:`weights_for` and the registry;
    ``weights_advice``: :func:`weights_for`'s ``advice``.
    ``progress(message, fraction)`` hears about downloads, loading and the estimate.
    """
    import torch

    spec = get_model(model)
    if not isinstance(picture, Image.Image):
        raise InputError(f"estimate_depth needs a PIL image, not {type(picture).__name__}.")
    if picture.width < 1 or picture.height < 1:
        raise InputError("The picture is empty (0 pixels).")
    tensor = network_input(picture, spec, input_size)
    path = weights_for(spec, weights_path, models_folder=models_folder, download_missing=download_missing,
                       allow_unverified=allow_unverified, progress=progress, advice=weights_advice)
    if progress is not None:
        progress(f"Loading {spec.name}", None)
    loaded = load_network(spec, path)
    target_device, dtype = resolve_device(device)
    if cpu_bf16 and target_device.type == "cpu":
        dtype = torch.bfloat16
    if progress is not None:
        progress(f"Estimating depth with {spec.name}", None)
    input_size_px = (tensor.shape[-1], tensor.shape[-2])
    known_at_input = None if known_camera is None else known_camera.resized(*input_size_px)
    with loaded.lock, torch.inference_mode():
        predicted = _predict(loaded, spec, tensor, picture.size, target_device, dtype, keep_loaded, known_at_input)
    if predicted is None:
        raise DepthSourceError(
            f"{target_device} ran out of memory running {spec.name} at {tensor.shape[-1]}×{tensor.shape[-2]}: "
            "lower the network size, choose a smaller model, or run on the CPU "
            "(--device cpu; in the WebUI --use-cpu depth3d)."
        )
    values, camera, surface = predicted
    if spec.canonical_focal_px is not None:
        picture_camera = known_camera or NetworkCamera.from_horizontal_fov(*picture.size, DEFAULT_FOV_DEG)
        focal_at_input = np.mean(picture_camera.resized(*input_size_px).focal_length_px)
        values = values * np.float32(focal_at_input / spec.canonical_focal_px)
    if not np.all(np.isfinite(values)):
        raise WeightsError(
            f"{spec.name} produced NaN or infinite depth on {target_device} in {dtype}: the weights are "
            "damaged, or the precision is too low (run with --no-half or --device cpu)."
        )
    if spec.output_kind == "metric":
        return DepthWithCamera(DepthMap(np.maximum(values, MIN_METRIC_DEPTH_M), "metric", surface), camera)
    if spec.output_kind == "depth":
        # Positive by construction (an exponential); the floor only guards float32 underflow.
        return DepthWithCamera(DepthMap(np.maximum(values, np.finfo(np.float32).tiny), "depth", surface), camera)
    return DepthWithCamera(DepthMap(values, "disparity", surface), camera)


def _predict(loaded: _Loaded, spec: ModelSpec, tensor, size: tuple[int, int], device, dtype, keep_loaded: bool,
             known_camera: NetworkCamera | None = None):
    """(The network's depth resized to ``size`` (width, height) as float32, its camera for that
    size or None, where it has a surface or None), or None when the device ran out of memory
    (copying the weights or running). ``known_camera``: the picture's camera at the network's input.
    Only a successful run keeps the device copy (with ``keep_loaded``); otherwise it and its CUDA
    graphs are dropped and the GPU cache is emptied after the failed pass's tensors are gone."""
    import torch
    import torch.nn.functional as F

    adapter = adapter_for(spec)
    network = run = values = camera = surface = None
    try:
        network = _placed(loaded, spec, device, dtype)
        run = _runner(loaded, network, device, keep_loaded)
        output = adapter.read_output(run(tensor.to(device=device, dtype=dtype)), (tensor.shape[-1], tensor.shape[-2]),
                                     known_camera)
        resampling = adapter.resampling

        def at_picture_size(map_):
            resized = F.interpolate(map_.float()[:, None], size[::-1], mode=resampling.mode,
                                    align_corners=resampling.align_corners)
            return resized[0, 0].cpu().numpy()

        values = at_picture_size(output.depth)
        camera = None if output.camera is None else output.camera.resized(*size)
        # A pixel of the picture has a surface where its resampled share of surface is the larger.
        surface = None if output.surface is None else at_picture_size(output.surface) >= 0.5
    except torch.cuda.OutOfMemoryError:  # torch.OutOfMemoryError only since 2.5
        pass  # the caller reports it; leaving this block frees the traceback's tensors first
    finally:
        kept = values is not None and keep_loaded and network is not loaded.network
        loaded.placed = network if kept else None
        if not kept:
            loaded.graphed = None
        del network, run
    if device.type != "cpu" and loaded.placed is None:
        _free_gpu_memory()
    return None if values is None else (values, camera, surface)


def _free_gpu_memory() -> None:
    try:
        from modules import devices

        devices.torch_gc()
    except ImportError:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
