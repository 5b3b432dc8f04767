"""Where depth weights live, how they are downloaded and verified, and how they are read.

* :func:`models_dir`: the folder a caller passes (A1111: ``models/depth3d`` or its setting),
  else ``$DEPTH3D_MODELS_DIR``, else ``~/.cache/depth3d/models``.
* :func:`download`: to ``<name>.part`` first, resumed with an HTTP ``Range`` request when a
  partial file exists, verified against the registry's SHA-256 and only then renamed into place.
  The whole download holds ``<name>.lock`` (:func:`download_lock`), so two WebUI instances, a
  WebUI and a command line run, or two threads never write into one ``.part``.
* :func:`read_checkpoint` / :func:`read_state_dict`: safetensors, or torch's own ``weights_only`` loader — never a full
  unpickler, and never A1111's replacement of ``torch.load`` (``modules/safe.py``), which refuses
  files written by recent torch and hides why.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from lib_depth3d.depth.registry import ModelSpec, WeightFile
from lib_depth3d.depth.weights_advice import MODELS_DIR_ENV, MODELS_FOLDER_ADVICE
from lib_depth3d.errors import WeightsError

CHUNK_BYTES = 1 << 20

LOCK_POLL_S = 0.2
LOCK_STALL_TIMEOUT_S = 300.0

DownloadProgress = Callable[[int, "int | None"], None]
"""Called with (bytes on disk so far, total bytes or None when the server does not say)."""

WaitNotice = Callable[[str], None]
"""Called once with a sentence for the user when another download of the same file runs first."""

def models_dir(folder: str | os.PathLike | None = None) -> Path:
    """The folder holding depth weights (not created here): ``folder`` when given, else
    ``$DEPTH3D_MODELS_DIR``, else ``~/.cache/depth3d/models``."""
    if folder is not None:
        return Path(folder).expanduser()
    configured = os.environ.get(MODELS_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "depth3d" / "models"


def webui_models_dir(setting: str | None, webui_models_path: str | os.PathLike) -> Path:
    """The models folder inside the WebUI: the "Depth model folder" setting when set, else
    ``depth3d`` in the WebUI's models folder."""
    return Path(setting) if setting else Path(webui_models_path) / "depth3d"


def local_file(spec: ModelSpec, folder: str | os.PathLike | None = None) -> tuple[Path, WeightFile] | None:
    """The first of ``spec.files`` present in :func:`models_dir` (``folder``), or None."""
    folder = models_dir(folder)
    for weight_file in spec.files:
        candidate = folder / weight_file.filename
        if candidate.is_file():
            return candidate, weight_file
    return None


def manual_download_advice(spec: ModelSpec, folder: str | os.PathLike | None = None) -> str:
    """What to download by hand and where to save it (the models folder, ``folder``), for a user
    without network access."""
    primary = spec.files[0]
    checksum = f" (SHA-256 {primary.sha256})" if primary.sha256 else ""
    return (
        f"Download {primary.url}{checksum} ({primary.size_label}) "
        f"and save it as {models_dir(folder) / primary.filename}"
    )


def missing_weights_message(spec: ModelSpec, reason: str, folder: str | os.PathLike | None = None,
                            advice: str = MODELS_FOLDER_ADVICE) -> str:
    """Why the weights are missing and how to get them; ``advice``: how to use a file kept
    elsewhere, in the words of where the message is shown (:data:`~.weights_advice.WEIGHTS_OPTION_ADVICE`,
    :data:`~.weights_advice.WEBUI_ADVICE`, …)."""
    return (
        f"The weights of {spec.name} are not available: {reason}. "
        f"{manual_download_advice(spec, folder)}. {advice}"
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, weight_file: WeightFile) -> None:
    """Raise :class:`WeightsError` when ``path`` does not have the published size and SHA-256."""
    size = path.stat().st_size
    if weight_file.size_bytes is not None and size != weight_file.size_bytes:
        raise WeightsError(
            f"{path} has {size} bytes but {weight_file.filename} has {weight_file.size_bytes}: the file is "
            "truncated or a different file. Delete it and download it again."
        )
    if weight_file.sha256 is not None:
        actual = sha256_of(path)
        if actual != weight_file.sha256:
            raise WeightsError(
                f"{path} has SHA-256 {actual}, expected {weight_file.sha256} for {weight_file.filename}: the "
                "file is corrupt or a different file. Delete it and download it again."
            )


