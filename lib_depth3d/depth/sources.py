"""Every way to get a depthmap for a picture, as typed values parsed once at each entry point.

A *depth source* is one of:

* :class:`NetworkDepth` — one of our registry networks, with how to run it;
* :class:`ControlNetDepth` — a depth preprocessor of ControlNet in the same WebUI;
* :class:`UserDepth` — a depth picture (near = bright), ``.exr`` or ``.npy`` the user supplies.

Entry points hold a source *name* (``depth-anything-v2-small``, ``controlnet:depth_midas``,
``depth-image``); :func:`parse_depth_source` is the one place such a name is classified. Each
source then knows how to check its settings against a picture size, make sure its weights are at
hand (:meth:`NetworkDepth.check_weights`), estimate, and name its licence, so no caller branches
on the kind of source.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

from lib_depth3d.depth.weights_advice import MODELS_FOLDER_ADVICE
from lib_depth3d.errors import InputError
from lib_depth3d.progress import Progress

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from lib_depth3d.depth.depthmap import DepthKind, DepthMap, DepthWithCamera
    from lib_depth3d.depth.network_camera import NetworkCamera
    from lib_depth3d.depth.registry import ModelSpec

CONTROLNET_PREFIX = "controlnet:"
USER_DEPTH_IMAGE = "depth-image"
CONTROLNET_NOTE = "Licence: that of ControlNet's own preprocessor weights (see the ControlNet of this WebUI)."
NON_COMMERCIAL = "non-commercial use only"



@dataclass(frozen=True)
class Licence:
    """A weights licence: its name, where to read it, and whether it forbids commercial use."""

    name: str
    url: str
    non_commercial: bool

    def markdown(self) -> str:
        """``Licence: [name](url)``, saying "non-commercial use only" when the name does not."""
        text = f"Licence: [{self.name}]({self.url})"
        if self.non_commercial and NON_COMMERCIAL not in self.name.lower():
            text += f" — {NON_COMMERCIAL}"
        return text


def model_licence(spec: ModelSpec) -> Licence:
    """The licence of a registry model's weights."""
    return Licence(spec.licence, spec.licence_url, spec.non_commercial)


@dataclass(frozen=True)
class NetworkDepth:
    """One of our depth networks and how to run it.

    Attributes:
        model: the registry entry.
        input_size: the network's processing size in pixels (None: the model's own).
        weights_path: a weight file to use instead of the models folder (not hash-checked).
        models_folder: where weights are looked for and downloaded (None: the default folder).
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (None: the best available, or A1111's).
        keep_loaded: keep the network's GPU copy for the next call.
        cpu_bf16: on the CPU, run the network in bfloat16 (see docs/depth-models.md).
        download_missing, allow_unverified: see :func:`lib_depth3d.depth.estimate.weights_for`.
        weights_advice: the sentence a missing-weights message ends with, telling the user how to
            use a file kept elsewhere where that message is shown (the command line's
            ``--weights``, the WebUI's setting: :mod:`lib_depth3d.depth.weights`' ``*_ADVICE``).
    """

    model: ModelSpec
    input_size: int | None = None
    weights_path: Path | None = None
    models_folder: Path | None = None
    device: str | None = None
    keep_loaded: bool = False
    cpu_bf16: bool = False
    download_missing: bool = True
    allow_unverified: bool = False
    weights_advice: str = MODELS_FOLDER_ADVICE

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def licence(self) -> Licence:
        return model_licence(self.model)

    def licence_markdown(self) -> str:
        return self.licence.markdown()

    def check(self, width_px: int, height_px: int) -> None:
        """Refuse a network size the model cannot take for a picture of this size (before any work)."""
        from lib_depth3d.depth.estimate import network_size

        network_size(width_px, height_px, self.model, self.input_size)

    def check_weights(self, progress: Progress | None = None) -> Path:
        """The weight file, found and verified (downloaded first when missing and allowed),
        without running the network: an entry point calls it before any long work, so missing,
        damaged or unverifiable weights stop the job at once with :class:`WeightsError`."""
        from lib_depth3d.depth.estimate import weights_for

        return weights_for(self.model, self.weights_path, models_folder=self.models_folder,
                           download_missing=self.download_missing, allow_unverified=self.allow_unverified,
                           progress=progress, advice=self.weights_advice)

    def mask_nearness(self, picture: Image.Image, progress: Progress | None = None) -> np.ndarray:
        """Nearness in [0, 1] (1 = nearest) that a mask band refers to: the estimate, normalised."""
        return self.estimate(picture, progress).nearness()

    def estimate(self, picture: Image.Image, progress: Progress | None = None) -> DepthMap:
        return self.estimate_with_camera(picture, progress).depth

    def estimate_with_camera(self, picture: Image.Image, progress: Progress | None = None,
                             known_camera: NetworkCamera | None = None) -> DepthWithCamera:
        """The depth and, from a network that estimates one, the picture's camera. ``known_camera``:
        the picture's camera when the user gave one (see :func:`~lib_depth3d.depth.estimate.estimate_depth_and_camera`)."""
        from lib_depth3d.depth.estimate import estimate_depth_and_camera

        return estimate_depth_and_camera(
            picture, self.model.name, weights_path=self.weights_path, models_folder=self.models_folder,
            device=self.device, progress=progress, input_size=self.input_size, keep_loaded=self.keep_loaded,
            download_missing=self.download_missing, allow_unverified=self.allow_unverified,
            weights_advice=self.weights_advice, known_camera=known_camera, cpu_bf16=self.cpu_bf16,
        )


