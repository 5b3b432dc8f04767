"""`depth3d SUBCOMMAND …` (or `python -m lib_depth3d …`): the command line of the engine.

Each subcommand lives in ``lib_depth3d/commands/<name>.py`` and defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported lazily so that a
light command (``calibrate``) never pays for torch. A :class:`~lib_depth3d.errors.Depth3DError`
becomes exit code 2 with its message on one line of stderr. Output piped into a reader that
stops early (``| head``) ends the command quietly with exit code 141, as SIGPIPE ends ``yes``;
SIGTERM exits (143) through the clean-ups, as Ctrl-C does (130).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from typing import Iterable, Sequence

from lib_depth3d.errors import Depth3DError

COMMANDS: dict[str, str] = {
    "calibrate": "lib_depth3d.commands.calibrate",
    "depth": "lib_depth3d.commands.depth",
    "models": "lib_depth3d.commands.models",
    "scene": "lib_depth3d.commands.scene",
    "mask": "lib_depth3d.commands.mask",
    "blender-addon": "lib_depth3d.commands.blender_addon",
    "ui": "lib_depth3d.commands.ui",
}

EXIT_USER_ERROR = 2
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names: its first word that is not an option (None before one)."""
    first = next((word for word in argv if not word.startswith("-")), None)
    return first if first in COMMANDS else None


def build_parser(prog: str = "depth3d", with_options: Iterable[str] = tuple(COMMANDS),
                 listed: Iterable[str] = tuple(COMMANDS)) -> argparse.ArgumentParser:
    """The parser of the subcommands ``listed``; only those named in ``with_options`` get their
    options, the others their names and help lines. Adding options imports what their defaults
    come from, so ``depth3d scene …`` loads only the scene command's modules and ``depth3d
    --help`` none of them."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Depth3D: depthmaps, camera calibration from vanishing lines, "
        "camera-matched .glb scenes and depth masks.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in listed:
        module = importlib.import_module(COMMANDS[name])
        subparser = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        if name in with_options:
            module.add_arguments(subparser)
        subparser.set_defaults(run=module.run)
    return parser


def _exit_when_terminated(signal_number: int, frame) -> None:
    # Python's default for SIGTERM ends the process at once; exiting through SystemExit runs the
    # clean-ups on the way out, so a terminated run removes its partial files.
    raise SystemExit(128 + signal_number)


def main(argv: Sequence[str] | None = None, prog: str = "depth3d") -> int:
    """Run one command line; the exit code. ``prog`` is how the usage line names the program."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if "numpy" not in sys.modules:
        # A command's own process: the engine's matrix products are small (a block's fan weights
        # against its anchors) and OpenBLAS's threads spin beside them; with one, a 4096² scene
        # took about 12 % less CPU time. Torch's threads are its own; a user's setting wins.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    command = _chosen_command(argv)
    # A named command is parsed by its own parser alone: the others' modules (5 ms to import) are
    # needed only to list them, in the help and in the message for an unknown command.
    chosen = () if command is None else (command,)
    args = build_parser(prog, chosen, chosen or tuple(COMMANDS)).parse_args(argv)
    previous_handler = signal.signal(signal.SIGTERM, _exit_when_terminated)
    try:
        code = int(args.run(args) or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The interpreter flushes stdout again at exit: point it at /dev/null so that cannot raise.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Depth3DError as error:
        message = " ".join(str(error).split())
        print(f"error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