def download(
    weight_file: WeightFile,
    folder: Path | None = None,
    *,
    progress: DownloadProgress | None = None,
    allow_unverified: bool = False,
    timeout_s: float = 30.0,
    on_wait: WaitNotice | None = None,
    stall_timeout_s: float = LOCK_STALL_TIMEOUT_S,
) -> Path:
    """Download ``weight_file`` into ``folder`` (default :func:`models_dir`) and return its path.

    A partial ``.part`` file left by an interrupted run is resumed. The file is renamed into
    place only after its SHA-256 matches; a mismatch deletes the partial file. A file whose hash
    the registry does not know is refused unless ``allow_unverified`` is true. A file already in
    place is returned as it is (:func:`verify` checks it before use).

    While another process or thread downloads the same file, this call waits (``on_wait`` hears
    about it) and then returns the file that one put in place; ``stall_timeout_s`` is as in
    :func:`download_lock`. ``timeout_s`` bounds each network operation.
    """
    if weight_file.sha256 is None and not allow_unverified:
        raise WeightsError(
            f"No published SHA-256 is recorded for {weight_file.filename}, so it is not downloaded unverified."
        )
    folder = models_dir() if folder is None else Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WeightsError(f"Cannot create the models folder {folder}: {error.strerror or error}.") from error
    destination = folder / weight_file.filename
    partial = _beside(destination, ".part")
    with download_lock(destination, stall_timeout_s=stall_timeout_s, on_wait=on_wait):
        if destination.is_file():
            return destination  # the download we waited for put it there
        _fetch(weight_file.url, partial, progress, timeout_s)
        try:
            verify(partial, weight_file)
        except WeightsError:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, destination)
    return destination


class DownloadLockError(WeightsError):
    """The download lock cannot be taken: its holder is stuck, or the folder has no locks. Its
    message says what to do; it is not a missing-file problem."""


@contextmanager
def download_lock(
    destination: Path,
    *,
    stall_timeout_s: float = LOCK_STALL_TIMEOUT_S,
    on_wait: WaitNotice | None = None,
) -> Iterator[None]:
    """Hold ``<destination>.lock`` exclusively for as long as the ``with`` block runs.

    The lock is the operating system's (``flock`` on POSIX, ``msvcrt.locking`` on Windows) on a
    handle of its own, so it excludes other processes and other threads alike, and a crashed
    holder releases it: a lock file left behind does not block. A waiter polls; it gives up with
    :class:`WeightsError` naming the lock file when the holder's ``.part`` file has not changed
    for ``stall_timeout_s`` seconds. The lock file is removed when released.
    """
    lock_path = _beside(destination, ".lock")
    partial = _beside(destination, ".part")
    notified = False
    last_seen: object = _NOT_YET_SEEN
    deadline = 0.0
    while (handle := _try_lock(lock_path)) is None:
        seen = _size_or_none(partial)
        if seen != last_seen:  # the holder made progress: give it the full allowance again
            last_seen, deadline = seen, time.monotonic() + stall_timeout_s
        elif time.monotonic() >= deadline:
            raise DownloadLockError(
                f"Gave up waiting for another download of {destination.name}: the process holding {lock_path} "
                f"made no progress for {stall_timeout_s:g} s. Stop that process (another WebUI or a "
                "`python -m lib_depth3d` run) and try again."
            )
        if on_wait is not None and not notified:
            on_wait(f"Waiting for another download of {destination.name} to finish")
            notified = True
        time.sleep(LOCK_POLL_S)
    try:
        yield
    finally:
        _release(handle, lock_path)


_NOT_YET_SEEN = object()


