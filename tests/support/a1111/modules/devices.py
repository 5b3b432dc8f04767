"""Devices as A1111 chooses them (the double runs on the CPU, as with ``--use-cpu all``)."""

import torch

device = torch.device("cpu")
cpu = torch.device("cpu")
dtype = torch.float16
torch_gc_calls = 0


def get_device_for(task: str) -> torch.device:
    """A1111 1.6+: the device for ``task``, honouring ``--use-cpu``."""
    return cpu


def torch_gc() -> None:
    """Free GPU memory (counted, so tests can see it was asked for)."""
    global torch_gc_calls
    torch_gc_calls += 1
