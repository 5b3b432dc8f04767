"""Random-initialised checkpoints of the real architectures, for tests without downloads.

``write_random_checkpoint(path, model)`` writes a full-size network of a registry model in the
official layout (``torch.save`` of the state dict, as released), so a test can call
``estimate_depth(picture, model, weights_path=path, input_size=70)`` and get real depth maps
from a real network, just with meaningless weights.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from lib_depth3d.depth.estimate import build_network
from lib_depth3d.depth.registry import DEFAULT_MODEL, MODELS, get_model


def layer_outputs(network: torch.nn.Module, image: torch.Tensor, layers: dict[str, torch.nn.Module]) -> dict:
    """What each of ``layers`` (named) outputs when ``network`` runs on ``image``."""
    captured = {}
    hooks = [layer.register_forward_hook(lambda module, inputs, output, key=key: captured.__setitem__(key, output))
             for key, layer in layers.items()]
    with torch.inference_mode():
        network(image)
    for hook in hooks:
        hook.remove()
    return captured


def randomise(network: torch.nn.Module, seed: int = 0, std: float = 0.05) -> torch.nn.Module:
    """Give every parameter deterministic random values (biases and norms included)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in sorted(network.named_parameters()):
            if name.endswith(("norm1.weight", "norm2.weight", "norm.weight", "gamma")) and parameter.ndim == 1:
                parameter.copy_(1.0 + std * torch.randn(parameter.shape, generator=generator))
            else:
                parameter.copy_(std * torch.randn(parameter.shape, generator=generator))
    return network


def write_random_checkpoint(path: str | Path, model: str = DEFAULT_MODEL, seed: int = 0) -> Path:
    """Write a random-initialised full-architecture checkpoint of ``model`` to ``path``."""
    network = randomise(build_network(get_model(model)), seed)
    path = Path(path)
    torch.save(network.state_dict(), path)
    return path


def accept_random_weights(monkeypatch, model: str) -> None:
    """Until the test ends, check ``model``'s files in the models folder for neither size nor
    SHA-256, so a random checkpoint under the published name is used as is (no download)."""
    spec = get_model(model)
    files = tuple(dataclasses.replace(weight_file, sha256=None, size_bytes=None) for weight_file in spec.files)
    monkeypatch.setitem(MODELS, model, dataclasses.replace(spec, files=files))


def write_official_da3_checkpoint(path: str | Path, model: str = "depth-anything-3-small", seed: int = 0,
                                  fields_of_view_rad: tuple[float, float] = (0.9, 1.2)) -> Path:
    """A full-size Depth Anything 3 Small or Base checkpoint with seeded random weights, saved as the
    release is (``model.safetensors``: ``model.`` keys, the camera encoder and aux ray head random
    too, the tied copies of the aux head's LayerNorm omitted), its camera decoder giving about
    ``fields_of_view_rad`` (vertical, horizontal)."""
    import json
    import math

    from safetensors.torch import save_file

    spec = get_model(model)
    network = randomise(build_network(spec), seed, std=0.02)
    with torch.no_grad():
        network.cam_dec.fc_fov[0].bias.copy_(torch.tensor(fields_of_view_rad))
    state = {f"model.{key}": value.contiguous() for key, value in network.state_dict().items()}
    released = json.loads((Path(__file__).parents[1] / "depth" / "data" / "da3_reference.json").read_text())
    tied = tuple(f"model.head.scratch.output_conv2_aux.{level}.2." for level in (1, 2, 3))
    generator = torch.Generator().manual_seed(seed + 1)
    for key, shape in released["full_size_keys"][spec.variant].items():
        if key not in state and not key.startswith(tied):
            state[key] = 0.02 * torch.randn(math.prod(shape), generator=generator).reshape(shape)
    path = Path(path)
    save_file(state, str(path))
    return path
