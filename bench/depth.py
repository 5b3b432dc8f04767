"""Milliseconds per image of our depth networks against transformers' implementation of the same
configuration, with the same (random) weights, in the same run.

    .venv/bin/python bench/depth.py [--models NAME ...] [--sizes PX ...] [--repeat N] [--devices cpu cuda]
    .venv/bin/python bench/depth.py --official [--models NAME ...] [--rounds N] [--repeat N] [--moge-source DIR]

``--official``: the networks that transformers lacks (Depth Anything 3, MoGe-2) against their
authors' own code, on the CPU in float32, at each model's default size for a 4:3 picture: time
(median over all passes) and peak memory (resident set while the passes run, the loaded network
included), each side in a fresh process (``--child``), the two sides alternating for ``--rounds``
rounds so that a noisy machine slows both alike. Depth Anything 3: the ``depth-anything-3``
package (installed ``--no-deps``, see tests/support/record_da3_reference.py), its
``DepthAnything3Net`` run directly (its API would add float16 autocast). MoGe-2: a checkout of
github.com/microsoft/MoGe (``--moge-source``; its ``utils3d`` import, unused by the forward pass,
stubbed), ``MoGeModel.forward`` at ``num_tokens_range[1]`` as ``infer`` runs it, ViT-L only (the
only configuration its authors publish outside the weight files).

Needs transformers (a development dependency). On CUDA both run in float16, on the CPU in float32.
Ours always uses SDPA attention; transformers uses SDPA for Depth Anything and its eager attention
for DPT (MiDaS), as printed. On CUDA our network also runs as ``estimate_depth`` runs a network the user
keeps loaded: channels-last decoder and CUDA graphs (column "graphed"; the ratio uses it). The
figures include the network only (preprocessing is the same PIL resize for both).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lib_depth3d.depth.accelerate import GraphedNetwork, to_channels_last  # noqa: E402
from lib_depth3d.depth.depth_anything_v2 import DepthAnythingV2  # noqa: E402
from lib_depth3d.depth.estimate import build_network  # noqa: E402
from lib_depth3d.depth.midas import MidasDPT  # noqa: E402
from lib_depth3d.depth.moge import MoGe2  # noqa: E402
from lib_depth3d.depth.registry import MODELS, ModelSpec, adapter_for  # noqa: E402
from tests.support.depth_oracle import dinov2_position_embedding  # noqa: E402
from tests.support.depth_weights import randomise  # noqa: E402

DEFAULT_MODELS = ("depth-anything-v2-small", "midas-dpt-hybrid")


def depth_anything_twin(spec: ModelSpec, ours: torch.nn.Module) -> torch.nn.Module:
    """transformers' Depth Anything holding our Depth Anything V2's weights."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config
    from transformers.models.depth_anything import convert_depth_anything_to_hf as convert

    state = {key: value.clone() for key, value in ours.state_dict().items()}
    encoder = ours.config.encoder
    backbone = Dinov2Config(
        hidden_size=encoder.embed_dim, num_hidden_layers=encoder.depth, num_attention_heads=encoder.num_heads,
        intermediate_size=encoder.embed_dim * 4, image_size=518, patch_size=14,
        out_indices=[index + 1 for index in encoder.tap_layers], apply_layernorm=True,
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone, reassemble_hidden_size=encoder.embed_dim, patch_size=14,
        fusion_hidden_size=ours.config.features, neck_hidden_sizes=list(ours.config.out_channels),
        depth_estimation_type="relative" if spec.max_depth is None else "metric", max_depth=spec.max_depth or 1,
    )
    for source, destination in convert.create_rename_keys(config):
        state[destination] = state.pop(source)
    convert.read_in_q_k_v(state, config)
    twin = DepthAnythingForDepthEstimation(config)
    twin.load_state_dict(state, strict=True)
    return twin.eval()


