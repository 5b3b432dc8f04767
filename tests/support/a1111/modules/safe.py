"""A1111's safe unpickler (``modules/safe.py``, 1.6–1.10): it replaces ``torch.load`` for the
whole process. The replacement checks the file first and, when the check fails, reports the
error to the console and returns None instead of raising. The check accepts only the archive
entries torch wrote before 2.1, so it refuses what recent torch writes (``.format_version``,
``.storage_alignment``): ``bad file inside …``. The original is kept as ``unsafe_torch_load``.
The double checks the archive's entry names as A1111 does; its pickle check is left out (the
names already decide every file the tests write).
"""

from __future__ import annotations

import re
import zipfile

import torch

from modules import errors

allowed_zip_names_re = re.compile(r"^([^/]+)/((data/\d+)|version|byteorder|.data/serialization_id|(data\.pkl))$")


def check_zip_filenames(filename, names) -> None:
    for name in names:
        if not allowed_zip_names_re.match(name):
            raise Exception(f"bad file inside {filename}: {name}")


def check_pt(filename) -> None:
    with zipfile.ZipFile(filename) as archive:
        check_zip_filenames(filename, archive.namelist())


def load(filename, *args, **kwargs):
    from modules import shared

    try:
        if not shared.cmd_opts.disable_safe_unpickle:
            check_pt(filename)
    except Exception:
        errors.report(
            f"Error verifying pickled file from {filename}\n"
            "The file may be malicious, so the program is not going to read it.\n"
            "You can skip this check with --disable-safe-unpickle commandline argument.\n\n",
            exc_info=True,
        )
        return None
    return unsafe_torch_load(filename, *args, **kwargs)


unsafe_torch_load = torch.load
torch.load = load
