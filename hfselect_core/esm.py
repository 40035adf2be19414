"""Embedding Space Maps: the config and the module, read and written in the Hub format.

An ESM folder (or Hub model repo) holds ``config.json``, ``model.safetensors`` and ``README.md``.
Weights are ``model.weight`` [d, d] and ``model.bias`` [d]; legacy ESMs (config ``version``
"0.1.0") store ``sequential.0.weight`` / ``sequential.0.bias``. Only JSON and safetensors are
ever read: no pickle.
"""

from __future__ import annotations

import dataclasses
import json
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
_MAX_CONFIG_BYTES = 1_000_000


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
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names}
        # Absent keys are None, not our defaults: a legacy config without "version" is not ours.
        values = {name: known.get(name) for name in names}
        return cls(**values, extra=extra)

    @classmethod
    def from_json_file(cls, path: str | Path) -> ESMConfig:
        path = Path(path)
        try:
            if path.stat().st_size > _MAX_CONFIG_BYTES:
                raise ESMFormatError(f"{path.name} is larger than {_MAX_CONFIG_BYTES} bytes")
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise ESMFormatError(f"missing {path.name}") from e
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ESMFormatError(f"{path.name} is not valid JSON: {e}") from e
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
            raise ESMFormatError(f"unsupported ESM architecture '{self.esm_architecture}' (only 'linear')")

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
        self.source_label = "local"

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
    if not path.is_file():
        legacy = [p.name for p in path.parent.glob("*.bin")] + [p.name for p in path.parent.glob("*.pt")]
        hint = f" (found {', '.join(legacy)}: pickle files are never loaded)" if legacy else ""
        raise ESMFormatError(f"missing {path.name}{hint}")
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
        raise ESMFormatError(f"{path.name} has no linear layer weights (keys: {', '.join(sorted(tensors))})")
    if weight.ndim != 2 or weight.shape[0] != weight.shape[1] or bias.shape != (weight.shape[0],):
        raise ESMFormatError(f"weights of shape {weight.shape} and bias {bias.shape} are not a d x d map")
    if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
        raise ESMFormatError("weights contain NaN or Inf")
    return weight.astype(np.float32), bias.astype(np.float32)


def safe_name(text: str) -> str:
    """A folder-name form of a model or dataset id: 'org/model' -> 'org__model'."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in text.replace("/", "__"))
    return cleaned.strip(".") or "unnamed"
