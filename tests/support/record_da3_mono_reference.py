"""Records tests/depth/data/da3_mono_reference.* from the official Depth Anything 3 implementation:
the Mono-Large / Metric-Large architecture (a plain DINOv2, the DPT head with its sky output).

Installed as for tests/support/record_da3_reference.py (``depth-anything-3==0.1.1`` with
``--no-deps``, plus addict, omegaconf and einops), then:

    PYTHONPATH=. .venv/bin/python -m tests.support.record_da3_mono_reference

It writes, in float32:
- ``da3_mono_reference.safetensors``: a small network of the official classes built as the
  ``da3mono-large`` / ``da3metric-large`` configurations build theirs (``DinoV2`` without
  alternating blocks, camera token nor concatenated tokens; ``DPT`` with one output and the sky
  head), narrowed and shortened, with seeded random weights under the released ``model.`` keys;
  an input; and the official ``DepthAnything3Net`` output for it: the depth (after the network's
  own sky handling: the sky set to the 99th percentile of the rest) and the sky map.
- ``da3_mono_reference.json``: the full-size key names and shapes of the official Mono-Large
  network (what a released ``model.safetensors`` holds; Metric-Large's are the same, checked here).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from tests.support.depth_weights import layer_outputs, randomise

DATA = Path(__file__).resolve().parents[1] / "depth" / "data"
TINY = dict(embed_dim=32, depth=4, num_heads=2, tap_layers=(0, 1, 2, 3), grid=5, features=16,
            out_channels=(8, 16, 32, 32))
INPUT_HEIGHT, INPUT_WIDTH = 56, 98
SKY_SHARE = 0.3
"""The share of the input's pixels the rescaled sky output puts above the official threshold."""


def official_tiny_network():
    from depth_anything_3.model.da3 import DepthAnything3Net
    from depth_anything_3.model.dinov2.dinov2 import DinoV2
    from depth_anything_3.model.dinov2.vision_transformer import DinoVisionTransformer
    from depth_anything_3.model.dpt import DPT

    backbone = DinoV2("vits", list(TINY["tap_layers"]), -1, -1, -1, cat_token=False)
    backbone.pretrained = DinoVisionTransformer(
        img_size=TINY["grid"] * 14, patch_size=14, embed_dim=TINY["embed_dim"], depth=TINY["depth"],
        num_heads=TINY["num_heads"], alt_start=-1, qknorm_start=-1, rope_start=-1, cat_token=False,
    )
    head = DPT(TINY["embed_dim"], output_dim=1, features=TINY["features"], out_channels=TINY["out_channels"])
    return DepthAnything3Net(backbone, head)


def full_size_keys(config: str) -> dict[str, list[int]]:
    from depth_anything_3.cfg import create_object, load_config

    network = create_object(load_config(f"depth_anything_3.configs.{config}"))
    return {f"model.{key}": list(value.shape) for key, value in network.state_dict().items()}


def spread_outputs(network, image: torch.Tensor) -> None:
    """Rescale the last layers of both branches so that random weights give a log-depth of spread
    0.5 around 0 and a sky output above the official 0.3 on about ``SKY_SHARE`` of the pixels."""
    depth_layer, sky_layer = network.head.scratch.output_conv2[2], network.head.scratch.sky_output_conv2[2]
    captured = layer_outputs(network, image, {"log_depth": depth_layer, "sky": sky_layer})
    with torch.no_grad():
        log_depth = captured["log_depth"][:, 0]
        scale = 0.5 / log_depth.std()
        depth_layer.weight.mul_(scale)
        depth_layer.bias.copy_(depth_layer.bias * scale - log_depth.mean() * scale)
        sky = captured["sky"][:, 0]
        scale = 1.0 / sky.std()
        offset = 0.3 - torch.quantile(sky.flatten() * scale, 1 - SKY_SHARE)
        sky_layer.weight.mul_(scale)
        sky_layer.bias.copy_(sky_layer.bias * scale + offset)


def main() -> None:
    torch.manual_seed(0)
    network = randomise(official_tiny_network(), seed=51, std=0.1).eval()
    image = torch.randn(1, 1, 3, INPUT_HEIGHT, INPUT_WIDTH, generator=torch.Generator().manual_seed(52))
    spread_outputs(network, image)
    with torch.inference_mode():
        output = network(image)
    tensors = {f"model.{key}": value.contiguous() for key, value in network.state_dict().items()}
    tensors |= {"input": image[:, 0].contiguous(), "depth": output.depth[:, 0].contiguous(),
                "sky": output.sky[:, 0].contiguous()}
    DATA.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(DATA / "da3_mono_reference.safetensors"))
    mono = full_size_keys("da3mono-large")
    assert full_size_keys("da3metric-large") == mono, "Metric-Large's layout differs from Mono-Large's"
    facts = {"tiny": {key: list(value) if isinstance(value, tuple) else value for key, value in TINY.items()},
             "full_size_keys": mono}
    (DATA / "da3_mono_reference.json").write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")
    sky_share = float((output.sky >= 0.3).float().mean())
    print("depth range", float(output.depth.min()), float(output.depth.max()), "sky share", sky_share)


if __name__ == "__main__":
    np.seterr(all="raise")
    main()
