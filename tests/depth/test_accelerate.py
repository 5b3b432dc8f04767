"""The GPU fast path: channels-last weights change no value, and GraphedNetwork's record / replay
bookkeeping (exercised on the CPU with a recorder that keeps a CUDA graph's contract: fixed input
and output tensors, rewritten on replay). The CUDA graph itself is checked when a GPU is present."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from lib_depth3d.depth import estimate as estimate_module
from lib_depth3d.depth.accelerate import GraphedNetwork, RecordedPass, to_channels_last
from lib_depth3d.depth.estimate import build_network, estimate_depth
from lib_depth3d.depth.registry import MODELS
from tests.support.depth_weights import randomise, write_random_checkpoint

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


class StaticBufferRecorder:
    """Records like a CUDA graph does: the pass always reads ``static_input`` and writes into the
    same ``static_output`` tensor. Counts what it recorded."""

    def __init__(self, fail: bool = False):
        self.fail = fail
        self.recorded: list[tuple[int, ...]] = []

    def __call__(self, network: nn.Module, image: torch.Tensor) -> RecordedPass:
        if self.fail:
            raise RuntimeError("CUDA out of memory (pretend)")
        self.recorded.append(tuple(image.shape))
        static_input = image.clone()
        static_output = network(static_input)

        def replay() -> None:
            fresh = network(static_input)
            if isinstance(static_output, tuple):
                for buffer, values in zip(static_output, fresh):
                    buffer.copy_(values)
            else:
                static_output.copy_(fresh)

        return RecordedPass(replay, static_input, static_output)


def small_network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 1)).eval()


def image(seed: int, height: int = 8, width: int = 8) -> torch.Tensor:
    return torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(seed))


def test_channels_last_weights_give_the_same_depth():
    network = randomise(build_network(MODELS["depth-anything-v2-small"]), seed=3).eval()
    picture = image(4, 70, 98)
    with torch.inference_mode():
        contiguous = network(picture)
        channels_last = to_channels_last(network)(picture)
    assert network.depth_head.scratch.layer1_rn.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(channels_last, contiguous, atol=1e-5, rtol=1e-5)


def test_first_call_of_a_shape_is_eager_second_records_then_replays_new_inputs():
    network, recorder = small_network(), StaticBufferRecorder()
    graphed = GraphedNetwork(network, recorder=recorder)
    with torch.inference_mode():
        first = graphed(image(1))
        assert recorder.recorded == []
        second = graphed(image(2))
        third = graphed(image(3))
        torch.testing.assert_close(first, network(image(1)))
        torch.testing.assert_close(second, network(image(2)))
        torch.testing.assert_close(third, network(image(3)))
    assert recorder.recorded == [(1, 3, 8, 8)]


def test_outputs_are_copies_not_the_recorded_buffer():
    network = small_network()
    graphed = GraphedNetwork(network, recorder=StaticBufferRecorder())
    with torch.inference_mode():
        graphed(image(1))
        kept = graphed(image(2))
        kept_values = kept.clone()
        graphed(image(3))
    assert torch.equal(kept, kept_values)


class DepthAndFieldOfView(nn.Module):
    """Returns a tuple, as Depth Anything 3 does (its depth and its fields of view)."""

    def __init__(self):
        super().__init__()
        self.depth = small_network()

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        depth = self.depth(image)
        return depth, depth.mean(dim=(1, 2, 3))


def test_tuple_outputs_are_copies_of_each_part():
    network = DepthAndFieldOfView().eval()
    graphed = GraphedNetwork(network, recorder=StaticBufferRecorder())
    with torch.inference_mode():
        graphed(image(1))
        kept = graphed(image(2))
        kept_values = tuple(part.clone() for part in kept)
        latest = graphed(image(3))
        expected = network(image(3))
    assert all(torch.equal(part, values) for part, values in zip(kept, kept_values))
    assert all(torch.equal(part, values) for part, values in zip(latest, expected))


def test_least_recently_used_shape_is_dropped_beyond_the_limit():
    network, recorder = small_network(), StaticBufferRecorder()
    graphed = GraphedNetwork(network, recorder=recorder, max_graphs=2)
    shapes = [(8, 8), (8, 16), (16, 8)]
    with torch.inference_mode():
        for height, width in shapes + shapes:
            graphed(image(0, height, width))
        assert [key[0][2:] for key in graphed.graphs] == [(8, 16), (16, 8)]
        graphed(image(0, 8, 8))
    assert recorder.recorded == [(1, 3, 8, 8), (1, 3, 8, 16), (1, 3, 16, 8), (1, 3, 8, 8)]


def test_a_shape_that_cannot_be_recorded_stays_eager_and_is_not_retried():
    network, recorder = small_network(), StaticBufferRecorder(fail=True)
    graphed = GraphedNetwork(network, recorder=recorder)
    with torch.inference_mode():
        graphed(image(1))
        with pytest.warns(UserWarning, match="without a CUDA graph"):
            result = graphed(image(2))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            again = graphed(image(3))
        torch.testing.assert_close(result, network(image(2)))
        torch.testing.assert_close(again, network(image(3)))
    assert not graphed.graphs


@needs_cuda
def test_cuda_graph_replays_the_network_in_float16():
    network = to_channels_last(randomise(build_network(MODELS["depth-anything-v2-small"]), seed=5).eval().cuda().half())
    graphed = GraphedNetwork(network)
    inputs = [image(seed, 518, 518).cuda().half() for seed in range(3)]
    with torch.inference_mode():
        outputs = [graphed(picture) for picture in inputs]
        expected = [network(picture) for picture in inputs]
    assert len(graphed.graphs) == 1
    for output, reference in zip(outputs, expected):
        torch.testing.assert_close(output.float(), reference.float(), atol=2e-3, rtol=2e-3)


@needs_cuda
def test_estimate_depth_kept_loaded_on_cuda_matches_a_one_off_run(tmp_path):
    weights = write_random_checkpoint(tmp_path / "small.pth", "depth-anything-v2-small", seed=6)
    rng = np.random.default_rng(7)
    picture = Image.fromarray((rng.random((300, 400, 3)) * 255).astype(np.uint8), "RGB")
    one_off = estimate_depth(picture, "depth-anything-v2-small", weights_path=weights, device="cuda")
    kept = [estimate_depth(picture, "depth-anything-v2-small", weights_path=weights, device="cuda", keep_loaded=True)
            for _ in range(3)]
    estimate_module.unload_all()
    for depth in kept:
        np.testing.assert_allclose(depth.values, one_off.values, atol=2e-3 * np.abs(one_off.values).max())
