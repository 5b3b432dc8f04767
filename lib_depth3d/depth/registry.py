"""The table of depth models (architecture, input size, output kind, licence, weight files) and
the contract each network architecture's adapter fulfils.

An architecture is one module (``depth_anything_v2.py``, ``midas.py``) defining ``ADAPTER``, an
:class:`Adapter`: how a picture becomes the network's input, how the network is built and its
checkpoints loaded, and what its output gives. :data:`ARCHITECTURES` names each module; the
modules import torch, so they are imported only when a network runs (:func:`adapter_for`).
Adding a network is its module and its entries here.

SHA-256 values are the Git LFS object ids published on the files' Hugging Face pages (for the
MiDaS files, whose names carry the hash prefix, from LFS copies whose ids match that prefix).
Where the official page's id was not at hand, the comment beside the entry names the public
sources it was taken from (identical LFS ids, i.e. identical bytes, or pinned installers that
verify the official file). ``sha256=None`` marks a file whose hash could not be found in a
published source: the downloader refuses such a file unless the user explicitly accepts
unverified weights. docs/depth-models.md lists every source.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Literal

from lib_depth3d.depth.network_camera import NetworkCamera
from lib_depth3d.errors import InputError

if TYPE_CHECKING:
    import torch

OutputKind = Literal["disparity", "depth", "metric"]
"""Relative disparity (larger = nearer), relative z-depth (up to scale) or z-depth in metres."""

ARCHITECTURES: dict[str, str] = {
    "depth_anything_v2": "lib_depth3d.depth.depth_anything_v2",
    "depth_anything_3": "lib_depth3d.depth.depth_anything_3",
    "depth_anything_3_mono": "lib_depth3d.depth.depth_anything_3_mono",
    "midas_dpt": "lib_depth3d.depth.midas",
    "moge_2": "lib_depth3d.depth.moge",
}
"""Architecture name → the module whose ``ADAPTER`` runs it."""

NET_SIZE_MEANINGS: dict[str, str] = {
    "depth_anything_v2": "the shorter side at least this, a multiple of 14",
    "depth_anything_3": "the longer side, a multiple of 14",
    "depth_anything_3_mono": "the longer side, a multiple of 14",
    "midas_dpt": "the side needing the least change, a multiple of 32",
    "moge_2": "the shorter side, before the network resizes it to its own grid of about 3600 tokens",
}
"""What the network size (``--net-size``) sets, for each architecture: its adapter's size rule in words."""


@dataclass(frozen=True)
class SizeRule:
    """How a picture is resized for a network (aspect ratio kept, each side a multiple of
    ``multiple_of`` pixels). ``keep_shorter_side_at_least``: the shorter side becomes at least the
    network size (Depth Anything's "lower bound"); ``fit_longer_side``: the longer side becomes the
    network size (Depth Anything 3's "upper bound"); otherwise the scale closer to 1 of the two that
    fit one side to the network size wins (transformers' DPT "minimal")."""

    multiple_of: int
    keep_shorter_side_at_least: bool
    fit_longer_side: bool = False

    def __post_init__(self) -> None:
        if self.keep_shorter_side_at_least and self.fit_longer_side:
            raise ValueError("A size rule keeps the shorter side at least the network size or fits the longer "
                             "one, not both.")


@dataclass(frozen=True)
class Normalisation:
    """Per-channel mean and standard deviation of RGB in [0, 1]: input = (rgb − mean) / std."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]


@dataclass(frozen=True)
class Resampling:
    """How the network's depth is resized to the picture (``torch.nn.functional.interpolate``)."""

    mode: Literal["bilinear", "bicubic"]
    align_corners: bool


@dataclass(frozen=True)
class NetworkOutput:
    """What one forward pass gives, at the network's resolution.

    ``depth``: (B, h, w) float tensor of the model's output kind (relative disparity or metres).
    ``camera``: the camera of the network's input image, for networks that estimate one.
    ``surface``: (B, h, w) bool, False where the network sees no surface (the sky of Depth
    Anything 3 Mono/Metric-Large), for networks that say; the depth there is only a stand-in.
    """

    depth: torch.Tensor
    camera: NetworkCamera | None = None
    surface: torch.Tensor | None = None


def depth_only(output: torch.Tensor, input_size_px: tuple[int, int],
               known_camera: NetworkCamera | None = None) -> NetworkOutput:
    """The :attr:`Adapter.read_output` of a network whose forward pass returns the depth alone."""
    return NetworkOutput(output)


