"""Records tests/depth/data/da3_reference.* from the official Depth Anything 3 implementation.

The official package (``depth-anything-3==0.1.1``) cannot be a requirement: its dependencies pin
xformers, open3d and others that would replace the WebUI's torch. It was installed once with
``--no-deps`` (plus addict, omegaconf and einops for its model code) to run this script:

    .venv/bin/python -m pip install --no-deps depth-anything-3==0.1.1
    .venv/bin/python -m pip install addict omegaconf einops numpy==1.26.2
    .venv/bin/python -m pip install --no-deps --target /tmp/side imageio  # its input processor's import
    PYTHONPATH=.:/tmp/side .venv/bin/python -m tests.support.record_da3_reference

It writes, in float32:
- ``da3_reference.safetensors``: a small DA3 network of the official classes (DINOv2 with camera
  token, QK-norm and RoPE in its alternating blocks; the dual DPT head; camera encoder and
  decoder) with seeded random weights under the released ``model.`` keys, an input, and the
  official ``DepthAnything3Net`` output: depth and the 3×3 intrinsics of its camera decoder.
- ``da3_reference.json``: the full-size key names and shapes of the official Small and Base
  networks (what a released ``model.safetensors`` holds), and the official input processor's
  network sizes for a set of picture sizes at the default 504 px.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from tests.support.depth_weights import layer_outputs, randomise

DATA = Path(__file__).resolve().parents[1] / "depth" / "data"
TINY = dict(embed_dim=32, depth=6, num_heads=2, alternate_from=2, tap_layers=(2, 3, 4, 5), grid=5,
            features=16, out_channels=(8, 16, 32, 32))
INPUT_HEIGHT, INPUT_WIDTH = 56, 98
PICTURE_SIZES = [(640, 480), (480, 640), (1000, 750), (1920, 1080), (333, 777), (504, 504), (100, 81), (1003, 517)]


def official_tiny_network():
    from depth_anything_3.model.cam_dec import CameraDec
    from depth_anything_3.model.cam_enc import CameraEnc
    from depth_anything_3.model.da3 import DepthAnything3Net
    from depth_anything_3.model.dinov2.dinov2 import DinoV2
    from depth_anything_3.model.dinov2.vision_transformer import DinoVisionTransformer
    from depth_anything_3.model.dualdpt import DualDPT

    backbone = DinoV2("vits", list(TINY["tap_layers"]), TINY["alternate_from"], TINY["alternate_from"],
                      TINY["alternate_from"], cat_token=True)
    backbone.pretrained = DinoVisionTransformer(
        img_size=TINY["grid"] * 14, patch_size=14, embed_dim=TINY["embed_dim"], depth=TINY["depth"],
        num_heads=TINY["num_heads"], alt_start=TINY["alternate_from"], qknorm_start=TINY["alternate_from"],
        rope_start=TINY["alternate_from"], cat_token=True,
    )
    features = 2 * TINY["embed_dim"]
    head = DualDPT(features, output_dim=2, features=TINY["features"], out_channels=TINY["out_channels"])
    return DepthAnything3Net(backbone, head, CameraDec(features), CameraEnc(TINY["embed_dim"], num_heads=2))


class _Unchanged:
    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor


def official_sizes() -> list[list[int]]:
    """The official input processor's (width, height) for each picture size. Its sizes come from
    its OpenCV resizes alone; its module imports torchvision, which no wheel matching this torch
    provides, so its tensor conversion is given a stand-in of the same shapes."""
    import sys
    import types

    transforms = types.ModuleType("torchvision.transforms")
    # A class attribute of the processor: a plain function there would become a bound method.
    transforms.Normalize = lambda mean, std: _Unchanged()
    transforms.ToTensor = lambda: (lambda picture: torch.from_numpy(np.asarray(picture).transpose(2, 0, 1).copy()))
    sys.modules.setdefault("torchvision", types.ModuleType("torchvision")).transforms = transforms
    sys.modules["torchvision.transforms"] = transforms
    from depth_anything_3.utils.io.input_processor import InputProcessor

    processor, sizes = InputProcessor(), []
    for width, height in PICTURE_SIZES:
        picture = Image.new("RGB", (width, height))
        tensor, _, _ = processor([picture], process_res=504, process_res_method="upper_bound_resize", num_workers=1)
        sizes.append([width, height, tensor.shape[-1], tensor.shape[-2]])
    return sizes


def full_size_keys(config: str) -> dict[str, list[int]]:
    from depth_anything_3.cfg import create_object, load_config

    network = create_object(load_config(f"depth_anything_3.configs.{config}"))
    return {f"model.{key}": list(value.shape) for key, value in network.state_dict().items()}


def spread_outputs(network, image: torch.Tensor) -> None:
    """Rescale the two last linear layers so that random weights give a log-depth of spread 0.5
    around 0 and fields of view between about 0.6 and 1.4 rad: outputs for which agreement means
    something (unscaled, depth overflows and the ReLU'd fields of view are 0)."""
    depth_layer, fov_layer = network.head.scratch.output_conv2[2], network.cam_dec.fc_fov[0]
    captured = layer_outputs(network, image, {"log_depth": depth_layer, "fov": fov_layer})
    with torch.no_grad():
        log_depth = captured["log_depth"][:, 0]
        scale = 0.5 / log_depth.std()
        depth_layer.weight[0].mul_(scale)
        depth_layer.bias[0].copy_(depth_layer.bias[0] * scale - log_depth.mean() * scale)
        fov_variation = captured["fov"] - fov_layer.bias
        fov_layer.weight.mul_(0.3 / fov_variation.abs().max())
        fov_layer.bias.copy_(torch.tensor([0.9, 1.1]))


def main() -> None:
    torch.manual_seed(0)
    network = randomise(official_tiny_network(), seed=31, std=0.1).eval()
    image = torch.randn(1, 1, 3, INPUT_HEIGHT, INPUT_WIDTH, generator=torch.Generator().manual_seed(32))
    spread_outputs(network, image)
    with torch.inference_mode():
        output = network(image)
    # As in the released files: the aux head's four output LayerNorms are one module, stored once.
    tied = tuple(f"head.scratch.output_conv2_aux.{level}.2." for level in (1, 2, 3))
    tensors = {f"model.{key}": value.contiguous() for key, value in network.state_dict().items()
               if not key.startswith(tied)}
    tensors |= {"input": image[:, 0].contiguous(), "depth": output.depth[:, 0].contiguous(),
                "intrinsics": output.intrinsics[:, 0].contiguous()}
    DATA.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(DATA / "da3_reference.safetensors"))
    facts = {
        "tiny": {key: list(value) if isinstance(value, tuple) else value for key, value in TINY.items()},
        "full_size_keys": {"small": full_size_keys("da3-small"), "base": full_size_keys("da3-base")},
        "network_sizes_504": official_sizes(),
    }
    (DATA / "da3_reference.json").write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")
    print("depth range", float(output.depth.min()), float(output.depth.max()), "intrinsics", output.intrinsics[0, 0])


if __name__ == "__main__":
    np.seterr(all="raise")
    main()