@dataclass(frozen=True)
class ControlNetDepth:
    """A depth preprocessor of ControlNet (``depth_midas``, …), run in the same WebUI.

    ``resolution``: the preprocessor's resolution in pixels; ``slider_1`` … ``slider_3``: its
    other settings (None: the preprocessor's own defaults).
    """

    preprocessor: str
    resolution: int | None = None
    slider_1: float | None = None
    slider_2: float | None = None
    slider_3: float | None = None

    @property
    def name(self) -> str:
        return CONTROLNET_PREFIX + self.preprocessor

    @property
    def licence(self) -> None:
        return None

    def licence_markdown(self) -> str:
        return CONTROLNET_NOTE

    def check(self, width_px: int, height_px: int) -> None:
        from lib_depth3d.depth.controlnet import checked_settings

        checked_settings(self.preprocessor, self.resolution, self.slider_1, self.slider_2, self.slider_3)

    def check_weights(self, progress: Progress | None = None) -> None:
        """Nothing to check beforehand: ControlNet finds and downloads its preprocessors' models
        itself when they first run."""

    def mask_nearness(self, picture: Image.Image, progress: Progress | None = None) -> np.ndarray:
        """Nearness in [0, 1] (1 = nearest) that a mask band refers to: the estimate, normalised."""
        return self.estimate(picture, progress).nearness()

    def estimate(self, picture: Image.Image, progress: Progress | None = None) -> DepthMap:
        from lib_depth3d.depth.controlnet import controlnet_depth

        return controlnet_depth(picture, self.preprocessor, resolution=self.resolution, slider_1=self.slider_1,
                                slider_2=self.slider_2, slider_3=self.slider_3, progress=progress)

    def estimate_with_camera(self, picture: Image.Image, progress: Progress | None = None,
                             known_camera: NetworkCamera | None = None) -> DepthWithCamera:
        """The depth; ControlNet's preprocessors estimate no camera and take none."""
        from lib_depth3d.depth.depthmap import DepthWithCamera

        return DepthWithCamera(self.estimate(picture, progress))