@dataclass(frozen=True)
class Adapter:
    """How to run one network architecture.

    ``build(spec)``: the network of a registered model, uninitialised, in evaluation mode (it is
    built on the meta device and the checkpoint's tensors assigned). ``to_own_layout(state)``: a
    checkpoint's state dict in any layout the architecture accepts, renamed to the network's own
    parameter names, parts it never runs removed (the strict load follows).
    ``read_output(output, input_size_px, known_camera)``: the forward pass's result as a
    :class:`NetworkOutput` (``input_size_px``: the (width, height) the network saw, for a camera in
    its pixels; ``known_camera``: the picture's camera when the user gave one, in those pixels, or
    None: MoGe-2 then solves only for its shift).
    ``build_from_config(spec, config)``: for architectures whose checkpoints carry their network's
    configuration (MoGe's ``model.pt``: ``{'model_config': …, 'model': …}``), the network that
    configuration describes, built as ``build`` builds; None where checkpoints are bare state dicts.
    """

    size_rule: SizeRule
    normalisation: Normalisation
    resampling: Resampling
    build: Callable[[ModelSpec], torch.nn.Module]
    to_own_layout: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]
    read_output: Callable[[torch.Tensor, tuple[int, int], NetworkCamera | None], NetworkOutput] = depth_only
    build_from_config: Callable[[ModelSpec, dict], torch.nn.Module] | None = None


@dataclass(frozen=True)
class WeightFile:
    """One published weight file, saved locally as ``filename``. ``layout``: ``original`` (the
    authors' state dict names) or ``hf`` (the Hugging Face transformers names);
    ``size_bytes``/``sha256`` None when unknown."""

    filename: str
    url: str
    layout: Literal["original", "hf"]
    sha256: str | None
    size_bytes: int | None
    size_label: str


@dataclass(frozen=True)
class ModelSpec:
    """A depth model users can choose.

    ``architecture``: a key of :data:`ARCHITECTURES`. ``variant``: the architecture's size, as
    its module names them (``small``/``base``/``large`` for Depth Anything V2,
    ``large``/``hybrid`` for MiDaS DPT). ``input_size``: the default processing size in pixels
    (shorter side for Depth Anything V2, a multiple of 14; the side of the ``minimal`` resize
    for MiDaS, a multiple of 32). ``max_depth``: metres the metric head spans (None for
    relative models). ``canonical_focal_px``: for a metric network trained on one canonical camera
    (Depth Anything 3 Metric-Large: 300), the focal length in pixels its raw output is metres for:
    metres = raw × focal / canonical focal, with the focal length of the picture's camera at the
    network's input. ``files``: the first is the one downloaded; the others are accepted when
    present.
    """

    name: str
    title: str
    architecture: str
    variant: str
    input_size: int
    output_kind: OutputKind
    licence: str
    licence_url: str
    files: tuple[WeightFile, ...]
    max_depth: float | None = None
    canonical_focal_px: float | None = None

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"Model {self.name!r} names the unknown architecture {self.architecture!r}; "
                f"register its module in ARCHITECTURES (known: {', '.join(ARCHITECTURES)})."
            )

    @property
    def non_commercial(self) -> bool:
        return "NC" in self.licence


def adapter_for(spec: ModelSpec) -> Adapter:
    """The adapter of ``spec``'s architecture (imports its module, and so torch)."""
    return importlib.import_module(ARCHITECTURES[spec.architecture]).ADAPTER


_HF = "https://huggingface.co"
_APACHE = ("Apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0")
_CC_BY_NC = ("CC BY-NC 4.0 (non-commercial use only)", "https://creativecommons.org/licenses/by-nc/4.0/")
_MIT = ("MIT", "https://github.com/isl-org/MiDaS/blob/master/LICENSE")


def _da_file(repo: str, filename: str, sha256: str | None, size_bytes: int | None, size_label: str) -> WeightFile:
    return WeightFile(filename, f"{_HF}/depth-anything/{repo}/resolve/main/{filename}", "original", sha256, size_bytes, size_label)


def _da_hf_file(repo: str, sha256: str | None, size_label: str) -> WeightFile:
    """A -hf repository's transformers-layout copy, saved under its own name (every -hf repository
    calls its file model.safetensors). Without a published hash it is accepted when the user
    places it; it is never downloaded (the original is)."""
    url = f"{_HF}/depth-anything/{repo}-hf/resolve/main/model.safetensors"
    return WeightFile(f"{repo.lower()}-hf.safetensors", url, "hf", sha256, None, size_label)


