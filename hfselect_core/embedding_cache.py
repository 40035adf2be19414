"""In-memory cache of text embeddings, so re-ranking the same data does not embed it again.

A ranking's cost on the CPU is mostly embedding; re-ranking the same target with another ESM
pool, filter or top-k only changes the scoring. Entries are keyed by what determines the
vectors: the base model's revision, its pooling, truncation length and precision, and a hash of
the texts in order. The cache is bounded in bytes (least recently used entries go first).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from .settings import EMBEDDING_CACHE_MB_ENV as CACHE_MB_ENV  # noqa: F401 - the name stays importable here
from .settings import Settings, get_settings

DEFAULT_CACHE_MB = Settings.embedding_cache_mb


def cache_megabytes() -> float:
    """The cache's size limit in MB (``HFSELECT_EMBEDDING_CACHE_MB``; 0 turns it off)."""
    return get_settings().embedding_cache_mb


def texts_key(identity: Sequence[object], texts: Sequence[str]) -> str:
    """A digest of the model identity and the texts (order matters; lengths avoid ambiguity)."""
    digest = hashlib.sha256(repr(tuple(identity)).encode("utf-8"))
    for text in texts:
        data = str(text).encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


class EmbeddingCache:
    """A thread-safe LRU map from :func:`texts_key` digests to (N, d) float32 arrays."""

    def __init__(self, max_bytes: int | None = None):
        self.max_bytes = int(cache_megabytes() * 2**20) if max_bytes is None else int(max_bytes)
        self._entries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> np.ndarray | None:
        """A copy of the cached array, or None."""
        with self._lock:
            array = self._entries.get(key)
            if array is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return array.copy()

    def put(self, key: str, array: np.ndarray) -> None:
        size = int(array.nbytes)
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                self._bytes -= int(self._entries.pop(key).nbytes)
            self._entries[key] = np.array(array, copy=True)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, old = self._entries.popitem(last=False)
                self._bytes -= int(old.nbytes)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return self._bytes


_default: EmbeddingCache | None = None
_default_lock = threading.Lock()


def default_cache() -> EmbeddingCache:
    """The process-wide cache that :meth:`EmbeddingModel.embed` uses."""
    global _default
    with _default_lock:
        if _default is None:
            _default = EmbeddingCache()
        return _default
