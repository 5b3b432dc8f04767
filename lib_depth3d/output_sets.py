"""Whole output sets: the files of one run replace their predecessors together, never one by one.

A run's files (a scene's ``.glb``, depth PNG, camera JSON and ``.fspy``; the mask command's mask
and cut-out) are written by :func:`write_file_set` in four steps:

1. **check** every target before anything is written: its folder exists, it is not a folder,
   no file is named twice (:class:`~lib_depth3d.errors.OutputError`);
2. **settle** each folder: journals left by killed runs are completed and their partial files
   removed;
3. **stage** each file in full under a hidden name beside its target, ``.NAME.PID.TOKEN.part``;
4. **commit** each folder: a journal ``.MAIN.PID.TOKEN.journal`` naming every rename and removal
   is put in place by one rename — the commit point — then the removals are done, the renames
   with the set's main file last, and the journal is removed.

A run killed before the commit point leaves the previous set as it was; one killed after it is
completed by the next run that writes into the folder, so once settled a folder holds the old
set or the new one, never a mix. Partial files carry their process's id: a run removes its own on
any exit it survives, and those of processes that no longer run, but never a live process's (nor
an earlier version's partial file less than an hour old).

A set whose files may vary (a scene's ``.fspy`` is written only for a calibrated camera) keeps,
while it holds such optional files, a record ``.MAIN.depth3d-set.json`` of their names and
SHA-256. An optional file of the previous set that this run does not write (the ``.fspy`` of a
calibrated scene rebuilt with a field of view) is removed with the commit when it still holds the
bytes that set wrote; a file changed since, or one that was there before with the same bytes (the
user's own project given as input), is the user's and stays.

Sets spread over several folders (the mask command's ``-o`` and ``--cutout`` in two folders) are
staged in full, then committed folder by folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Iterable, Sequence, Union

from lib_depth3d.errors import OutputError

FileContents = Union[bytes, Sequence[bytes]]
"""A file's bytes, or the pieces whose concatenation they are, written one after the other: a
scene's ``.glb`` is its header and its buffers, the largest of them the picture's own file, which
joining would copy once more."""

PART_PATTERN = re.compile(r"^\..+\.(?P<pid>\d+)\.[0-9a-f]{12}\.part$")
JOURNAL_PATTERN = re.compile(r"^\..+\.(?P<pid>\d+)\.[0-9a-f]{12}\.journal$")
RECORD_SUFFIX = ".depth3d-set.json"
LEGACY_PART_PATTERN = re.compile(r"^\..+\.[a-z0-9_]{8}\.part$")
LEGACY_PART_AGE_S = 3600.0
"""Partial files of earlier versions (``tempfile``'s eight characters, no process id) are removed
once this old: no write takes an hour, so nothing still writes them."""

_COMMIT_LOCK = threading.Lock()
"""Commits of one process are serialised, so two threads writing one set never interleave."""


def check_targets(paths: Iterable[str | os.PathLike]) -> tuple[Path, ...]:
    """The targets as absolute paths, once each is known to be writable as a file of this run.

    Raises :class:`OutputError` for a folder that does not exist, a target that is a folder and a
    file named twice.
    """
    given_paths = [os.fspath(path) for path in paths]
    targets = tuple(Path(os.path.abspath(path)) for path in given_paths)
    seen: set[Path] = set()
    for given, target in zip(given_paths, targets):
        if not target.parent.is_dir():
            note = " (a file has that name)" if target.parent.exists() else ""
            raise OutputError(f"Cannot write {given}: the folder {target.parent} does not exist{note}.")
        if target.is_dir():
            raise OutputError(f"Cannot write {given}: it is a folder; give a file name inside it.")
        if target in seen:
            raise OutputError(f"{given} is named twice among the outputs; give each output its own name.")
        seen.add(target)
    return targets


def write_file_set(
    files: Sequence[tuple[str | os.PathLike, FileContents]], *, optional: Iterable[str | os.PathLike] = ()
) -> tuple[Path, ...]:
    """Write ``files`` (path, contents) as one set; the first is its main file, replaced last.

    ``optional``: the files a set of this kind may lack (a scene's ``.fspy``), written now or
    not; one that the previous set wrote and this one lacks is removed with the commit (see the
    module's docstring). Returns the paths written. Raises :class:`OutputError` with one
    sentence when a file cannot be written; the previous set is then left as it was.
    """
    targets = check_targets([path for path, _ in files])
    contents = dict(zip(targets, (data for _, data in files)))
    for folder in dict.fromkeys(target.parent for target in targets):
        settle_folder(folder)
    removals: dict[Path, str] = {}
    optional_targets = [Path(os.path.abspath(path)) for path in optional]
    if optional_targets:
        main = targets[0]
        contents, removals = _with_record(main.with_name(f".{main.name}{RECORD_SUFFIX}"), contents, optional_targets)
    staged: dict[Path, Path] = {}
    try:
        for target, data in contents.items():
            staged[target] = stage(target, data)
        with _COMMIT_LOCK:
            for folder in dict.fromkeys([*(t.parent for t in contents), *(t.parent for t in removals)]):
                _commit(folder, targets[0],
                        [(staged[t], t) for t in reversed(contents) if t.parent == folder],
                        {t: digest for t, digest in removals.items() if t.parent == folder})
    finally:
        for part in staged.values():
            part.unlink(missing_ok=True)
    return targets


def stage(target: Path, data: FileContents) -> Path:
    """Write ``data`` in full to a new partial file beside ``target`` and return its path."""
    part = _spare_name(target)
    try:
        descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as error:
        raise write_error(target, error) from error
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.writelines(_pieces(data))
    except BaseException as error:
        part.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise write_error(target, error) from error
        raise
    return part


def settle_folder(folder: Path) -> None:
    """Complete the journals and remove the partial files that processes no longer running left in ``folder``."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return
    for name in names:
        match = JOURNAL_PATTERN.match(name)
        if match and not _is_running(int(match["pid"])):
            _complete(folder, folder / name)
    for name in names:
        match = PART_PATTERN.match(name)
        if match:
            stale = not _is_running(int(match["pid"]))
        else:
            stale = bool(LEGACY_PART_PATTERN.match(name)) and _age_s(folder / name) > LEGACY_PART_AGE_S
        if stale:
            (folder / name).unlink(missing_ok=True)


def _commit(folder: Path, main: Path, renames: list[tuple[Path, Path]], removals: dict[Path, str]) -> None:
    """Journal, then remove and rename; ``renames`` come in the order they are done (main last).

    A rename that fails in this process (a file held open on Windows) undoes the ones done, from
    hard-linked backups of the replaced files, so the folder keeps the previous set.
    """
    journal = folder / f".{main.name}.{os.getpid()}.{secrets.token_hex(6)}.journal"
    entry = {"remove": [[target.name, digest] for target, digest in removals.items()],
             "replace": [[part.name, target.name] for part, target in renames]}
    backups = {target: _backup(target) for _, target in renames if target.exists()}
    moved_away = {target: _spare_name(target) for target in removals}
    part = stage(journal, json.dumps(entry).encode("utf-8"))
    done: list[Path] = []
    try:
        try:
            os.replace(part, journal)
        except OSError as error:
            part.unlink(missing_ok=True)
            raise write_error(main, error) from error
        try:
            for target, spare in moved_away.items():
                os.replace(target, spare)
                done.append(target)
            for staged, target in renames:
                os.replace(staged, target)
                done.append(target)
        except OSError as error:
            _undo(done, backups, moved_away)
            raise write_error(target, error) from error
    finally:
        journal.unlink(missing_ok=True)
        for spare in (*backups.values(), *moved_away.values()):
            if spare is not None:
                spare.unlink(missing_ok=True)


def _backup(target: Path) -> Path | None:
    """A hard link to ``target`` under a partial name, or None where the file system has none."""
    backup = _spare_name(target)
    try:
        os.link(target, backup)
    except OSError:
        return None
    return backup


def _spare_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(6)}.part")


def _undo(done: list[Path], backups: dict[Path, Path | None], moved_away: dict[Path, Path]) -> None:
    """Put back what the commit had changed, last change first."""
    for target in reversed(done):
        if target in moved_away:
            os.replace(moved_away[target], target)
        elif backups.get(target) is not None:
            os.replace(backups[target], target)
        elif target not in backups:
            target.unlink(missing_ok=True)


def _complete(folder: Path, journal: Path) -> None:
    """Do what ``journal`` names — removals first, then renames in order — and remove it."""
    try:
        entry = json.loads(journal.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    for name, digest in entry["remove"]:
        target = folder / name
        if target.is_file() and _sha256(target) == digest:
            target.unlink()
    for part_name, target_name in entry["replace"]:
        part = folder / part_name
        if part.exists():
            os.replace(part, folder / target_name)
    journal.unlink(missing_ok=True)


def _pieces(data: FileContents) -> Sequence[bytes]:
    return (data,) if isinstance(data, (bytes, bytearray, memoryview)) else data


def _with_record(
    record_path: Path, contents: dict[Path, FileContents], optional: list[Path]
) -> tuple[dict[Path, FileContents], dict[Path, str]]:
    """``contents`` with the set's new record, and the files to remove (path → SHA-256).

    The record names the optional files this set writes; none, and it is removed. The previous
    record's files that this set lacks are removed when they are still the bytes it wrote. A
    file already there with this run's bytes and not in the previous record is the user's (an
    ``.fspy`` given as input, written back unchanged): it is never claimed.
    """
    try:
        previous = json.loads(record_path.read_text(encoding="utf-8"))["files"]
        previous = {name: digest for name, digest in previous.items() if isinstance(digest, str)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        previous = {}
    members = {}
    for target in optional:
        if target not in contents:
            continue
        hashed = hashlib.sha256()
        for piece in _pieces(contents[target]):
            hashed.update(piece)
        digest = hashed.hexdigest()
        foreign = target.name not in previous and target.is_file() and _sha256(target) == digest
        if not foreign:
            members[target.name] = digest
    removals = {}
    written = {target.name for target in contents}
    for name, digest in previous.items():
        path = record_path.with_name(name)
        if name not in written and path.is_file() and _sha256(path) == digest:
            removals[path] = digest
    if members:
        return {**contents, record_path: json.dumps({"files": members}, indent=2).encode("utf-8")}, removals
    if record_path.is_file():
        removals[record_path] = _sha256(record_path)
    return contents, removals


def _age_s(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_running(pid: int) -> bool:
    """Whether process ``pid`` exists (on Windows os.kill would end it, so ask the kernel)."""
    if pid == os.getpid():
        return True
    if os.name == "nt":
        import ctypes

        query_limited_information, still_active, access_denied = 0x1000, 259, 5
        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(query_limited_information, False, pid)
        if not handle:
            return ctypes.GetLastError() == access_denied
        try:
            code = ctypes.c_ulong()
            return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == still_active
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_error(target: Path, error: OSError) -> OutputError:
    """The one-sentence error for a file that could not be written."""
    return OutputError(f"Cannot write {target}: {error.strerror or error}. Choose a writable folder with free space.")