def _depth_anything(
    name: str,
    title: str,
    variant: str,
    licence: tuple[str, str],
    files: tuple[WeightFile, ...],
    max_depth: float | None = None,
) -> ModelSpec:
    return ModelSpec(
        name=name,
        title=title,
        architecture="depth_anything_v2",
        variant=variant,
        input_size=518,
        output_kind="disparity" if max_depth is None else "metric",
        licence=licence[0],
        licence_url=licence[1],
        files=files,
        max_depth=max_depth,
    )


_METRIC_TRAINING = {
    # setting: (the repositories' dataset name, the files' dataset tag, what the title says, metres spanned)
    "indoor": ("Hypersim", "hypersim", "Hypersim, metres, up to 20 m", 20.0),
    "outdoor": ("VKITTI", "vkitti", "Virtual KITTI 2, metres, up to 80 m", 80.0),
}
_SIZE_LABELS = {"small": "99.2 MB", "base": "390 MB", "large": "1.34 GB"}


def _metric(setting: str, variant: str, sha256: str, size_bytes: int) -> ModelSpec:
    """A metric Depth Anything V2 model (Apache-2.0), named and filed as its authors publish them."""
    dataset, tag, span, max_depth = _METRIC_TRAINING[setting]
    repo = f"Depth-Anything-V2-Metric-{dataset}-{variant.title()}"
    filename = f"depth_anything_v2_metric_{tag}_vit{variant[0]}.pth"
    return _depth_anything(
        f"depth-anything-v2-metric-{setting}-{variant}",
        f"Depth Anything V2 Metric {setting.title()} {variant.title()} ({span})",
        variant,
        _APACHE,
        (_da_file(repo, filename, sha256, size_bytes, _SIZE_LABELS[variant]),),
        max_depth=max_depth,
    )


def _da3(variant: str, title: str, revision: str, sha256: str, size_bytes: int, size_label: str) -> ModelSpec:
    """A Depth Anything 3 model (Apache-2.0: Small, Base) as its authors publish it, at the Hub
    revision the hash was published for. Relative z-depth and a camera at 504 px (the API's default)."""
    repo = f"DA3-{variant.upper()}"
    url = f"{_HF}/depth-anything/{repo}/resolve/{revision}/model.safetensors"
    return ModelSpec(
        name=f"depth-anything-3-{variant}", title=title, architecture="depth_anything_3", variant=variant,
        input_size=504, output_kind="depth", licence=_APACHE[0], licence_url=_APACHE[1],
        # Every DA3 repository calls its file model.safetensors: saved under the repository's name.
        files=(WeightFile(f"{repo.lower()}.safetensors", url, "original", sha256, size_bytes, size_label),),
    )


def _da3_large(variant: str, title: str, output_kind: OutputKind, canonical_focal_px: float | None) -> ModelSpec:
    """Depth Anything 3 Mono-Large or Metric-Large (ViT-L, sky output, no camera) as its authors
    publish it. Their model cards give Apache-2.0 (unlike DA3-Large and Giant, CC BY-NC 4.0)."""
    repo = f"DA3{variant.upper()}"
    url = f"{_HF}/depth-anything/{repo}/resolve/main/model.safetensors"
    return ModelSpec(
        name=f"depth-anything-3-{variant}", title=title, architecture="depth_anything_3_mono", variant=variant,
        input_size=504, output_kind=output_kind, licence=_APACHE[0], licence_url=_APACHE[1],
        # No published SHA-256 or size was found: downloaded only with --allow-unverified. The label
        # is the parameter count (334M) in float32.
        files=(WeightFile(f"{repo.lower()}.safetensors", url, "original", None, None, "1.34 GB"),),
        canonical_focal_px=canonical_focal_px,
    )


def _dpt_release_file(filename: str, sha256: str, size_bytes: int, size_label: str) -> WeightFile:
    """A MiDaS v3.0 checkpoint as the DPT repository's 1_0 release publishes it."""
    url = f"https://github.com/isl-org/DPT/releases/download/1_0/{filename}"
    return WeightFile(filename, url, "original", sha256, size_bytes, size_label)


def _midas(variant: str, title: str, *files: WeightFile) -> ModelSpec:
    """A MiDaS v3.0 DPT model (MIT, relative disparity at 384 px)."""
    return ModelSpec(name=f"midas-dpt-{variant}", title=title, architecture="midas_dpt", variant=variant,
                     input_size=384, output_kind="disparity", licence=_MIT[0], licence_url=_MIT[1], files=files)


