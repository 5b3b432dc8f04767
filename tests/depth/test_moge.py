"""MoGe-2's camera recovery on point maps whose camera is known, and its checkpoints' layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lib_depth3d.depth.estimate import build_network, load_network
from lib_depth3d.depth.moge import (
    ConvStack,
    build_from_config,
    depth_and_camera,
    focal_from_fov_x,
    recover_focal_shift,
    view_plane_uv,
)
from lib_depth3d.depth.registry import MODELS, get_model
from lib_depth3d.depth.weights import read_checkpoint
from lib_depth3d.errors import WeightsError
from tests.support.depth_weights import write_random_checkpoint
from tests.support.moge_cases import (
    CASES, PICTURE_SIZE, RELEASED_VITL, VITL_HEAD, network, official_state_dict, picture, write_official_checkpoint,
)

HEIGHT, WIDTH = 30, 40


def pinhole_point_map(focal: float, shift: float, seed: int) -> np.ndarray:
    """(H, W, 3) points a camera of ``focal`` (relative to half the diagonal) sees at random
    depths in [1, 4], with ``shift`` subtracted from z (as MoGe's affine point maps)."""
    z = np.random.default_rng(seed).uniform(1, 4, (HEIGHT, WIDTH)).astype(np.float32)
    uv = view_plane_uv(WIDTH, HEIGHT, WIDTH / HEIGHT).numpy()
    return np.concatenate([uv * z[..., None] / focal, (z - shift)[..., None]], axis=-1).astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.4, 3.0), st.floats(-0.5, 0.5), st.integers(0, 2**16))
def test_focal_and_shift_of_a_pinhole_point_map_are_recovered(focal, shift, seed):
    points = torch.from_numpy(pinhole_point_map(focal, shift, seed))
    solved = recover_focal_shift(points, torch.ones(HEIGHT, WIDTH, dtype=torch.bool))
    assert solved.focal == pytest.approx(focal, rel=1e-5)
    assert solved.shift == pytest.approx(shift, abs=1e-5)


@settings(max_examples=20, deadline=None)
@given(st.floats(0.4, 3.0), st.floats(-0.5, 0.5), st.integers(0, 2**16))
def test_pixels_outside_the_mask_do_not_count(focal, shift, seed):
    points = pinhole_point_map(focal, shift, seed)
    valid = np.random.default_rng(seed + 1).random((HEIGHT, WIDTH)) < 0.6
    points[~valid] = np.random.default_rng(seed + 2).uniform(-50, 50, (int((~valid).sum()), 3))
    solved = recover_focal_shift(torch.from_numpy(points), torch.from_numpy(valid))
    assert solved.focal == pytest.approx(focal, rel=1e-5)
    assert solved.shift == pytest.approx(shift, abs=1e-5)


def test_a_known_field_of_view_fixes_the_focal_length_and_the_shift_is_solved():
    focal = focal_from_fov_x(60.0, WIDTH / HEIGHT)
    # Half the width in units of half the diagonal, over tan(30°).
    assert float(focal) == pytest.approx(0.8 / np.tan(np.radians(30)), rel=1e-6)
    points = torch.from_numpy(pinhole_point_map(float(focal), 0.3, seed=3))
    solved = recover_focal_shift(points, torch.ones(HEIGHT, WIDTH, dtype=torch.bool), focal)
    assert solved.focal == pytest.approx(float(focal), rel=1e-6)
    assert solved.shift == pytest.approx(0.3, abs=1e-5)


def test_without_two_valid_pixels_the_camera_is_moges_default():
    points = torch.from_numpy(pinhole_point_map(1.5, 0.2, seed=4))
    solved = recover_focal_shift(points, torch.zeros(HEIGHT, WIDTH, dtype=torch.bool))
    assert (solved.focal, solved.shift) == (1.0, 0.0)


def test_a_checkpoint_carrying_its_configuration_is_read_apart_from_its_tensors(tmp_path):
    path = write_official_checkpoint(tmp_path / "model.pt", "vits")
    checkpoint = read_checkpoint(path)
    assert checkpoint.config == CASES["vits"][0]
    assert checkpoint.state.keys() == official_state_dict("vits").keys()
    bare = read_checkpoint(write_random_checkpoint(tmp_path / "bare.pth"))
    assert bare.config is None and bare.state


def test_a_configuration_is_refused_for_a_network_built_without_one(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"model_config": CASES["vits"][0], "model": {"weight": torch.zeros(1)}}, path)
    with pytest.raises(WeightsError, match="model_config.*not of depth-anything-v2-small"):
        load_network(get_model("depth-anything-v2-small"), path)


def test_a_bare_state_dict_cannot_build_moge():
    with pytest.raises(WeightsError, match="model_config"):
        build_network(get_model("moge-2-vitl"))


PICKLE_OVERHEAD_MAX_BYTES = 300_000  # the archive's records for about 700 tensors, and the configuration


def test_the_published_vitl_normal_file_holds_the_released_network_and_its_normal_head():
    weight_file = next(file for file in MODELS["moge-2-vitl"].files if file.size_bytes)
    with torch.device("meta"):
        network = build_from_config(get_model("moge-2-vitl"), RELEASED_VITL)
        normal_head = ConvStack(**{**VITL_HEAD, "dim_out": [None, None, None, None, 3]})
    values = sum(tensor.numel() for part in (network, normal_head) for tensor in part.state_dict().values())
    assert round(values / 1e6) == 331  # the README's parameter count
    assert 0 < weight_file.size_bytes - 4 * values < PICKLE_OVERHEAD_MAX_BYTES


def test_half_precision_runs_and_gives_float32_depth_and_the_same_camera():
    """As on a GPU in float16: the antialiased resize and the exponentials run in float32."""
    full = network("vits")
    with torch.inference_mode():
        reference = depth_and_camera(full(picture("vits")), PICTURE_SIZE)
        output = full.half()(picture("vits").half())
    assert output.dtype == torch.float32
    half = depth_and_camera(output, PICTURE_SIZE)
    assert half.camera.focal_length_px[0] == pytest.approx(reference.camera.focal_length_px[0], rel=1e-2)
    assert torch.allclose(half.depth, reference.depth, rtol=1e-2, atol=0)
