"""Caps that keep one request from exhausting the machine; each is set by an environment variable.

The variables are read in :mod:`.settings`; these functions name the caps where they are checked.
"""

from __future__ import annotations

from .settings import (  # noqa: F401 - the variable names stay importable from here
    MAX_CLASSES_ENV,
    MAX_COLUMNS_ENV,
    MAX_DECODED_MB_ENV,
    MAX_ESMS_ENV,
    MAX_EXAMPLES_ENV,
    MAX_JOBS_PER_CLIENT_ENV,
    MAX_ROWS_ENV,
    MAX_TEXT_CHARS_ENV,
    MAX_UPLOAD_MB_ENV,
    QUEUE_SIZE_ENV,
    get_settings,
)

# Longest message shown to a user (a 300,000-column header must not become a 3 MB error).
MAX_MESSAGE_CHARS = 1_000


def max_examples() -> int:
    """Most target examples embedded per request."""
    return get_settings().max_examples


def max_text_chars() -> int:
    """Characters kept per text (the tokenizer truncates further at 128 tokens)."""
    return get_settings().max_text_chars


def max_upload_bytes() -> int:
    """Largest file read as a target dataset."""
    return get_settings().max_upload_mb * 1_000_000


def max_esms() -> int:
    """Most ESMs scored per request."""
    return get_settings().max_esms


def max_rows() -> int:
    """Most rows read from one file (checked from its metadata or header before decoding)."""
    return get_settings().max_rows


def max_columns() -> int:
    """Most columns read from one file."""
    return get_settings().max_columns


def max_cells() -> int:
    """Most cells (rows x columns) read from one file."""
    return 20_000_000


def max_decoded_bytes() -> int:
    """Most bytes one file may take once decoded (a small compressed file can expand 1000-fold)."""
    return get_settings().max_decoded_mb * 1_000_000


def max_classes() -> int:
    """Most classes in a classification target (LogME fits one target per class)."""
    return get_settings().max_classes


def max_queued_jobs() -> int:
    """Most rankings and trainings waiting or running at once in the app."""
    return get_settings().queue_size


def max_jobs_per_client() -> int:
    """Most rankings one client (browser session or IP) may have waiting or running at once."""
    return get_settings().max_jobs_per_client


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
