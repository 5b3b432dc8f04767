"""`python -m lib_depth3d ui`: the Depth 3D tab in a browser, and the HTTP API, without A1111."""

from __future__ import annotations

import argparse

HELP = "serve the Depth 3D tab (canvas editor, build, downloads) and the HTTP API standalone"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7870, help="port to listen on (default 7870)")
    parser.add_argument("--outputs", default=None,
                        help="folder for the built scenes (default: a temporary folder per build)")


def run(args: argparse.Namespace) -> int:
    import os
    import shutil
    import tempfile
    from pathlib import Path

    # The server's own temp folder, for gradio's uploads and served copies: the only files its
    # /file= route serves. Gradio 4 reads GRADIO_TEMP_DIR when imported, so it is set first.
    base = os.environ.get("GRADIO_TEMP_DIR")
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    temp_folder = Path(tempfile.mkdtemp(prefix="depth3d-ui-", dir=base))
    os.environ["GRADIO_TEMP_DIR"] = str(temp_folder)
    try:
        from lib_depth3d.ui import serve

        serve(host=args.host, port=args.port, outputs_dir=args.outputs, temp_folder=temp_folder)
    finally:
        shutil.rmtree(temp_folder, ignore_errors=True)
    return 0
