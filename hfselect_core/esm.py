"""Embedding Space Maps: the config and the module, read and written in the Hub format.

An ESM folder (or Hub model repo) holds ``config.json``, ``model.safetensors`` and ``README.md``.
Weights are ``model.weight`` [d, d] and ``model.bias`` [d]; legacy ESMs (config ``version``
"0.1.0") store ``sequential.0.weight`` / ``sequential.0.bias``. Only JSON and safetensors are
ever read: no pickle.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from .errors import ESMDimensionError, ESMFormatError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
ESM_VERSION = "0.2.0"
LEGACY_VERSION = "0.1.0"
# A real config is 1-3 KB (label names included); anything near this is not an ESM config.
MAX_CONFIG_BYTES = 256_000
# d = 8192 in float32 is 256 MB; no base model with ESMs comes near it.
MAX_EMBEDDING_DIM = 8192
MAX_WEIGHTS_BYTES = 4 * (MAX_EMBEDDING_DIM**2 + MAX_EMBEDDING_DIM) + 1_000_000
MAX_EXTRA_KEYS = 200
MAX_NESTING = 8

# The schema of the known keys: (kind, lower bound, upper bound). Strings are bounded in length
# (characters), lists of strings in items; numbers in value. None is always allowed (missing).
_ID = ("str", 1, 300)
_SHORT = ("str", 0, 200)
_NAMES = ("str_or_list", 0, 64)
_COUNT = ("int", 0, 10**12)
_BATCH = ("int", 1, 10**7)
_EPOCHS = ("float", 0.0, 1e6)
_RATE = ("float", 0.0, 1e3)
CONFIG_SCHEMA: dict[str, tuple[str, float, float]] = {
    "base_model_name": _ID,
    "task_id": _ID,
    "task_subset": _SHORT,
    "text_column": _NAMES,
    "label_column": _NAMES,
    "task_split": _SHORT,
    "num_examples": _COUNT,
    "seed": ("int", -(2**63), 2**64 - 1),
    "language": _NAMES,
    "esm_architecture": _SHORT,
    "esm_embedding_dim": ("int", 1, MAX_EMBEDDING_DIM),
    "lm_num_epochs": _EPOCHS,
    "lm_batch_size": _BATCH,
    "lm_learning_rate": _RATE,
    "lm_weight_decay": _RATE,
    "lm_optimizer": _SHORT,
    "esm_num_epochs": _EPOCHS,
    "esm_batch_size": _BATCH,
    "esm_learning_rate": _RATE,
    "esm_weight_decay": _RATE,
    "esm_optimizer": _SHORT,
    "developers": ("str_or_list", 0, 2000),
    "version": ("str", 1, 40),
    "pooling": ("str", 1, 100),
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclasses.dataclass
class ESMConfig:
    """Metadata of one ESM. Field names are the keys of the ``config.json`` files on the Hub."""

    base_model_name: str | None = None
    task_id: str | None = None
    task_subset: str | None = None
    text_column: str | None = None
    label_column: str | None = None
    task_split: str | None = None
    num_examples: int | None = None
    seed: int | None = None
    language: str | None = None
    esm_architecture: str | None = "linear"
    esm_embedding_dim: int | None = None
    lm_num_epochs: float | None = None
    lm_batch_size: int | None = None
    lm_learning_rate: float | None = None
    lm_weight_decay: float | None = None
    lm_optimizer: str | None = None
    esm_num_epochs: float | None = None
    esm_batch_size: int | None = None
    esm_learning_rate: float | None = None
    esm_weight_decay: float | None = None
    esm_optimizer: str | None = None
    developers: str | None = None
    version: str | None = ESM_VERSION
    pooling: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ESMConfig:
        """Build a config; unknown keys are kept in ``extra``, missing ones are None."""
        if not isinstance(data, dict):
            raise ESMFormatError(f"config.json must hold a JSON object, found {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: check_field(k, v) for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names}
        _check_extra(extra)
        # Absent keys are None, not our defaults: a legacy config without "version" is not ours.
        values = {name: known.get(name) for name in names}
        return cls(**values, extra=extra)

    @classmethod
    def from_json_file(cls, path: str | Path) -> ESMConfig:
        """Read and check a config.json: a regular file of at most MAX_CONFIG_BYTES, valid JSON, the schema."""
        path = Path(path)
        raw = read_regular_file(path, MAX_CONFIG_BYTES)
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ESMFormatError(f"{path.name} is not UTF-8 text") from None
        except ValueError as e:  # JSONDecodeError, and integers of more than 4,300 digits
            raise ESMFormatError(f"{path.name} is not valid JSON: {str(e)[:120]}") from None
        except RecursionError:
            raise ESMFormatError(f"{path.name} is nested too deeply to be an ESM config") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        if data["pooling"] is None:
            del data["pooling"]
        data.update(self.extra)
        return data

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def validate(self) -> None:
        """Raise :class:`ESMFormatError` unless the config names its task and base model."""
        missing = [k for k in ("task_id", "base_model_name") if not getattr(self, k)]
        if missing:
            raise ESMFormatError(f"config.json has no {' and no '.join(missing)}")
        if self.esm_architecture not in (None, "linear"):
            raise ESMFormatError(f"unsupported ESM architecture '{self.esm_architecture[:60]}' (only 'linear')")

    @property
    def is_legacy(self) -> bool:
        return self.version == LEGACY_VERSION


class ESM(torch.nn.Module):
    """A linear Embedding Space Map ``y = W x + b`` with its metadata."""

    def __init__(self, embedding_dim: int, config: ESMConfig | None = None, name: str | None = None):
        super().__init__()
        self.config = config or ESMConfig(esm_embedding_dim=embedding_dim)
        if self.config.esm_embedding_dim is None:
            self.config.esm_embedding_dim = embedding_dim
        self.model = torch.nn.Linear(embedding_dim, embedding_dim)
        self.name = name or self.config.task_id or "esm"
        self.source = "given"  # set by the source that loads it (see protocols.ESMLike)

    @property
    def source_label(self) -> str:
        """The old name of :attr:`source`."""
        return self.source

    @property
    def embedding_dim(self) -> int:
        return self.model.in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def weight_and_bias(self) -> tuple[np.ndarray, np.ndarray]:
        return (
            self.model.weight.detach().cpu().numpy(),
            self.model.bias.detach().cpu().numpy(),
        )

    def check_dim(self, model_dim: int) -> None:
        if self.embedding_dim != model_dim:
            raise ESMDimensionError(self.name, self.embedding_dim, model_dim)

    @classmethod
    def from_weights(
        cls, weight: np.ndarray, bias: np.ndarray, config: ESMConfig | None = None, name: str | None = None
    ) -> ESM:
        weight = np.asarray(weight, dtype=np.float32)
        bias = np.asarray(bias, dtype=np.float32)
        esm = cls(weight.shape[1], config=config, name=name)
        with torch.no_grad():
            esm.model.weight.copy_(torch.from_numpy(weight))
            esm.model.bias.copy_(torch.from_numpy(bias))
        return esm

    @classmethod
    def from_folder(cls, folder: str | Path, name: str | None = None) -> ESM:
        """Load an ESM folder; raise :class:`ESMFormatError` with the reason if it is unusable."""
        folder = Path(folder)
        label = name or folder.name
        if not folder.is_dir():
            raise ESMFormatError(f"{label}: no such folder")
        try:
            config = ESMConfig.from_json_file(folder / CONFIG_NAME)
            config.validate()
            weight, bias = _read_weights(folder / WEIGHTS_NAME)
        except ESMFormatError as e:
            raise ESMFormatError(f"{label}: {e}") from None
        if config.esm_embedding_dim is None:
            config.esm_embedding_dim = weight.shape[1]
        elif int(config.esm_embedding_dim) != weight.shape[1]:
            raise ESMFormatError(
                f"{label}: config says dimension {config.esm_embedding_dim}, weights are {weight.shape[1]}"
            )
        return cls.from_weights(weight, bias, config=config, name=label)

    def save(self, folder: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` (always the current weight names)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        weight, bias = self.weight_and_bias()
        save_file(
            {"model.weight": np.ascontiguousarray(weight), "model.bias": np.ascontiguousarray(bias)},
            str(folder / WEIGHTS_NAME),
            metadata={"format": "pt"},
        )
        if self.config.version in (None, LEGACY_VERSION):
            self.config.version = ESM_VERSION
        self.config.esm_embedding_dim = self.embedding_dim
        self.config.save(folder / CONFIG_NAME)
        return folder


class StoredESM:
    """An ESM checked on disk whose weights are read again only when it is scored.

    Holding 1,500 ESMs of d = 768 as modules takes 3.5 GB; holding their configs takes almost
    nothing, so sources hand these to the ranking and memory stays flat in the number of ESMs.
    """

    def __init__(self, folder: Path, name: str, config: ESMConfig, embedding_dim: int):
        self.folder = folder
        self.name = name
        self.config = config
        self.embedding_dim = embedding_dim
        self.source = "local"  # set by the source that loads it (see protocols.ESMLike)

    @property
    def source_label(self) -> str:
        """The old name of :attr:`source`."""
        return self.source

    @classmethod
    def open(cls, folder: str | Path, name: str | None = None) -> StoredESM:
        """Validate the folder fully (as :meth:`ESM.from_folder`), then keep only its metadata."""
        esm = ESM.from_folder(folder, name=name)
        return cls(Path(folder), esm.name, esm.config, esm.embedding_dim)

    def weight_and_bias(self) -> tuple[np.ndarray, np.ndarray]:
        try:
            return _read_weights(self.folder / WEIGHTS_NAME)
        except ESMFormatError as e:  # the file changed since it was checked
            raise ESMFormatError(f"{self.name}: {e}") from None

    def load(self) -> ESM:
        return ESM.from_folder(self.folder, name=self.name)


def _read_weights(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not os.path.lexists(path):
        legacy = [p.name for p in path.parent.glob("*.bin")] + [p.name for p in path.parent.glob("*.pt")]
        hint = f" (found {', '.join(legacy[:3])}: pickle files are never loaded)" if legacy else ""
        raise ESMFormatError(f"missing {path.name}{hint}")
    check_regular_file(path, MAX_WEIGHTS_BYTES)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ESMFormatError(f"{path.name} is not a readable safetensors file: {e}") from None
    for prefix in ("model", "sequential.0"):
        if f"{prefix}.weight" in tensors and f"{prefix}.bias" in tensors:
            weight = tensors[f"{prefix}.weight"]
            bias = tensors[f"{prefix}.bias"]
            break
    else:
        keys = sorted(tensors)
        shown = ", ".join(k[:60] for k in keys[:8]) + (f", ... ({len(keys)} in all)" if len(keys) > 8 else "")
        raise ESMFormatError(f"{path.name} has no linear layer weights (keys: {shown})")
    if weight.ndim != 2 or weight.shape[0] != weight.shape[1] or bias.shape != (weight.shape[0],):
        raise ESMFormatError(f"weights of shape {weight.shape} and bias {bias.shape} are not a d x d map")
    if not (np.issubdtype(weight.dtype, np.floating) and np.issubdtype(bias.dtype, np.floating)):
        raise ESMFormatError(f"weights are of type {weight.dtype}, not floating point")
    if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
        raise ESMFormatError("weights contain NaN or Inf")
    return weight.astype(np.float32), bias.astype(np.float32)


# --- the config schema and bounded reads ------------------------------------------------------


def check_field(key: str, value: Any) -> Any:
    """``value`` of a known config key if it fits :data:`CONFIG_SCHEMA`, else :class:`ESMFormatError`.

    Whole floats are accepted for integer keys (JSON writers differ) and returned as int.
    """
    if value is None:
        return None
    kind, lo, hi = CONFIG_SCHEMA[key]
    shown = _describe(value)
    if kind in ("str", "str_or_list"):
        items = value if kind == "str_or_list" and isinstance(value, list) else [value]
        if isinstance(value, list) and len(value) > 50:
            raise ESMFormatError(f"config '{key}' lists {len(value)} values (at most 50)")
        for item in items:
            if not isinstance(item, str):
                raise ESMFormatError(f"config '{key}' must be text, found {shown}")
            if not (lo <= len(item) <= hi):
                raise ESMFormatError(f"config '{key}' is {len(item)} characters long (at most {int(hi)})")
            if _CONTROL.search(item):
                raise ESMFormatError(f"config '{key}' holds control characters")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ESMFormatError(f"config '{key}' must be a number, found {shown}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ESMFormatError(f"config '{key}' must be a finite number, found {value}")
    if kind == "int":
        if isinstance(value, float):
            if not value.is_integer():
                raise ESMFormatError(f"config '{key}' must be a whole number, found {value:g}")
            value = int(value)
    if not (lo <= value <= hi):
        raise ESMFormatError(f"config '{key}' is {shown}, outside the range {lo:g} to {hi:g}")
    return value


def _describe(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f"a JSON {'object' if isinstance(value, dict) else 'list'}"
    if isinstance(value, str):
        return f"the text '{value[:40]}'" + ("..." if len(value) > 40 else "")
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    text = repr(value)
    return text if len(text) <= 40 else f"a {len(text)}-digit number"


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of JSON data, stopping once past ``limit`` (no recursion)."""
    stack, deepest = [(value, 1)], 0
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _check_extra(extra: dict[str, Any]) -> None:
    """Unknown keys are kept, within bounds: how many, how long their names, how deep their values."""
    if len(extra) > MAX_EXTRA_KEYS:
        raise ESMFormatError(f"config.json has {len(extra)} unknown keys (at most {MAX_EXTRA_KEYS})")
    for key, value in extra.items():
        if len(key) > 200 or _CONTROL.search(key):
            raise ESMFormatError("config.json has a key longer than 200 characters or with control characters")
        if _depth(value, MAX_NESTING) > MAX_NESTING:
            raise ESMFormatError(f"config key '{key[:40]}' is nested deeper than {MAX_NESTING} levels")


