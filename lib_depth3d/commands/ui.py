"""`python -m lib_depth3d ui`: the Depth 3D tab in a browser, without A1111."""

from __future__ import annotations

import argparse

HELP = "serve the Depth 3D tab (canvas editor, build, downloads) standalone in a browser"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7870, help="port to listen on (default 7870)")
    parser.add_argument("--outputs", default=None,
                        help="folder for the built scenes (default: a temporary folder per build)")


def run(args: argparse.Namespace) -> int:
    from lib_depth3d.ui import serve

    serve(host=args.host, port=args.port, outputs_dir=args.outputs)
    return 0