_MOGE_MIT = ("MIT", "https://github.com/microsoft/MoGe/blob/main/LICENSE")


def _moge_file(repo: str, sha256: str | None, size_bytes: int | None, size_label: str) -> WeightFile:
    """A MoGe-2 release (every repository calls its file model.pt), saved under the repository's name."""
    return WeightFile(f"{repo}.pt", f"{_HF}/Ruicheng/{repo}/resolve/main/model.pt", "original", sha256, size_bytes,
                      size_label)


def _moge_2(variant: str, title: str, *files: WeightFile) -> ModelSpec:
    """A MoGe-2 model (MIT): metric depth and the camera's focal length. ``input_size``: the shorter
    side the picture is given at; the network resizes it to its own grid of about 3600 tokens."""
    return ModelSpec(name=f"moge-2-{variant}", title=title, architecture="moge_2", variant=variant, input_size=840,
                     output_kind="metric", licence=_MOGE_MIT[0], licence_url=_MOGE_MIT[1], files=files)


_MODELS = (
    _depth_anything(
        "depth-anything-v2-small",
        "Depth Anything V2 Small (relative, fast)",
        "small",
        _APACHE,
        (
            _da_file("Depth-Anything-V2-Small", "depth_anything_v2_vits.pth",
                     "715fade13be8f229f8a70cc02066f656f2423a59effd0579197bbf57860e1378", 99218434, "99.2 MB"),
            _da_hf_file("Depth-Anything-V2-Small", "3152477ce0d8d6978d76b995120de97cb5b928701fd0f817769f59e249a16b70",
                        "99.2 MB"),
        ),
    ),
    _depth_anything(
        "depth-anything-v2-base",
        "Depth Anything V2 Base (relative)",
        "base",
        _CC_BY_NC,
        (
            _da_file("Depth-Anything-V2-Base", "depth_anything_v2_vitb.pth",
                     "0d2b7002e62d39d655571c371333340bd88f67ab95050c03591555aa05645328", 389961218, "390 MB"),
            _da_hf_file("Depth-Anything-V2-Base", None, "390 MB"),
        ),
    ),
    _depth_anything(
        "depth-anything-v2-large",
        "Depth Anything V2 Large (relative, best)",
        "large",
        _CC_BY_NC,
        # LFS id of identical copies (huggingface.co/scenario-labs/depth, simon123905/ShadowDiffusion
        # commit c3cf4f8) and the pinned installer capsuleutkarsh-design/UTVFX_AI_VFX_Suit first_setup.py.
        (
            _da_file("Depth-Anything-V2-Large", "depth_anything_v2_vitl.pth",
                     "a7ea19fa0ed99244e67b624c72b8580b7e9553043245905be58796a608eb9345", 1341395338, "1.34 GB"),
            _da_hf_file("Depth-Anything-V2-Large", None, "1.34 GB"),
        ),
    ),
    # Metric indoor small: from installers pinned to revision 3bc65d4
    # (capsuleutkarsh-design/UTVFX_AI_VFX_Suit first_setup.py).
    _metric("indoor", "small", "b782898d8a3e8be1f639de33837ed85e9b4b73e40f8f5e5cd99067588d722545", 99222290),
    _metric("indoor", "base", "9dc9e274c5eff55c6daf27b660c0ced0eca4e8593a6da90cdcb04d2b4d3f3fa2", 389965138),
    _metric("indoor", "large", "6f82ff2bc543ac02ddff4aa31fa363676a8305dd3ccf04e80e2af115a044cb6d", 1341401882),
    _metric("outdoor", "small", "9203e538d35255c90dda4b7fedb47ff33fe725497bcca3b1e53b3a65ee63f0cb", 99221808),
    _metric("outdoor", "base", "4dad67a7cc10b462bca48e6b8569c762b8eb3c1adada170a3851a6d3ba37bb3e", 389964656),
    _metric("outdoor", "large", "239b1054a369e66da2576e9a118d6d7c12d90dc8ebe609579a9a09cd8e05fe38", 1341401064),
    # DA3 SHA-256 and sizes: pinned installers that verify the official file at these revisions
    # (Small: an AI4TJU reconstruction setup script, revision e08cab65; Base: the Monocle app's
    # bundle-python.mjs, "resolved from the Hugging Face API for this exact commit", f4a6c9b3).
    _da3("small", "Depth Anything 3 Small (relative depth + camera, fast)", "e08cab65ca0ec38e7826075418411ab90cab4da3",
         "364492e38a3a06d221ac75da7f6621ada3f2361cd24fde11ba79091e9f40efcf", 137248940, "137 MB"),
    _da3("base", "Depth Anything 3 Base (relative depth + camera)", "f4a6c9b3c95e41c82048423d3493a81ec3fa810e",
         "e01067dc1659613083d9145a9a2547ccdbe6ccbbf83c4fe7b3e8a4e2bdae78b5", 541518028, "542 MB"),
    _da3_large("mono-large", "Depth Anything 3 Mono-Large (relative depth, sky removed)", "depth", None),
    _da3_large("metric-large", "Depth Anything 3 Metric-Large (metres from the camera's focal length, sky removed)",
               "metric", 300.0),
    _midas(
        "large", "MiDaS v3.0 DPT-Large (relative)",
        _dpt_release_file("dpt_large-midas-2f21e586.pt",
                          "2f21e586477d90cb9624c7eef5df7891edca49a1c4795ee2cb631fd4daa6ca69", 1376378527, "1.38 GB"),
    ),
    _midas(
        "hybrid", "MiDaS v3.0 DPT-Hybrid (relative; ControlNet depth_midas, SD 2 depth)",
        _dpt_release_file("dpt_hybrid-midas-501f0c75.pt",
                          "501f0c75b3bca7daec6b3682c5054c09b366765aef6fa3a09d03a5cb4b230853", 492757791, "493 MB"),
        # transformers' conversion. SHA-256: the LFS id on huggingface.co/Intel/dpt-hybrid-midas/blob/
        # refs%2Fpr%2F5/model.safetensors (the safetensors pull request), also pinned on main by others.
        WeightFile("dpt-hybrid-midas-hf.safetensors", f"{_HF}/Intel/dpt-hybrid-midas/resolve/main/model.safetensors",
                   "hf", "9599793d3ce64d7ebc85657360831596c1df9abc61f6820fe623fe7efb2e29c5", None, "490 MB"),
    ),

    # MoGe-2: no published SHA-256 was found for the authors' files (sha256=None: downloaded only with
    # --allow-unverified). ViT-S and ViT-B are released with a normal head only ("-normal"), which is
    # not run. The ViT-L "-normal" file's size and SHA-256 are those stated for its byte-for-byte copy
    # huggingface.co/Azng0/autoshade-mirror-moge-2-vitl-normal (revision cb0e8bb of the original).
    # Size labels: the README's parameter counts (35M, 104M, 326M) in float32.
    _moge_2("vits", "MoGe-2 ViT-S (metric depth and camera, fast)", _moge_file("moge-2-vits-normal", None, None, "140 MB")),
    _moge_2("vitb", "MoGe-2 ViT-B (metric depth and camera)", _moge_file("moge-2-vitb-normal", None, None, "416 MB")),
    _moge_2(
        "vitl", "MoGe-2 ViT-L (metric depth and camera, best)",
        _moge_file("moge-2-vitl", None, None, "1.30 GB"),
        _moge_file("moge-2-vitl-normal", "280741fd09bc3f403ccff9967784c2a391b52d2c0742ae3efdb21d9f90cc1a01", 1323815904,
                   "1.32 GB"),
    ),
)

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in _MODELS}
DEFAULT_MODEL = "depth-anything-v2-small"


def net_size_help() -> str:
    """Each model family's default network size and what the number sets, for ``--net-size``."""
    families: dict[tuple[int, str], list[str]] = {}
    for spec in MODELS.values():
        families.setdefault((spec.input_size, NET_SIZE_MEANINGS[spec.architecture]), []).append(spec.name)
    parts = []
    for (size, meaning), names in families.items():
        label = names[0] if len(names) == 1 else names[0][: len(_common_prefix(names))] + "*"
        parts.append(f"{label} {size} ({meaning})")
    return "; ".join(parts)


def _common_prefix(names: list[str]) -> str:
    prefix = names[0]
    for name in names[1:]:
        while not name.startswith(prefix):
            prefix = prefix[:-1]
    return prefix


def get_model(name: str) -> ModelSpec:
    """The spec named ``name``; :class:`~lib_depth3d.errors.InputError` listing the choices otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise InputError(f"Unknown depth model {name!r}. Choose one of: {', '.join(MODELS)}.") from None
