"""Where depth weights live, how they are downloaded and verified, and how they are read.

* :func:`models_dir`: ``$DEPTH3D_MODELS_DIR`` (A1111 sets it to ``models/depth3d`` through
  :func:`set_models_dir`), else ``~/.cache/depth3d/models``.
* :func:`download`: to ``<name>.part`` first, resumed with an HTTP ``Range`` request when a
  partial file exists, verified against the registry's SHA-256 and only then renamed into place.
* :func:`read_state_dict`: safetensors, or ``torch.load(weights_only=True)`` — never a full
  unpickler (A1111 refuses those too).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from lib_depth3d.depth.registry import ModelSpec, WeightFile
from lib_depth3d.errors import WeightsError

MODELS_DIR_ENV = "DEPTH3D_MODELS_DIR"
CHUNK_BYTES = 1 << 20

DownloadProgress = Callable[[int, "int | None"], None]
"""Called with (bytes on disk so far, total bytes or None when the server does not say)."""


def models_dir() -> Path:
    """The folder holding depth weights (not created here)."""
    configured = os.environ.get(MODELS_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "depth3d" / "models"


def set_models_dir(path: str | os.PathLike) -> None:
    """Point :func:`models_dir` at ``path`` for this process (A1111: ``<models_path>/depth3d``)."""
    os.environ[MODELS_DIR_ENV] = str(Path(path))


def local_file(spec: ModelSpec) -> tuple[Path, WeightFile] | None:
    """The first of ``spec.files`` present in :func:`models_dir`, or None."""
    folder = models_dir()
    for weight_file in spec.files:
        candidate = folder / weight_file.filename
        if candidate.is_file():
            return candidate, weight_file
    return None


def missing_weights_message(spec: ModelSpec, reason: str) -> str:
    """What to download and where to put it, for a user without network access."""
    primary = spec.files[0]
    target = models_dir() / primary.filename
    checksum = f" (SHA-256 {primary.sha256})" if primary.sha256 else ""
    return (
        f"The weights of {spec.name} are not available: {reason}. Download {primary.url}{checksum} "
        f"({primary.size_label}) and save it as {target}, or pass its path with --weights."
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
) -> Path:
    """Download ``weight_file`` into ``folder`` (default :func:`models_dir`) and return its path.

    A partial ``.part`` file left by an interrupted run is resumed. The file is renamed into
    place only after its SHA-256 matches; a mismatch deletes the partial file. A file whose hash
    the registry does not know is refused unless ``allow_unverified`` is true. A file already in
    place is returned as it is (:func:`verify` checks it before use).
    """
    if weight_file.sha256 is None and not allow_unverified:
        raise WeightsError(
            f"No published SHA-256 is recorded for {weight_file.filename}, so a download cannot be verified. "
            "Allow unverified weights explicitly (--allow-unverified) or place the file yourself."
        )
    folder = models_dir() if folder is None else Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WeightsError(f"Cannot create the models folder {folder}: {error.strerror or error}.") from error
    destination = folder / weight_file.filename
    partial = folder / (weight_file.filename + ".part")
    with _lock_for(destination):  # two requests for the same model must not append to one .part
        if destination.is_file():
            return destination  # the other request finished it
        _fetch(weight_file.url, partial, progress, timeout_s)
        try:
            verify(partial, weight_file)
        except WeightsError:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, destination)
    return destination


_download_locks: dict[Path, threading.Lock] = {}
_download_locks_guard = threading.Lock()


def _lock_for(destination: Path) -> threading.Lock:
    with _download_locks_guard:
        return _download_locks.setdefault(destination.resolve(), threading.Lock())


def _fetch(url: str, partial: Path, progress: DownloadProgress | None, timeout_s: float) -> None:
    """Append the rest of ``url`` to ``partial`` (HTTP Range), or restart when the server ignores the range."""
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
        raise WeightsError(
            f"Cannot download {url} ({reason}). Check the network, or download the file yourself "
            f"and save it as {partial.with_suffix('')}."
        ) from error
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


def read_state_dict(path: str | os.PathLike) -> dict:
    """Tensors of a ``.safetensors`` file or a ``torch.save``d state dict, on the CPU."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Weight file not found: {path}.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # each reader raises its own types for a damaged file
        raise WeightsError(
            f"{path} cannot be read as weights ({type(error).__name__}: {error}). The file is truncated "
            "or not a weight file; delete it and download it again."
        ) from error
    if isinstance(state, dict) and "model" in state and "optimizer" in state:
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise WeightsError(f"{path} does not hold a state dict of tensors.")
    return state


HF_PREFIXES = ("backbone.", "neck.", "head.", "dpt.")


def load_into(model, state: dict, source: str) -> None:
    """Load ``state`` (original or Hugging Face layout) into ``model`` with ``strict=True``.

    ``model`` may live on the meta device (built without initialising its parameters): the
    checkpoint's tensors are then assigned to it rather than copied.

    ``model`` declares ``HF_RULES`` (renaming from the transformers layout) and ``UNUSED_KEYS``
    (prefixes of checkpoint parts the depth network never runs, such as an ImageNet classifier).
    A missing or unexpected key, or a tensor of the wrong shape, raises :class:`WeightsError`.
    """
    from lib_depth3d.depth.layouts import rename

    if any(key.startswith(HF_PREFIXES) for key in state):
        state = rename(state, model.HF_RULES)
    state = {key: value for key, value in state.items() if not key.startswith(tuple(model.UNUSED_KEYS))}
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
