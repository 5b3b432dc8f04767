"""The depth-network options the ``depth`` and ``scene`` commands share, parsed into a depth source."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # the command line imports every command at start: keep numpy and PIL out of it
    from lib_depth3d.depth.sources import NetworkDepth


DEFAULT_MODEL_IN_HELP = "{default model}"
"""Stands for the default model's name in the help texts of a parser given :func:`add_model_options`."""

_NET_SIZES_IN_HELP = "{net sizes}"


class _ModelTableHelpFormatter(argparse.HelpFormatter):
    """Fills in the help texts that quote the model table only when help is printed, so that
    parsing a command line (a scene from a depth file) does not load the table."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = super()._get_help_string(action)
        if DEFAULT_MODEL_IN_HELP in text or _NET_SIZES_IN_HELP in text:
            from lib_depth3d.depth.registry import DEFAULT_MODEL, net_size_help

            text = text.replace(DEFAULT_MODEL_IN_HELP, DEFAULT_MODEL)
            text = text.replace(_NET_SIZES_IN_HELP, net_size_help().replace("%", "%%"))
        return text


def add_model_options(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """``--weights``, ``--device``, ``--net-size``, ``--no-download`` and ``--allow-unverified``;
    ``prefix`` starts each help text (e.g. ``"--model: "`` where a model is optional). The
    parser's help may name the default model as :data:`DEFAULT_MODEL_IN_HELP`."""
    parser.formatter_class = _ModelTableHelpFormatter
    parser.add_argument("--weights", metavar="PATH", help=f"{prefix}use this weight file instead of the models folder")
    parser.add_argument("--device", metavar="cpu|cuda|mps", help=f"{prefix}where to run (default: the best available)")
    parser.add_argument("--net-size", type=int, metavar="PIXELS",
                        help=f"{prefix}the size in pixels the picture is resized to for the network (aspect ratio "
                        f"kept; larger is sharper and slower). Default and meaning per model: {_NET_SIZES_IN_HELP}")
    parser.add_argument("--cpu-bf16", action="store_true",
                        help=f"{prefix}on the CPU, run the network in bfloat16: faster where the CPU has AVX512-BF16 "
                        "or AMX, depth within about 4%% of float32's")
    parser.add_argument("--no-download", action="store_true",
                        help=f"{prefix}fail with instructions instead of downloading missing weights")
    parser.add_argument("--allow-unverified", action="store_true",
                        help=f"{prefix}accept a download whose SHA-256 is not published (see 'models')")


def network_source(model: str, args: argparse.Namespace) -> NetworkDepth:
    """The network ``model`` with the command's options; for weights under a non-commercial
    licence, a reminder on stderr."""
    from lib_depth3d.depth.registry import get_model
    from lib_depth3d.depth.sources import NetworkDepth
    from lib_depth3d.depth.weights_advice import UNVERIFIED_OPTION_ADVICE, WEIGHTS_OPTION_ADVICE

    spec = get_model(model)
    if spec.non_commercial:
        print(f"note: {spec.name}'s weights are licensed {spec.licence} ({spec.licence_url}): "
              "non-commercial use only.", file=sys.stderr)
    unverified = spec.files[0].sha256 is None and not args.allow_unverified
    return NetworkDepth(spec, input_size=args.net_size, weights_path=args.weights, device=args.device,
                        cpu_bf16=args.cpu_bf16, download_missing=not args.no_download, allow_unverified=args.allow_unverified,
                        weights_advice=f"{WEIGHTS_OPTION_ADVICE} {UNVERIFIED_OPTION_ADVICE}" if unverified
                        else WEIGHTS_OPTION_ADVICE)


def terminal_progress() -> Callable[[str, "float | None"], None] | None:
    """A progress line on stderr when it is a terminal, else None."""
    if not sys.stderr.isatty():
        return None

    def progress(message: str, fraction: float | None) -> None:
        suffix = "" if fraction is None else f" {fraction:.0%}"
        print(f"\r{message}{suffix}", end="", file=sys.stderr, flush=True)

    return progress


def end_progress() -> None:
    """End the progress line (on a terminal)."""
    if sys.stderr.isatty():
        print(file=sys.stderr)
