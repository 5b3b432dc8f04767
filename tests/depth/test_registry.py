"""The registry describes the published files and the full-size networks match them."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from lib_depth3d.depth.estimate import build_network
from lib_depth3d.depth.midas import MidasDPT
from lib_depth3d.depth.registry import (
    ARCHITECTURES, DEFAULT_MODEL, MODELS, NET_SIZE_MEANINGS, adapter_for, get_model, net_size_help,
)
from lib_depth3d.errors import InputError

PICKLE_OVERHEAD_MAX_BYTES = 200_000  # torch.save's archive headers and tensor records
DA3_REFERENCE = Path(__file__).parent / "data" / "da3_reference.json"
# A released Depth Anything 3 file stores the aux head's shared output LayerNorm once.
DA3_TIED_IN_RELEASE = tuple(f"model.head.scratch.output_conv2_aux.{level}.2." for level in (1, 2, 3))


def test_default_model_is_registered_and_commercially_usable():
    assert DEFAULT_MODEL in MODELS
    assert not MODELS[DEFAULT_MODEL].non_commercial


def test_entries_are_complete():
    for name, spec in MODELS.items():
        assert spec.name == name
        relative_kind = "depth" if spec.architecture.startswith("depth_anything_3") else "disparity"
        assert spec.output_kind in ("metric", relative_kind) and (spec.max_depth is None or spec.output_kind == "metric")
        assert spec.canonical_focal_px is None or spec.output_kind == "metric"
        assert spec.input_size % adapter_for(spec).size_rule.multiple_of == 0
        assert spec.licence and spec.licence_url.startswith("https://")
        for weight_file in spec.files:
            assert weight_file.url.startswith(("https://huggingface.co/", "https://github.com/isl-org/"))
            assert weight_file.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", weight_file.sha256)
        names = [weight_file.filename for weight_file in spec.files]
        assert len(set(names)) == len(names)


def test_local_file_names_are_unique_across_models():
    names = [weight_file.filename for spec in MODELS.values() for weight_file in spec.files]
    assert len(set(names)) == len(names)


def test_base_and_large_depth_anything_are_marked_non_commercial():
    assert MODELS["depth-anything-v2-base"].non_commercial and MODELS["depth-anything-v2-large"].non_commercial
    assert not MODELS["midas-dpt-hybrid"].non_commercial


def test_midas_hashes_agree_with_the_prefix_in_their_file_names():
    for name in ("midas-dpt-large", "midas-dpt-hybrid"):
        weight_file = MODELS[name].files[0]
        prefix = re.search(r"-([0-9a-f]{8})\.pt$", weight_file.filename).group(1)
        assert weight_file.sha256.startswith(prefix)


@pytest.mark.parametrize("name", [name for name, spec in MODELS.items() if spec.files[0].size_bytes])
def test_full_size_network_has_the_published_file_size(name):
    """float32 parameters × 4 bytes + the pickle's (or safetensors header's) small overhead = the
    published byte count."""
    spec = MODELS[name]
    with torch.device("meta"):
        network = build_network(spec)
    values = sum(tensor.numel() for tensor in network.state_dict().values())
    if spec.architecture == "depth_anything_3":  # the release also holds what one picture never runs
        released = json.loads(DA3_REFERENCE.read_text())["full_size_keys"][spec.variant]
        values = sum(math.prod(shape) for key, shape in released.items() if not key.startswith(DA3_TIED_IN_RELEASE))
    if isinstance(network, MidasDPT):  # the checkpoints also hold timm's norm and classifier
        dim = network.config.embed_dim
        values += 2 * dim + 1000 * dim + 1000
    overhead = spec.files[0].size_bytes - 4 * values
    assert 0 < overhead < PICKLE_OVERHEAD_MAX_BYTES


def test_unknown_model_lists_the_choices():
    with pytest.raises(InputError, match="depth-anything-v2-small"):
        get_model("midas-v2")


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_the_net_size_help_says_each_architectures_size_rule(architecture):
    spec = next(spec for spec in MODELS.values() if spec.architecture == architecture)
    rule = adapter_for(spec).size_rule
    meaning = NET_SIZE_MEANINGS[architecture]
    assert (f"a multiple of {rule.multiple_of}" in meaning) == (rule.multiple_of > 1)
    assert ("longer side" in meaning) == rule.fit_longer_side
    assert ("shorter side" in meaning) == rule.keep_shorter_side_at_least


def test_the_net_size_help_gives_each_models_default():
    families = [part.split(" (")[0].split(" ") for part in net_size_help().split("; ")]
    for spec in MODELS.values():
        matching = [size for label, size in families
                    if spec.name == label or (label.endswith("*") and spec.name.startswith(label[:-1]))]
        assert matching == [str(spec.input_size)], spec.name
