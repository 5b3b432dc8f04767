"""`python -m lib_depth3d models`: the depth models, their licences and whether their weights are here."""

from __future__ import annotations

import argparse

HELP = "List the depth models with their licence, output kind and download state."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--download", metavar="NAME", help="download this model's weights into the models folder")
    parser.add_argument("--allow-unverified", action="store_true",
                        help="with --download: accept a file whose SHA-256 is not published")


def run(args: argparse.Namespace) -> int:
    import sys

    from lib_depth3d.depth import weights
    from lib_depth3d.depth.registry import DEFAULT_MODEL, MODELS, get_model
    from lib_depth3d.depth.weights_advice import UNVERIFIED_OPTION_ADVICE
    from lib_depth3d.errors import WeightsError

    if args.download:
        spec = get_model(args.download)

        def progress(done: int, total: int | None) -> None:
            if sys.stderr.isatty():
                shown = f"{done / total:.0%}" if total else f"{done} bytes"
                print(f"\r{spec.files[0].filename} {shown}", end="", file=sys.stderr, flush=True)

        try:
            path = weights.download(spec.files[0], progress=progress, allow_unverified=args.allow_unverified,
                                    on_wait=lambda notice: print(notice, file=sys.stderr))
        except weights.DownloadLockError:
            raise  # its own advice; the file itself is not the problem
        except WeightsError as error:
            # This command has no --weights option: only the models folder is advised.
            raise WeightsError(
                f"The weights of {spec.name} could not be downloaded: {str(error).rstrip('.')}. "
                f"{weights.manual_download_advice(spec)}."
                + ("" if spec.files[0].sha256 or args.allow_unverified else f" {UNVERIFIED_OPTION_ADVICE}")
            ) from error
        print(f"{spec.name}: {path}")
        return 0
    print(f"Models folder: {weights.models_dir()}")
    for spec in MODELS.values():
        found = weights.local_file(spec)
        state = f"present ({found[0].name})" if found else f"not downloaded ({spec.files[0].size_label})"
        if found and found[1].size_bytes is not None and found[0].stat().st_size != found[1].size_bytes:
            state = (f"damaged ({found[0].name} is {found[0].stat().st_size} bytes, not {found[1].size_bytes}): "
                     "delete it and download again")
        default = " [default]" if spec.name == DEFAULT_MODEL else ""
        verified = "" if spec.files[0].sha256 else "; no published SHA-256 (download needs --allow-unverified)"
        print(f"{spec.name}{default}: {spec.title}")
        print(f"    output {spec.output_kind}, licence {spec.licence}, {state}{verified}")
    return 0
