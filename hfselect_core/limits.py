"""Caps that keep one request from exhausting the machine; each is set by an environment variable."""

from __future__ import annotations

import os

MAX_EXAMPLES_ENV = "HFSELECT_MAX_EXAMPLES"
MAX_TEXT_CHARS_ENV = "HFSELECT_MAX_TEXT_CHARS"
MAX_UPLOAD_MB_ENV = "HFSELECT_MAX_UPLOAD_MB"
MAX_ESMS_ENV = "HFSELECT_MAX_ESMS"


def _int_env(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def max_examples() -> int:
    """Most target examples embedded per request."""
    return _int_env(MAX_EXAMPLES_ENV, 10_000)


def max_text_chars() -> int:
    """Characters kept per text (the tokenizer truncates further at 128 tokens)."""
    return _int_env(MAX_TEXT_CHARS_ENV, 20_000)


def max_upload_bytes() -> int:
    """Largest file read as a target dataset."""
    return _int_env(MAX_UPLOAD_MB_ENV, 100) * 1_000_000


def max_esms() -> int:
    """Most ESMs scored per request."""
    return _int_env(MAX_ESMS_ENV, 5_000)


def describe() -> dict[str, str]:
    """The caps in force, for the UI."""
    return {
        "examples per ranking": f"{max_examples():,} ({MAX_EXAMPLES_ENV})",
        "characters per text": f"{max_text_chars():,} ({MAX_TEXT_CHARS_ENV})",
        "upload size": f"{max_upload_bytes() // 1_000_000} MB ({MAX_UPLOAD_MB_ENV})",
        "ESMs per ranking": f"{max_esms():,} ({MAX_ESMS_ENV})",
    }