def dpt_twin(spec: ModelSpec, ours: torch.nn.Module) -> torch.nn.Module:
    """transformers' DPT (plain ViT or hybrid) holding our MiDaS DPT's weights."""
    from transformers import BitConfig, DPTConfig, DPTForDepthEstimation
    from transformers.models.dpt import convert_dpt_hybrid_to_pytorch, convert_dpt_to_pytorch

    state = {key: value.clone() for key, value in ours.state_dict().items()}
    midas = ours.config
    hybrid = midas.hybrid is not None
    convert = convert_dpt_hybrid_to_pytorch if hybrid else convert_dpt_to_pytorch
    extra = {}
    if hybrid:
        extra = dict(
            embedding_type="hybrid", is_hybrid=True, reassemble_factors=[1, 1, 1, 0.5],
            backbone_featmap_shape=[1, 1024, 24, 24],
            backbone_config=BitConfig(global_padding="same", layer_type="bottleneck", depths=[3, 4, 9],
                                      out_features=["stage1", "stage2", "stage3"],
                                      embedding_dynamic_padding=True),
        )
    config = DPTConfig(
        hidden_size=midas.embed_dim, num_hidden_layers=midas.depth, num_attention_heads=midas.num_heads,
        intermediate_size=midas.embed_dim * 4, image_size=384, patch_size=16,
        backbone_out_indices=list(midas.hooks), neck_hidden_sizes=list(midas.out_channels),
        fusion_hidden_size=midas.features, readout_type="project", layer_norm_eps=1e-6, **extra,
    )
    state["pretrained.model.norm.weight"] = torch.ones(midas.embed_dim)
    state["pretrained.model.norm.bias"] = torch.zeros(midas.embed_dim)
    state = {convert.rename_key(key): value for key, value in state.items()}
    convert.read_in_q_k_v(state, config)
    twin = DPTForDepthEstimation(config)
    twin.load_state_dict(state, strict=True)
    return twin.eval()


REFERENCES = {DepthAnythingV2: depth_anything_twin, MidasDPT: dpt_twin}
"""Our network's class → the reference implementation of the same network, holding our weights."""


def milliseconds(run, repeat: int, device: torch.device) -> float:
    def once() -> float:
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - start) * 1000

    once()  # warm-up: allocations, kernel selection
    return statistics.median(once() for _ in range(repeat))


def peak_mebibytes(run, device: torch.device) -> float | None:
    """Peak GPU memory allocated during one ``run()``, weights included; None off CUDA."""
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    run()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 2**20


def optional(value: float | None, width: int, digits: int = 1) -> str:
    return f"{'n/a':>{width}s}" if value is None else f"{value:{width}.{digits}f}"