def _beside(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _size_or_none(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _try_lock(lock_path: Path) -> int | None:
    """An open handle on ``lock_path`` holding its lock, or None while someone else holds it."""
    try:
        handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        # Left by a crashed run of another user sharing the models folder: a read handle locks too.
        handle = _open_read_only(lock_path)
    except OSError as error:
        raise DownloadLockError(f"Cannot create the lock file {lock_path}: {error.strerror or error}.") from error
    try:
        locked = _lock_now(handle)
    except OSError as error:  # e.g. a network file system without locks
        os.close(handle)
        raise DownloadLockError(
            f"Cannot lock {lock_path} ({error.strerror or error}). Choose a models folder on a local disk, "
            "or download the file yourself and save it there."
        ) from error
    if locked and _still_named(handle, lock_path):
        return handle
    if locked:  # its holder removed the file while we opened it: the next try opens the new one
        _unlock(handle)
    os.close(handle)
    return None


def _open_read_only(lock_path: Path) -> int:
    try:
        return os.open(lock_path, os.O_RDONLY)
    except OSError as error:
        raise DownloadLockError(f"Cannot open the lock file {lock_path}: {error.strerror or error}.") from error


def _still_named(handle: int, lock_path: Path) -> bool:
    try:
        named = os.stat(lock_path)
    except FileNotFoundError:
        return False
    held = os.fstat(handle)
    return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)


def _release(handle: int, lock_path: Path) -> None:
    if os.name != "nt":
        # Removed while still held: a waiter that opened this file finds it gone and opens a new one.
        lock_path.unlink(missing_ok=True)
    _unlock(handle)
    os.close(handle)
    if os.name == "nt":
        # Windows refuses to delete a file another process has open, which keeps it for that waiter.
        with suppress(OSError):
            lock_path.unlink()


if os.name == "nt":
    import msvcrt

    def _lock_now(handle: int) -> bool:
        os.lseek(handle, 0, os.SEEK_SET)  # msvcrt locks bytes from the current position
        try:
            msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)
        except OSError as error:
            if error.errno in (errno.EACCES, errno.EDEADLOCK):  # another handle holds the byte
                return False
            raise
        return True

    def _unlock(handle: int) -> None:
        os.lseek(handle, 0, os.SEEK_SET)
        msvcrt.locking(handle, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock_now(handle: int) -> bool:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(handle: int) -> None:
        fcntl.flock(handle, fcntl.LOCK_UN)


def _fetch(url: str, partial: Path, progress: DownloadProgress | None, timeout_s: float) -> None:
    """Append the rest of ``url`` to ``partial`` (HTTP Range), or restart when the server ignores the range."""
    # Imported here: the HTTP client costs every command that reads weights or names this module
    # (a scene from a depth file) about 30 ms, and only a download uses it.
    import http.client
    import urllib.error
    import urllib.parse
    import urllib.request

    have = partial.stat().st_size if partial.exists() else 0
    headers = {"User-Agent": "depth3d", "Range": f"bytes={have}-"} if have else {"User-Agent": "depth3d"}
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:
            return  # the partial file is already complete; verification decides
        raise WeightsError(f"Downloading {url} failed: HTTP {error.code} {error.reason}.") from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        host = urllib.parse.urlsplit(url).hostname or url
        raise WeightsError(f"Cannot reach {host} to download {partial.with_suffix('').name} ({reason}); check the network.") from error
    with response:
        resumed = response.status == 206
        content_range = response.headers.get("Content-Range")
        if resumed and content_range is not None and not content_range.startswith(f"bytes {have}-"):
            raise WeightsError(
                f"The server answered {content_range} when asked for the rest of {url} from byte {have}; "
                f"delete {partial} and download again."
            )
        length = response.headers.get("Content-Length")
        total = (int(length) + (have if resumed else 0)) if length is not None else None
        done = have if resumed else 0
        try:
            with open(partial, "ab" if resumed else "wb") as handle:
                while chunk := response.read(CHUNK_BYTES):
                    handle.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
        except (OSError, ValueError, http.client.HTTPException) as error:
            raise WeightsError(
                f"The download of {url} was interrupted after {done} bytes ({error}); run it again to resume."
            ) from error
    if total is not None and done < total:
        raise WeightsError(
            f"The download of {url} stopped after {done} of {total} bytes; run it again to resume."
        )


@dataclass(frozen=True)
class Checkpoint:
    """A weight file's tensors and, for architectures whose files carry it (MoGe's ``model.pt``:
    ``{'model_config': {...}, 'model': state_dict}``), the network's configuration (else None)."""

    state: dict
    config: dict | None = None


def read_state_dict(path: str | os.PathLike) -> dict:
    """Tensors of a ``.safetensors`` file or a ``torch.save``d state dict, on the CPU
    (:func:`read_checkpoint`'s ``state``)."""
    return read_checkpoint(path).state


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Tensors of a ``.safetensors`` file or a ``torch.save``d state dict, on the CPU, with the
    configuration a ``{'model_config': …, 'model': …}`` file carries.

    A ``.pth`` goes through torch's own ``weights_only`` loader (``torch.serialization.load``):
    A1111 replaces ``torch.load`` with a checker that refuses the archives recent torch writes
    (``bad file inside …/.format_version``) and then returns None, while ``weights_only``
    already refuses anything but tensors and plain containers. A refused file is named with its
    real cause.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Weight file not found: {path}.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.serialization.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # each reader raises its own types for a damaged file
        raise WeightsError(_unreadable_message(path, error)) from error
    config = None
    if isinstance(state, dict) and isinstance(state.get("model_config"), dict) and isinstance(state.get("model"), dict):
        config, state = state["model_config"], state["model"]
    if isinstance(state, dict) and "model" in state and "optimizer" in state:
        state = state["model"]
    if not isinstance(state, dict):
        raise WeightsError(f"{path} holds a {type(state).__name__}, not a state dict of tensors: it is not a weight "
                           "file of a depth network. Use the published file.")
    not_tensors = [(key, value) for key, value in state.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        key, value = not_tensors[0]
        raise WeightsError(f"{path} is not a state dict of tensors: its entry {key!r} is a {type(value).__name__} "
                           f"({len(not_tensors)} such entries). Use the published weight file.")
    return Checkpoint(state, config)


_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported (?:global: GLOBAL|class) ([\w.]+)")  # torch ≥ 2.4; before
_TERMINAL_CODES = re.compile(r"\x1b\[[0-9;]*m")


def _unreadable_message(path: Path, error: Exception) -> str:
    """Why ``path`` could not be read: Python objects the safe loader refuses to rebuild, or
    the reader's own first sentence (a truncated archive, not a weight file at all)."""
    text = _TERMINAL_CODES.sub("", str(error))
    refused = _UNSUPPORTED_GLOBAL.search(text)
    if refused is not None:
        return (
            f"{path} holds Python objects besides tensors ({refused.group(1)}), which the safe weights loader "
            "refuses to rebuild: it is not a plain weight file. Use the published file, or save its state dict "
            "alone with torch.save(model.state_dict(), …)."
        )
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    first = first.split(". ")[0].rstrip(".")
    return (
        f"{path} cannot be read as weights ({type(error).__name__}: {first}). The file is truncated "
        "or not a weight file; delete it and download it again."
    )


def load_into(model, state: dict, source: str) -> None:
    """Load ``state``, already under ``model``'s own names (see ``Adapter.to_own_layout``), into
    ``model`` with ``strict=True``.

    ``model`` may live on the meta device (built without initialising its parameters): the
    checkpoint's tensors are then assigned to it rather than copied. A missing or unexpected
    key, or a tensor of the wrong shape, raises :class:`WeightsError`.
    """
    expected = set(model.state_dict())
    missing = sorted(expected - state.keys())
    unexpected = sorted(state.keys() - expected)
    name = type(model).__name__
    if missing or unexpected:
        details = []
        if missing:
            details.append(f"{len(missing)} missing key(s), e.g. {', '.join(missing[:3])}")
        if unexpected:
            details.append(f"{len(unexpected)} unexpected key(s), e.g. {', '.join(unexpected[:3])}")
        raise WeightsError(
            f"{source} does not fit the {name} network: {'; '.join(details)}. "
            "Check that the file belongs to the chosen model."
        )
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[-1].strip()
        raise WeightsError(f"{source} does not fit the {name} network: {first}") from error
