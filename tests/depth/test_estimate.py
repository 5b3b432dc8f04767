"""estimate_depth on real full-size architectures with random weights: picture modes, sizes,
kinds, the model cache and concurrent calls."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from lib_depth3d.depth import estimate as estimate_module
from lib_depth3d.depth.estimate import MAX_NETWORK_SIDE, estimate_depth, estimate_depth_and_camera, network_size
from lib_depth3d.depth.registry import MODELS, adapter_for
from lib_depth3d.errors import DepthSourceError, InputError, WeightsError
from lib_depth3d.files import open_image
from tests.support.depth_weights import write_random_checkpoint

NET = 70


@pytest.fixture(scope="module")
def small_weights(tmp_path_factory):
    return write_random_checkpoint(tmp_path_factory.mktemp("w") / "small.pth", "depth-anything-v2-small", seed=31)


def rgb_picture(width=96, height=72, seed=32) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((height, width, 3)) * 255).astype(np.uint8), "RGB")


def estimate(picture, weights, model="depth-anything-v2-small"):
    return estimate_depth(picture, model, weights_path=weights, device="cpu", input_size=NET)


def test_output_at_picture_size_float32_disparity_and_no_camera(small_weights):
    estimated = estimate_depth_and_camera(rgb_picture(97, 61), weights_path=small_weights, device="cpu",
                                          input_size=NET)
    assert estimated.camera is None  # Depth Anything V2 estimates no camera
    depth = estimated.depth
    assert np.array_equal(depth.values, estimate(rgb_picture(97, 61), small_weights).values)
    assert depth.values.shape == (61, 97)
    assert depth.values.dtype == np.float32
    assert depth.kind == "disparity"
    assert np.all(np.isfinite(depth.values)) and depth.values.min() >= 0 and np.ptp(depth.values) > 0


def test_16_bit_png_file_reads_at_its_full_scale(small_weights, tmp_path):
    grey8 = rgb_picture().convert("L")
    Image.fromarray(np.asarray(grey8, dtype=np.uint16) * 200).save(tmp_path / "grey16.png")  # never reaches 65535
    grey16 = open_image(tmp_path / "grey16.png")
    expected = Image.fromarray((np.asarray(grey8, dtype=np.float64) * 200 / 65535 * 255 + 0.5).astype(np.uint8))
    assert np.array_equal(estimate(grey16, small_weights).values, estimate(expected, small_weights).values)


def test_premultiplied_grey_with_alpha_is_read(small_weights):
    picture = rgb_picture().convert("LA").convert("La")
    assert picture.mode == "La"
    assert estimate(picture, small_weights).values.shape == (72, 96)


def test_rgba_uses_the_colour_channels(small_weights):
    rgb = rgb_picture()
    rgba = rgb.copy()
    rgba.putalpha(Image.fromarray(np.full((rgb.height, rgb.width), 7, np.uint8)))
    assert np.array_equal(estimate(rgba, small_weights).values, estimate(rgb, small_weights).values)


def test_greyscale_8_and_16_bit_agree(small_weights):
    grey8 = rgb_picture().convert("L")
    grey16 = Image.fromarray(np.asarray(grey8, dtype=np.uint16) * 257)
    assert grey16.mode in ("I;16", "I")
    depth8 = estimate(grey8, small_weights)
    depth16 = estimate(grey16, small_weights)
    assert depth8.values.shape == (72, 96)
    assert np.array_equal(depth8.values, depth16.values)
    assert np.array_equal(depth8.values, estimate(grey8.convert("RGB"), small_weights).values)


def test_metric_model_gives_positive_metres(tmp_path):
    checkpoint = write_random_checkpoint(tmp_path / "metric.pth", "depth-anything-v2-metric-indoor-small", seed=33)
    depth = estimate(rgb_picture(), checkpoint, "depth-anything-v2-metric-indoor-small")
    assert depth.kind == "metric"
    assert depth.values.min() > 0 and depth.values.max() <= MODELS["depth-anything-v2-metric-indoor-small"].max_depth


def test_model_stays_loaded_between_calls(small_weights, monkeypatch):
    estimate(rgb_picture(), small_weights)

    def no_second_read(path):
        raise AssertionError(f"{path} was read again")

    monkeypatch.setattr("lib_depth3d.depth.weights.read_checkpoint", no_second_read)
    assert estimate(rgb_picture(seed=34), small_weights).values.shape == (72, 96)
    estimate_module.unload_all()
    with pytest.raises(AssertionError, match="read again"):
        estimate(rgb_picture(seed=34), small_weights)


def test_concurrent_calls_give_the_same_results(small_weights):
    pictures = [rgb_picture(seed=seed) for seed in range(4)]
    expected = [estimate(picture, small_weights).values for picture in pictures]
    results: dict[int, np.ndarray] = {}

    def work(index):
        results[index] = estimate(pictures[index], small_weights).values

    threads = [threading.Thread(target=work, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(np.array_equal(results[index], expected[index]) for index in range(4))


def test_bad_requests_are_input_errors(small_weights, tmp_path):
    with pytest.raises(InputError, match="Unknown depth model"):
        estimate_depth(rgb_picture(), "depth-anything-v9", weights_path=small_weights)
    with pytest.raises(InputError, match="multiple of 14"):
        estimate_depth(rgb_picture(), weights_path=small_weights, input_size=100)
    with pytest.raises(WeightsError, match="not found"):
        estimate_depth(rgb_picture(), weights_path=tmp_path / "nothing.pth")
    with pytest.raises(InputError, match="needs a PIL image"):
        estimate_depth(np.zeros((8, 8, 3), np.uint8), weights_path=small_weights)


def test_weights_of_another_model_are_refused(small_weights):
    with pytest.raises(WeightsError, match="does not fit"):
        estimate_depth(rgb_picture(), "midas-dpt-hybrid", weights_path=small_weights, input_size=64)


@settings(max_examples=300, deadline=None)
@given(width=st.integers(1, 20000), height=st.integers(1, 20000),
       model=st.sampled_from(["depth-anything-v2-small", "midas-dpt-large"]))
def test_network_size_keeps_the_aspect_within_the_side_limit(width, height, model):
    spec = MODELS[model]
    network_width, network_height = network_size(width, height, spec)
    rule = adapter_for(spec).size_rule
    multiple = rule.multiple_of
    assert network_width % multiple == 0 and network_height % multiple == 0
    assert multiple <= min(network_width, network_height) and max(network_width, network_height) <= MAX_NETWORK_SIDE
    # Each side is the picture's side times one scale, up to rounding to the multiple.
    scale = max(network_width, network_height) / max(width, height)
    assert abs(network_width - width * scale) <= multiple and abs(network_height - height * scale) <= multiple
    if rule.keep_shorter_side_at_least and max(width, height) * spec.input_size / min(width, height) <= 8000:
        assert min(network_width, network_height) >= spec.input_size


def test_panorama_strip_is_processed_at_the_side_limit(small_weights):
    depth = estimate_depth(rgb_picture(6000, 20), "depth-anything-v2-small", weights_path=small_weights,
                           device="cpu", input_size=28)
    assert network_size(6000, 20, MODELS["depth-anything-v2-small"], 28) == (8190, 28)
    assert depth.values.shape == (20, 6000) and np.all(np.isfinite(depth.values))


@pytest.mark.parametrize("size", [(1, 1), (5000, 3000), (640, 480), (3, 4)])
def test_network_size_is_a_valid_multiple(size):
    for spec in (MODELS["depth-anything-v2-small"], MODELS["midas-dpt-large"]):
        width, height = network_size(*size, spec)
        multiple = adapter_for(spec).size_rule.multiple_of
        assert width % multiple == 0 and height % multiple == 0
        assert width >= multiple and height >= multiple


def fake_a1111(monkeypatch, device: str, use_cpu: list, no_half: bool):
    import sys
    import types

    import torch

    modules = types.ModuleType("modules")
    devices = types.ModuleType("modules.devices")
    shared = types.ModuleType("modules.shared")
    devices.device = torch.device(device)
    devices.dtype = torch.float16
    devices.get_device_for = lambda task: torch.device("cpu") if {"all", task} & set(use_cpu) else devices.device
    shared.cmd_opts = types.SimpleNamespace(no_half=no_half, use_cpu=use_cpu)
    modules.devices, modules.shared = devices, shared
    for name, module in (("modules", modules), ("modules.devices", devices), ("modules.shared", shared)):
        monkeypatch.setitem(sys.modules, name, module)


@pytest.mark.parametrize(
    "use_cpu, no_half, expected",
    [([], False, ("meta", "float16")), (["all"], False, ("cpu", "float32")),
     (["depth3d"], False, ("cpu", "float32")), ([], True, ("meta", "float32"))],
)
def test_device_and_precision_follow_a1111(monkeypatch, use_cpu, no_half, expected):
    fake_a1111(monkeypatch, "meta", use_cpu, no_half)  # "meta" stands in for the WebUI's GPU
    device, dtype = estimate_module.resolve_device()
    assert (device.type, str(dtype).removeprefix("torch.")) == expected


def test_explicit_device_wins_and_missing_cuda_is_explained(monkeypatch):
    fake_a1111(monkeypatch, "meta", [], False)
    assert estimate_module.resolve_device("cpu")[0].type == "cpu"
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(InputError, match="no CUDA GPU"):
        estimate_module.resolve_device("cuda")


def test_least_recently_used_model_is_dropped_and_replaced_files_reload(small_weights, tmp_path):
    estimate_module.unload_all()
    copies = [tmp_path / f"copy{index}.pth" for index in range(3)]
    for copy in copies:
        copy.write_bytes(small_weights.read_bytes())
    for copy in copies:
        estimate(rgb_picture(), copy)
    cached_paths = {key[1] for key in estimate_module._cache}
    assert cached_paths == {str(copies[1].resolve()), str(copies[2].resolve())}
    first = estimate(rgb_picture(), copies[2]).values
    write_random_checkpoint(copies[2], "depth-anything-v2-small", seed=99)
    assert not np.array_equal(estimate(rgb_picture(), copies[2]).values, first)


@pytest.mark.parametrize("device", ["cpu", "cpu:0"])  # "cpu:0", like "cuda", differs from the name weights report
def test_low_precision_runs_use_a_copy_and_keep_loaded_keeps_it(small_weights, monkeypatch, device):
    import torch

    reference = estimate(rgb_picture(), small_weights).values
    monkeypatch.setattr(estimate_module, "resolve_device", lambda requested=None: (torch.device(device), torch.bfloat16))
    low = estimate_depth(rgb_picture(), weights_path=small_weights, input_size=NET, keep_loaded=True).values
    assert np.abs(low - reference).max() > 0  # it did run in bfloat16
    loaded = next(entry for key, entry in estimate_module._cache.items() if key[1] == str(small_weights.resolve()))
    kept = loaded.placed
    assert next(kept.parameters()).dtype == torch.bfloat16
    estimate_depth(rgb_picture(), weights_path=small_weights, input_size=NET, keep_loaded=True)
    assert loaded.placed is kept
    estimate_depth(rgb_picture(), weights_path=small_weights, input_size=NET, keep_loaded=False)
    assert loaded.placed is None
    monkeypatch.undo()
    assert next(loaded.network.parameters()).dtype == torch.float32
    assert np.array_equal(estimate(rgb_picture(), small_weights).values, reference)


@pytest.mark.parametrize("where", ["copying the weights", "running"])
def test_out_of_memory_is_reported_and_frees_the_kept_copy(small_weights, monkeypatch, where):
    import torch

    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 3.00 GiB")

    monkeypatch.setattr(estimate_module, "resolve_device", lambda requested=None: (torch.device("cpu"), torch.bfloat16))
    estimate_depth(rgb_picture(), weights_path=small_weights, input_size=NET, keep_loaded=True)
    loaded = next(entry for key, entry in estimate_module._cache.items() if key[1] == str(small_weights.resolve()))
    assert loaded.placed is not None
    if where == "running":
        monkeypatch.setattr(estimate_module, "_runner", lambda *args: out_of_memory)
    else:
        loaded.placed = None  # so the next call copies the weights again
        monkeypatch.setattr(estimate_module, "_placed", out_of_memory)
    with pytest.raises(DepthSourceError, match=r"cpu ran out of memory running depth-anything-v2-small at 98×70"):
        estimate_depth(rgb_picture(), weights_path=small_weights, input_size=NET, keep_loaded=True)
    assert loaded.placed is None and loaded.graphed is None