def bench_device(device: torch.device, names: list[str], requested_sizes: list[int] | None, repeat: int) -> None:
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    print(f"\ndevice {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
          f"{dtype}, {torch.get_num_threads()} CPU threads, median of {repeat}")
    print(f"{'model':40s} {'input':>9s} {'ours ms':>9s} {'graphed ms':>11s} {'transformers ms':>16s} "
          f"{'speed-up':>9s} {'ours MiB':>9s} {'tf MiB':>8s} {'max |diff|':>11s} {'max |out|':>10s}  tf attention")
    for name in names:
        spec = MODELS[name]
        ours = randomise(build_network(spec), seed=0).eval()
        twin = REFERENCES[type(ours)](spec, ours)
        # Depth Anything's DINOv2 is its .backbone; DPT keeps its ViT in .dpt and sets .backbone to None.
        attention = (getattr(twin, "backbone", None) or twin).config._attn_implementation
        ours, twin = ours.to(device, dtype), twin.to(device, dtype)
        if device.type == "cuda":
            ours = to_channels_last(ours)
        multiple = adapter_for(spec).size_rule.multiple_of
        if getattr(twin.config, "is_hybrid", False):
            sizes = [spec.input_size]  # transformers' hybrid DPT accepts its configured size only
        else:
            sizes = sorted({max(size // multiple, 2) * multiple
                            for size in requested_sizes or [spec.input_size, spec.input_size // 2]}, reverse=True)
        for size in sizes:
            image = torch.randn(1, 3, size, size, device=device, dtype=dtype)
            with torch.inference_mode():
                ours_ms = milliseconds(lambda: ours(image), repeat, device)
                ours_mib = peak_mebibytes(lambda: ours(image), device)
                graphed_ms = None
                if device.type == "cuda":
                    graphed = GraphedNetwork(ours)
                    graphed(image), graphed(image)  # the first call counts the shape, the second records
                    graphed_ms = milliseconds(lambda: graphed(image), repeat, device)
                twin_ms = milliseconds(lambda: twin(pixel_values=image), repeat, device)
                twin_mib = peak_mebibytes(lambda: twin(pixel_values=image), device)
                output = (graphed(image) if graphed_ms is not None else ours(image)).float()
                difference = (output - twin(pixel_values=image).predicted_depth.float()).abs().max()
            best_ms = ours_ms if graphed_ms is None else graphed_ms
            print(f"{name:40s} {size:>4d}×{size:<4d} {ours_ms:9.1f} {optional(graphed_ms, 11)} {twin_ms:16.1f} "
                  f"{twin_ms / best_ms:8.2f}× {optional(ours_mib, 9, 0)} {optional(twin_mib, 8, 0)} "
                  f"{difference.item():11.2e} {output.abs().max().item():10.3g}  {attention}")
        del ours, twin
        if device.type == "cuda":
            torch.cuda.empty_cache()


OFFICIAL_MODELS = ("depth-anything-3-small", "depth-anything-3-base", "depth-anything-3-mono-large",
                   "depth-anything-3-metric-large", "moge-2-vitl")
PICTURE_ASPECT = 4 / 3


def default_input(spec: ModelSpec) -> tuple[int, int]:
    """(width, height) of a 4:3 picture at the model's default network size."""
    from lib_depth3d.depth.estimate import network_size

    width, height = 4 * spec.input_size, 3 * spec.input_size  # large enough for every size rule
    return network_size(width, height, spec)


def _resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _official_network(spec: ModelSpec, ours: torch.nn.Module) -> tuple[torch.nn.Module, object]:
    """The authors' network holding our weights, and how to call it on our input."""
    state = ours.state_dict()
    if not isinstance(ours, MoGe2):
        from depth_anything_3.cfg import create_object, load_config

        config = {"small": "da3-small", "base": "da3-base", "mono-large": "da3mono-large",
                  "metric-large": "da3metric-large"}[spec.variant]
        official = create_object(load_config(f"depth_anything_3.configs.{config}")).eval()
        missing, unexpected = official.load_state_dict(state, strict=False)
        assert not unexpected and all(key.startswith(("cam_enc.", "head.scratch.refinenet", "head.scratch.output_conv",
                                                      "cam_dec.fc_")) for key in missing), missing
        return official, lambda image: official(image[:, None]).depth[:, 0]
    from moge.model.v2 import MoGeModel
    from tests.support.moge_cases import RELEASED_VITL, VITL_HEAD

    official = MoGeModel(**RELEASED_VITL, normal_head={**VITL_HEAD, "dim_out": [None, None, None, None, 3]}).eval()
    missing, unexpected = official.load_state_dict(state, strict=False)
    assert not unexpected and all(key.startswith("normal_head.") for key in missing), missing
    tokens = RELEASED_VITL["num_tokens_range"][1]
    return official, lambda image: official(image, num_tokens=tokens)["points"][..., 2]


def child(name: str, side: str, repeat: int, output_path: str) -> None:
    """One side of one model in this process: prints its times and peak memory as JSON, saves its depth."""
    import ctypes
    import json
    import threading

    torch.manual_seed(0)
    spec = MODELS[name]
    if adapter_for(spec).build_from_config is not None:  # MoGe-2: only ViT-L's configuration is published
        from tests.support.moge_cases import RELEASED_VITL

        ours = randomise(build_network(spec, RELEASED_VITL), seed=0).eval()
    else:
        ours = randomise(build_network(spec), seed=0).eval()
    run = (lambda image: ours(image)[..., 2]) if isinstance(ours, MoGe2) else (lambda image: ours(image)[0])
    if side == "official":
        ours, run = _official_network(spec, ours)
    width, height = default_input(spec)
    image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(1))
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # what building the network freed goes back to the system
    loaded_mib, peak = _resident_mib(), [0.0]
    running = threading.Event()

    def sample() -> None:
        while not running.is_set():
            peak[0] = max(peak[0], _resident_mib())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    times = []
    with torch.inference_mode():
        depth = run(image)  # warm-up
        for _ in range(repeat):
            start = time.perf_counter()
            depth = run(image)
            times.append((time.perf_counter() - start) * 1000)
    running.set()
    sampler.join()
    torch.save(depth.float(), output_path)
    print(json.dumps({"ms": times, "peak_mib": peak[0], "loaded_mib": loaded_mib}))


def bench_official(names: list[str], rounds: int, repeat: int, moge_source: str | None) -> None:
    import json
    import subprocess
    import tempfile

    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), moge_source])))
    print(f"\nCPU, float32, {torch.get_num_threads()} threads; median of {rounds} rounds × {repeat} passes, "
          "each side in its own process, sides alternating")
    print(f"{'model':32s} {'input':>9s} {'ours ms':>9s} {'official ms':>12s} {'speed-up':>9s} {'ours MiB':>9s} "
          f"{'official MiB':>13s} {'memory':>7s} {'max |diff|':>11s} {'max |out|':>10s}")
    for name in names:
        if name.startswith("moge") and moge_source is None:
            print(f"{name:32s} official: give --moge-source (a checkout of github.com/microsoft/MoGe)")
            continue
        results = {"ours": [], "official": []}
        with tempfile.TemporaryDirectory() as folder:
            for round_index in range(rounds):
                for side in (("ours", "official") if round_index % 2 == 0 else ("official", "ours")):
                    completed = subprocess.run(
                        [sys.executable, __file__, "--child", name, side, "--repeat", str(repeat),
                         "--output", f"{folder}/{side}.pt"],
                        capture_output=True, text=True, env=environment, check=False,
                    )
                    if completed.returncode != 0:
                        raise SystemExit(f"{name} ({side}) failed:\n{completed.stderr[-2000:]}")
                    results[side].append(json.loads(completed.stdout.strip().splitlines()[-1]))
            ours_depth, official_depth = (torch.load(f"{folder}/{side}.pt") for side in ("ours", "official"))
        ours_ms, official_ms = (statistics.median(t for r in results[side] for t in r["ms"]) for side in results)
        ours_mib, official_mib = (statistics.median(r["peak_mib"] for r in results[side]) for side in results)
        width, height = default_input(MODELS[name])
        print(f"{name:32s} {width:>4d}×{height:<4d} {ours_ms:9.0f} {official_ms:12.0f} {official_ms / ours_ms:8.2f}× "
              f"{ours_mib:9.0f} {official_mib:13.0f} {ours_mib / official_mib:6.2f}× "
              f"{(ours_depth - official_depth).abs().max().item():11.2e} {official_depth.abs().max().item():10.3g}")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_parser = argparse.ArgumentParser()
        child_parser.add_argument("--child", nargs=2, metavar=("MODEL", "SIDE"))
        child_parser.add_argument("--repeat", type=int)
        child_parser.add_argument("--output")
        child_args = child_parser.parse_args()
        if child_args.child[1] == "official" and child_args.child[0].startswith("moge"):
            import types

            sys.modules["utils3d"] = types.ModuleType("utils3d")  # imported by MoGe, unused by its forward pass
        child(child_args.child[0], child_args.child[1], child_args.repeat, child_args.output)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", action="store_true",
                        help="Depth Anything 3 and MoGe-2 against their authors' code (CPU), instead of transformers")
    parser.add_argument("--rounds", type=int, default=3, help="--official: processes per side")
    parser.add_argument("--moge-source", metavar="DIR", help="--official: a checkout of github.com/microsoft/MoGe")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS),
                        help=f"default: {' '.join(DEFAULT_MODELS)}; with --official: {' '.join(OFFICIAL_MODELS)}")
    parser.add_argument("--sizes", nargs="+", type=int,
                        help="square input sizes, rounded down to the model's multiple (default: its size and half)")
    parser.add_argument("--repeat", type=int, default=5, help="passes per measurement (with --official: per process)")
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"],
                        help="devices to time, one table each (default: cpu, and cuda when present)")
    args = parser.parse_args()
    if args.official:
        bench_official(args.models or list(OFFICIAL_MODELS), args.rounds, args.repeat, args.moge_source)
        return 0
    args.models = args.models or list(DEFAULT_MODELS)
    from transformers.models.dinov2.modeling_dinov2 import Dinov2Embeddings

    Dinov2Embeddings.interpolate_pos_encoding = dinov2_position_embedding  # the original DINOv2 rule
    for device in args.devices:
        bench_device(torch.device(device), args.models, args.sizes, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