@dataclass(frozen=True)
class UserDepth:
    """A depth the user supplies: a depth picture (near = bright) or a file (``.exr`` or ``.npy``
    values of ``kind``, or a depth PNG). ``kind`` None: the kind the file's header names
    (``disparity`` when it names none). None until the user gives one: estimating then says what to do."""

    depth: Image.Image | Path | None
    kind: DepthKind | None = None

    name = USER_DEPTH_IMAGE
    licence = None

    def licence_markdown(self) -> str:
        return ""

    def check(self, width_px: int, height_px: int) -> None:
        if self.depth is None:
            raise InputError("The depth-image source needs a depth image (near = bright), or an .exr or .npy file.")

    def check_weights(self, progress: Progress | None = None) -> None:
        """A depth the user gives needs no weights."""

    def estimate(self, picture: Image.Image, progress: Progress | None = None) -> DepthMap:
        return self.estimate_with_camera(picture, progress).depth

    def estimate_with_camera(self, picture: Image.Image, progress: Progress | None = None,
                             known_camera: NetworkCamera | None = None) -> DepthWithCamera:
        """The depth (a known camera changes nothing), and the camera its file's header records, which must have the picture's size:
        a depth of another size is refused rather than silently resampled (its edges would no longer
        meet the picture's)."""
        from lib_depth3d.depth.depthmap import DepthWithCamera, depth_image_depth, load_depth_file
        from PIL import Image

        self.check(picture.width, picture.height)
        if isinstance(self.depth, Image.Image):
            result = DepthWithCamera(depth_image_depth(self.depth, "The depth image"))
        else:
            result = load_depth_file(self.depth, self.kind)
        if (result.depth.width, result.depth.height) != picture.size:
            raise InputError(
                f"The depth image is {result.depth.width}×{result.depth.height} but the picture is "
                f"{picture.width}×{picture.height}; give the depth at the picture's size."
            )
        return result

    def mask_nearness(self, picture: Image.Image, progress: Progress | None = None) -> np.ndarray:
        """The depth picture's grey levels as nearness in [0, 1], not renormalised: a band chosen
        on that picture refers to them. At the depth picture's own size (the mask resizes it)."""
        from lib_depth3d.depth.depthmap import depth_image_nearness
        from lib_depth3d.files import open_depth_picture
        from PIL import Image

        self.check(0, 0)
        return depth_image_nearness(self.depth if isinstance(self.depth, Image.Image) else open_depth_picture(self.depth))


DepthSource = Union[NetworkDepth, ControlNetDepth, UserDepth]


def parse_depth_source(
    name: str,
    *,
    depth: Image.Image | str | os.PathLike | None = None,
    kind: DepthKind | None = None,
    input_size: int | None = None,
    weights_path: str | os.PathLike | None = None,
    models_folder: str | os.PathLike | None = None,
    device: str | None = None,
    keep_loaded: bool = False,
    download_missing: bool = True,
    allow_unverified: bool = False,
    weights_advice: str = MODELS_FOLDER_ADVICE,
) -> DepthSource:
    """The depth source a name stands for, with the options that apply to it.

    ``input_size`` is the network's processing size, and a ControlNet preprocessor's resolution;
    ``depth``/``kind`` are the user's depth for ``depth-image``; ``weights_advice``: see
    :class:`NetworkDepth`. Raises :class:`InputError`
    listing the choices for an unknown name.
    """
    if name == USER_DEPTH_IMAGE:
        from PIL import Image

        return UserDepth(depth if depth is None or isinstance(depth, Image.Image) else Path(depth), kind)
    if name.startswith(CONTROLNET_PREFIX):
        return ControlNetDepth(name[len(CONTROLNET_PREFIX):], input_size)
    from lib_depth3d.depth.registry import MODELS, get_model

    if name not in MODELS:
        raise InputError(f"Unknown depth model {name!r}. Choose one of: {', '.join(available_sources())}.")
    return NetworkDepth(
        get_model(name), input_size=input_size,
        weights_path=None if weights_path is None else Path(weights_path),
        models_folder=None if models_folder is None else Path(models_folder),
        device=device, keep_loaded=keep_loaded, download_missing=download_missing,
        allow_unverified=allow_unverified, weights_advice=weights_advice,
    )


def estimator_sources() -> list[str]:
    """The sources that estimate depth from the picture alone: our models, then ControlNet's depth
    preprocessors when that extension is loaded."""
    from lib_depth3d.depth.controlnet import depth_preprocessors
    from lib_depth3d.depth.registry import MODELS

    return [*MODELS, *(CONTROLNET_PREFIX + name for name in depth_preprocessors())]


def available_sources() -> list[str]:
    """:func:`estimator_sources`, then the user-supplied depth image."""
    return [*estimator_sources(), USER_DEPTH_IMAGE]
