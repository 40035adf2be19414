"""Caps that keep one request from exhausting the machine; each is set by an environment variable."""

from __future__ import annotations

import os

MAX_EXAMPLES_ENV = "HFSELECT_MAX_EXAMPLES"
MAX_TEXT_CHARS_ENV = "HFSELECT_MAX_TEXT_CHARS"
MAX_UPLOAD_MB_ENV = "HFSELECT_MAX_UPLOAD_MB"
MAX_ESMS_ENV = "HFSELECT_MAX_ESMS"
MAX_ROWS_ENV = "HFSELECT_MAX_ROWS"
MAX_COLUMNS_ENV = "HFSELECT_MAX_COLUMNS"
MAX_DECODED_MB_ENV = "HFSELECT_MAX_DECODED_MB"
MAX_CLASSES_ENV = "HFSELECT_MAX_CLASSES"
QUEUE_SIZE_ENV = "HFSELECT_QUEUE_SIZE"
MAX_JOBS_PER_CLIENT_ENV = "HFSELECT_MAX_JOBS_PER_CLIENT"
# Longest message shown to a user (a 300,000-column header must not become a 3 MB error).
MAX_MESSAGE_CHARS = 1_000


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


def max_rows() -> int:
    """Most rows read from one file (checked from its metadata or header before decoding)."""
    return _int_env(MAX_ROWS_ENV, 1_000_000)


def max_columns() -> int:
    """Most columns read from one file."""
    return _int_env(MAX_COLUMNS_ENV, 1_000)


def max_cells() -> int:
    """Most cells (rows x columns) read from one file."""
    return 20_000_000


def max_decoded_bytes() -> int:
    """Most bytes one file may take once decoded (a small compressed file can expand 1000-fold)."""
    return _int_env(MAX_DECODED_MB_ENV, 300) * 1_000_000


def max_classes() -> int:
    """Most classes in a classification target (LogME fits one target per class)."""
    return _int_env(MAX_CLASSES_ENV, 1_000)


def max_queued_jobs() -> int:
    """Most rankings and trainings waiting or running at once in the app."""
    return _int_env(QUEUE_SIZE_ENV, 20)


def max_jobs_per_client() -> int:
    """Most rankings one client (browser session or IP) may have waiting or running at once."""
    return _int_env(MAX_JOBS_PER_CLIENT_ENV, 2)


def bounded(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``message`` cut to ``limit`` characters, saying how much was left out."""
    if len(message) <= limit:
        return message
    return message[: limit - 40].rstrip() + f"... ({len(message) - limit + 40:,} more characters)"


def describe() -> dict[str, str]:
    """The caps in force, for the UI."""
    return {
        "examples per ranking": f"{max_examples():,} ({MAX_EXAMPLES_ENV})",
        "characters per text": f"{max_text_chars():,} ({MAX_TEXT_CHARS_ENV})",
        "upload size": f"{max_upload_bytes() // 1_000_000} MB ({MAX_UPLOAD_MB_ENV})",
        "ESMs per ranking": f"{max_esms():,} ({MAX_ESMS_ENV})",
        "rows per file": f"{max_rows():,} ({MAX_ROWS_ENV})",
        "columns per file": f"{max_columns():,} ({MAX_COLUMNS_ENV})",
        "decoded file size": f"{max_decoded_bytes() // 1_000_000} MB ({MAX_DECODED_MB_ENV})",
        "classes": f"{max_classes():,} and at most half the examples ({MAX_CLASSES_ENV})",
    }
