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
