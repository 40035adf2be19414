"""Path and upload safety: keep user-given paths inside allowed folders and uploads within the caps.

* :func:`resolve_inside` resolves a (possibly relative) path against a root, following symlinks,
  and refuses anything that ends up outside the root (``../``, absolute paths, symlinks out).
* :func:`check_upload` checks an uploaded file before it is read: it must be a regular file
  inside Gradio's upload folder or an allowed root, and not larger than the upload cap.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from . import limits
from .errors import InputTooLargeError, UnsafePathError, UnsupportedFileError
from .settings import get_settings


def resolve_inside(path: str | os.PathLike, root: str | os.PathLike) -> Path:
    """The real path of ``path`` (relative paths are taken from ``root``); it must lie inside ``root``.

    Symlinks are resolved on both sides before the check, so a link pointing out of ``root`` is
    refused too. Raises :class:`UnsafePathError` otherwise.
    """
    text = os.fspath(path)
    if not text or "\x00" in text:
        raise UnsafePathError(text.replace("\x00", "\\0") or "(empty)", str(root))
    root_real = Path(root).expanduser().resolve()
    candidate = Path(text).expanduser()
    if not candidate.is_absolute():
        candidate = root_real / candidate
    real = candidate.resolve()
    if real != root_real and not real.is_relative_to(root_real):
        raise UnsafePathError(text, str(root_real))
    return real


def gradio_upload_dirs() -> list[Path]:
    """Folders Gradio writes uploads to: ``GRADIO_TEMP_DIR`` or ``<system temp>/gradio``."""
    dirs = []
    configured = get_settings().gradio_temp_dir
    if configured is not None:
        dirs.append(configured)
    dirs.append(Path(tempfile.gettempdir()) / "gradio")
    return dirs


def check_upload(path: str | os.PathLike, allowed_roots: Iterable[str | os.PathLike] = ()) -> Path:
    """The real path of an uploaded file, after checking where it lives, what it is and its size.

    The file must be inside Gradio's upload folder (see :func:`gradio_upload_dirs`) or one of
    ``allowed_roots`` (symlinks resolved), be a regular file, and be at most
    :func:`limits.max_upload_bytes` bytes; the size is checked with ``stat`` before any read.
    """
    if path is None or not os.fspath(path):
        raise UnsupportedFileError("No file was uploaded. Upload a CSV, TSV, JSON, JSONL or Parquet file.")
    roots = [Path(r) for r in allowed_roots] + gradio_upload_dirs()
    real: Path | None = None
    for root in roots:
        try:
            real = resolve_inside(path, root)
            break
        except UnsafePathError:
            continue
    if real is None:
        shown = ", ".join(str(r) for r in roots)
        raise UnsafePathError(os.fspath(path), shown)
    name = Path(os.fspath(path)).name
    if not real.exists():
        raise UnsupportedFileError(f"The uploaded file '{name}' no longer exists. Upload it again.")
    if not real.is_file():
        raise UnsupportedFileError(f"'{name}' is not a regular file. Upload a CSV, TSV, JSON, JSONL or Parquet file.")
    size = real.stat().st_size
    cap = limits.max_upload_bytes()
    if size > cap:
        raise InputTooLargeError(
            f"'{name}' is {size / 1e6:.1f} MB; the limit is {cap / 1e6:.0f} MB "
            f"(set {limits.MAX_UPLOAD_MB_ENV} to change it). Upload a sample of your data."
        )
    return real