def check_regular_file(path: Path, max_bytes: int) -> os.stat_result:
    """Stat ``path`` (symlinks followed) and refuse anything but a regular file of at most ``max_bytes``.

    Devices (a link to /dev/zero), FIFOs and sockets would never end or never answer when read.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ESMFormatError(f"missing {path.name}") from None
    except OSError as e:
        raise ESMFormatError(f"{path.name} cannot be read ({type(e).__name__})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ESMFormatError(
            f"{path.name} is not a regular file (a device, FIFO, socket or folder), so it was not read"
        )
    if info.st_size > max_bytes:
        raise ESMFormatError(f"{path.name} is {info.st_size:,} bytes, larger than the limit of {max_bytes:,}")
    return info


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``, checked before and while reading.

    Opened without blocking (a FIFO swapped in after the check cannot hang us) and read with a
    bound (a file that grows cannot exhaust memory).
    """
    check_regular_file(path, max_bytes)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as e:
        raise ESMFormatError(f"{path.name} cannot be opened ({type(e).__name__})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ESMFormatError(f"{path.name} is not a regular file, so it was not read")
        chunks, size = [], 0
        while chunk := os.read(fd, 65536):
            size += len(chunk)
            if size > max_bytes:
                raise ESMFormatError(f"{path.name} is larger than the limit of {max_bytes:,} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def safe_name(text: str) -> str:
    """A folder-name form of a model or dataset id: 'org/model' -> 'org__model'."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in text.replace("/", "__"))
    return cleaned.strip(".") or "unnamed"
