"""Range checks for settings a user gives (CLI flags, form fields, Python arguments), before any work.

Each check returns the cleaned value or raises :class:`~hfselect_core.errors.InvalidArgumentError`
with a message that names the setting, says what was wrong and what is allowed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from . import limits
from .errors import InvalidArgumentError

MAX_SEED = 2**32 - 1  # numpy and torch both accept 0 .. 2**32 - 1 everywhere
MAX_BATCH_SIZE = 1_024  # more never speeds up a CPU and only multiplies peak memory
OUTPUT_SUFFIXES = (".csv", ".json")
_DEVICE = re.compile(r"^(cpu|cuda|mps)(:\d{1,2})?$")


def whole_number(value: object, name: str) -> int:
    """``value`` as an int; whole floats (what a number box sends) are accepted."""
    if isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be a whole number, not '{value}'.")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise InvalidArgumentError(f"{name} must be a whole number, not '{str(value)[:40]}'.") from None
    if not number.is_integer():
        raise InvalidArgumentError(f"{name} must be a whole number, not '{str(value)[:40]}'.")
    return int(number)


def in_range(value: object, name: str, low: int, high: int, hint: str = "") -> int:
    """``value`` as an int within ``low .. high`` (both included)."""
    number = whole_number(value, name)
    if not low <= number <= high:
        raise InvalidArgumentError(
            f"{name} must be between {low:,} and {high:,}, not {number:,}.{' ' + hint if hint else ''}"
        )
    return number


def check_seed(value: object, name: str = "Seed") -> int:
    return in_range(value, name, 0, MAX_SEED, "Any whole number in that range works; 42 is the default.")


def check_batch_size(value: object, name: str = "Batch size") -> int:
    return in_range(value, name, 1, MAX_BATCH_SIZE, "Larger batches only use more memory; 32 or 64 is typical.")


def check_num_examples(value: object, name: str = "Number of examples") -> int:
    return in_range(value, name, 2, limits.max_examples(), f"The upper limit is set by {limits.MAX_EXAMPLES_ENV}.")


def check_positive(value: object, name: str, high: int = 10**9) -> int:
    return in_range(value, name, 1, high)


def check_device(value: str | None) -> str | None:
    """'cpu', 'cuda', 'cuda:N' or 'mps', and only one this machine has; None means automatic."""
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    if not _DEVICE.match(text):
        raise InvalidArgumentError(
            f"Device '{str(value)[:40]}' is not one of cpu, cuda, cuda:N or mps. Leave it out to pick automatically."
        )
    import torch

    kind, _, index = text.partition(":")
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InvalidArgumentError(
                f"Device '{text}': no CUDA GPU is visible on this machine. Use 'cpu' (or leave the device out)."
            )
        if index and int(index) >= count:
            raise InvalidArgumentError(f"Device '{text}': this machine has {count} GPU(s), numbered from 0.")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InvalidArgumentError(f"Device '{text}': Apple MPS is not available here. Use 'cpu'.")
    return text


def check_output_path(value: str | os.PathLike) -> Path:
    """An output file we can write: .csv or .json, in an existing folder we may write to, not a folder."""
    path = Path(value).expanduser()
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InvalidArgumentError(f"Output '{path.name[:80]}' must end in .csv or .json.")
    if path.is_dir():
        raise InvalidArgumentError(f"Output '{str(path)[:120]}' is a folder; give a file name ending in .csv or .json.")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidArgumentError(f"Output folder '{str(parent)[:120]}' does not exist. Create it first.")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InvalidArgumentError(f"Output '{str(path)[:120]}' cannot be written here (permission denied).")
    return path
