"""Running a depth network fast on a CUDA GPU: channels-last convolutions and CUDA graphs.

At Depth Anything V2 Small's 518×518 a forward pass is a few hundred small kernels, so on a GPU
it is bound by the CPU launching them rather than by the GPU computing them. A CUDA graph records
the launches of one pass for one input shape and replays them with a single call. The decoder's
convolutions run in channels-last layout, the one tensor cores read without a transpose.

A graph keeps GPU memory for its intermediate tensors (the graphs of one network share one pool:
about one pass's activations at the largest recorded size), so graphs are only recorded for a
network the user keeps loaded (``keep_loaded``) and only for an input shape seen before: a one-off
picture runs eagerly and costs no extra memory.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

MAX_GRAPHS_PER_NETWORK = 4
"""Input shapes whose graphs a network keeps (least recently used dropped beyond this)."""

WARMUP_PASSES = 2
"""Eager passes on a side stream before recording: lets cuDNN and the allocator settle, as
PyTorch's CUDA graph notes require."""


def to_channels_last(network: nn.Module) -> nn.Module:
    """``network`` with every 4-D parameter (convolution weights) in channels-last layout.

    Values are unchanged; only the memory layout of the weights moves, so outputs agree with the
    contiguous network to rounding."""
    return network.to(memory_format=torch.channels_last)


@dataclass
class RecordedPass:
    """One recorded forward pass: ``replay()`` reruns it, reading ``static_input`` and writing
    ``static_output`` (the same tensors every time)."""

    replay: Callable[[], None]
    static_input: torch.Tensor
    static_output: torch.Tensor | tuple[torch.Tensor, ...]


class CudaGraphRecorder:
    """Records passes as CUDA graphs. The graphs of one recorder share one memory pool, so the
    shapes a network keeps cost about one pass's activations at the largest of them rather than
    one each; sharing is safe because their replays never overlap (GraphedNetwork's lock) and
    every graph's input and output tensors stay alive."""

    def __init__(self) -> None:
        self.pool = None

    def __call__(self, network: nn.Module, image: torch.Tensor) -> RecordedPass:
        if self.pool is None:
            self.pool = torch.cuda.graph_pool_handle()
        static_input = image.clone()
        side_stream = torch.cuda.Stream(device=image.device)
        side_stream.wait_stream(torch.cuda.current_stream(image.device))
        with torch.cuda.stream(side_stream):
            for _ in range(WARMUP_PASSES):
                network(static_input)
        torch.cuda.current_stream(image.device).wait_stream(side_stream)
        graph = torch.cuda.CUDAGraph()
        # thread_local: the WebUI may be generating on the same GPU from another thread meanwhile.
        with torch.cuda.graph(graph, pool=self.pool, capture_error_mode="thread_local"):
            static_output = network(static_input)
        return RecordedPass(graph.replay, static_input, static_output)


@dataclass
class GraphedNetwork:
    """Calls ``network`` through passes recorded per (shape, dtype, device) of the input.

    The first call with a shape runs eagerly and only counts it; the second records the pass
    (``recorder``: a :class:`CudaGraphRecorder` of its own by default) and replays it; later calls
    replay. When recording fails (out of memory, an operation that cannot be captured) that shape
    stays eager. Outputs are copies, so a caller may keep them across calls.
    """

    network: nn.Module
    recorder: Callable[[nn.Module, torch.Tensor], RecordedPass] = field(default_factory=CudaGraphRecorder)
    max_graphs: int = MAX_GRAPHS_PER_NETWORK
    graphs: OrderedDict = field(default_factory=OrderedDict)
    seen: set = field(default_factory=set)
    eager_only: set = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        key = (tuple(image.shape), image.dtype, image.device)
        with self.lock:
            recorded = self.graphs.get(key)
            if recorded is None:
                if key not in self.seen or key in self.eager_only:
                    self.seen.add(key)
                    return self.network(image)
                try:
                    recorded = self.recorder(self.network, image)
                except RuntimeError as error:
                    warnings.warn(f"Depth3D: running without a CUDA graph for input {key[0]}: {error}", stacklevel=2)
                    self.eager_only.add(key)
                    return self.network(image)
                self.graphs[key] = recorded
                while len(self.graphs) > self.max_graphs:
                    self.graphs.popitem(last=False)
            self.graphs.move_to_end(key)
            recorded.static_input.copy_(image)
            recorded.replay()
            output = recorded.static_output
            # A network giving more than depth (Depth Anything 3: its fields of view) returns a tuple.
            return tuple(part.clone() for part in output) if isinstance(output, tuple) else output.clone()
