"""Finished rankings kept on disk, so that a share link opened by a hundred people is computed once.

A result is stored under a key made of everything that determines it: the target data (Hub id and
the commit sha it was read at, or the file's content hash), subset, split, columns, task type, n,
seed, the base model and its commit, the ESM pool's listing hash (ids and commits of every ESM) and
filters, and :data:`SCORING_VERSION`. Another input, including a pool that gained one ESM, gives
another key. The stored entry holds the full key and is only served when the full key matches.

Privacy: tokens are never part of a key or an entry. A result computed from a gated or private
dataset, or with private ESMs, is marked *restricted*: it is never served by its short id, and it is
served by key only after the requester's own token was checked against the dataset (the key's sha
is read with that token, and gated data passes the Hub's ``auth-check`` first).

Bounds: at most ``HFSELECT_RESULT_CACHE_MAX_ENTRIES`` entries (default 500) and
``HFSELECT_RESULT_CACHE_MAX_MB`` megabytes (default 200); the least recently used go first.
Location: ``HFSELECT_RESULT_CACHE_DIR``, else ``/data/hfselect/results`` on a Space with persistent
storage, else ``~/.cache/hfselect/results``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import hub
from .esm import CARD_NAME, ESMConfig
from .ranking import TaskRanking
from .settings import (
    DATA_DIR_ENV,  # noqa: F401 - a Space's persistent storage (default /data)
    RESULT_CACHE_DIR_ENV,
    RESULT_CACHE_MAX_ENTRIES_ENV,
    RESULT_CACHE_MAX_MB_ENV,
    get_settings,
)
from .sources import BundledESMSource, ESMFilters, HubESMSource, bundled_pool_dir

log = logging.getLogger(__name__)

# Bump when the same inputs would give different scores (LogME, embedding or sampling changes).
SCORING_VERSION = "2026.11.3"  # .3: order by score again (stability: intervals and ties only, by default)
CACHE_DIR_ENV = RESULT_CACHE_DIR_ENV
MAX_ENTRIES_ENV = RESULT_CACHE_MAX_ENTRIES_ENV
MAX_MB_ENV = RESULT_CACHE_MAX_MB_ENV
ID_LENGTH = 16
_ID = re.compile(rf"^[0-9a-f]{{{ID_LENGTH}}}$")


def default_folder() -> Path:
    """Where results are kept (see the module docstring)."""
    settings = get_settings()
    if settings.result_cache_dir is not None:
        return settings.result_cache_dir
    data = settings.data_dir
    if data.is_dir() and os.access(data, os.W_OK):
        return data / "hfselect" / "results"
    return Path.home() / ".cache" / "hfselect" / "results"


def is_result_id(text: str | None) -> bool:
    return bool(text) and bool(_ID.match(str(text)))


@dataclass(frozen=True)
class RankingKey:
    """Everything that determines a ranking. Build it with :func:`plan`."""

    target: str
    subset: str | None
    split: str | None
    text_columns: tuple[str, ...]
    label_column: str | None
    task_type: str | None
    num_examples: int | None
    seed: int
    base_model: str
    base_revision: str | None
    pool: str
    pool_listing: str
    task_contains: str | None = None
    language: str | None = None
    max_count: int | None = None
    max_length: int = 128
    scoring_version: str = SCORING_VERSION

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["text_columns"] = list(self.text_columns)
        return data

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    @property
    def result_id(self) -> str:
        return self.digest[:ID_LENGTH]


@dataclass
class StoredResult:
    """A ranking read back from the cache, with when it was computed."""

    result_id: str
    ranking: TaskRanking
    created: float
    restricted: bool
    target_label: str
    # The inputs it was computed from (``RankingKey.to_dict``: no token, no data), to refill a form.
    key: dict = dataclasses.field(default_factory=dict)

    @property
    def age_seconds(self) -> float:
        return max(0.0, time.time() - self.created)


class ResultCache:
    """A bounded folder of finished rankings, one JSON file per result (written atomically).

    Args:
        folder: where the files go (default: :func:`default_folder`).
        max_entries: how many results are kept at most.
        max_bytes: how many bytes they may take at most.
    """

    def __init__(self, folder: str | Path | None = None, max_entries: int | None = None, max_bytes: int | None = None):
        self.folder = Path(folder) if folder is not None else default_folder()
        self.max_entries = max_entries or get_settings().result_cache_max_entries
        self.max_bytes = max_bytes or get_settings().result_cache_max_mb * 1_000_000
        self._lock = threading.Lock()

    def _path(self, result_id: str) -> Path:
        return self.folder / f"{result_id}.json"

    def _read(self, result_id: str) -> dict | None:
        if not is_result_id(result_id):
            return None
        path = self._path(result_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            os.utime(path)  # least recently *used* goes first
            return data
        except (OSError, ValueError):
            return None

    def get(self, key: RankingKey) -> StoredResult | None:
        """The stored result for exactly this key, or None."""
        data = self._read(key.result_id)
        if data is None or data.get("digest") != key.digest or data.get("key") != key.to_dict():
            return None  # a short-id collision or an older format: never serve it for these inputs
        return _stored(key.result_id, data)

    def get_by_id(self, result_id: str) -> StoredResult | None:
        """The stored result with this short id, unless it is restricted (gated/private inputs)."""
        data = self._read((result_id or "").strip().lower())
        if data is None or data.get("restricted", True):
            return None
        return _stored(result_id.strip().lower(), data)

    def put(self, key: RankingKey, ranking: TaskRanking, restricted: bool, target_label: str) -> str:
        """Store a finished ranking; returns its short id. Never stores a token or a row of data."""
        entry = {
            "digest": key.digest,
            "key": key.to_dict(),
            "created": time.time(),
            "restricted": bool(restricted),
            "target": target_label,
            "ranking": ranking_to_data(ranking),
        }
        text = json.dumps(entry, ensure_ascii=False, default=str)
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, self._path(key.result_id))
            self._evict()
        return key.result_id

    def entries(self) -> list[Path]:
        return sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []

    def _evict(self) -> None:
        files = []
        for path in self.folder.glob("*.json"):
            try:
                st = path.stat()
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, path))
        files.sort()
        total = sum(size for _, size, _ in files)
        while files and (len(files) > self.max_entries or total > self.max_bytes):
            _, size, path = files.pop(0)
            path.unlink(missing_ok=True)
            total -= size
        for stale in self.folder.glob(".tmp-*"):  # left by a crash mid-write
            try:
                if time.time() - stale.stat().st_mtime > 3600:
                    stale.unlink(missing_ok=True)
            except OSError:
                continue


_default: dict[str, ResultCache] = {}


def default_cache() -> ResultCache:
    """The process's cache for :func:`default_folder` (created on first use)."""
    folder = str(default_folder())
    if folder not in _default:
        _default[folder] = ResultCache(folder)
    return _default[folder]


def _stored(result_id: str, data: dict) -> StoredResult | None:
    try:
        return _read_entry(result_id, data)
    except Exception:  # noqa: BLE001 - a damaged or older entry is a miss, never an error
        log.warning("unreadable stored result %s ignored", result_id)
        return None


def _read_entry(result_id: str, data: dict) -> StoredResult:
    return StoredResult(
        result_id,
        ranking_from_data(data["ranking"]),
        float(data.get("created", 0)),
        bool(data.get("restricted", True)),
        str(data.get("target", "")),
        dict(data.get("key") or {}),
    )


def ranking_to_data(ranking: TaskRanking) -> dict:
    """Every field of a ranking as JSON-ready data (generic: fields added to TaskRanking come along)."""
    return json.loads(json.dumps(dataclasses.asdict(ranking), default=_json_default))


def ranking_from_data(data: dict) -> TaskRanking:
    """The :class:`TaskRanking` that :func:`ranking_to_data` wrote (ESM configs re-validated)."""
    return _decode(TaskRanking, data)


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _decode(hint, value):
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return _decode(options[0], value) if len(options) == 1 else value
    if hint is ESMConfig:
        fields = {k: v for k, v in value.items() if k != "extra"}
        return ESMConfig.from_dict({**fields, **(value.get("extra") or {})})
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        try:
            hints = typing.get_type_hints(hint)
        except Exception:  # noqa: BLE001 - an annotation that cannot be resolved: take values as they are
            hints = {}
        kwargs = {
            f.name: _decode(hints.get(f.name, typing.Any), value[f.name])
            for f in dataclasses.fields(hint)
            if f.init and f.name in value
        }
        return hint(**kwargs)
    if origin is list and isinstance(value, list):
        return [_decode(args[0], v) for v in value] if args else value
    if hint is np.ndarray:
        return np.asarray(value)
    return value


# --- fingerprints --------------------------------------------------------------------------------


def file_fingerprint(path: str | Path) -> str:
    """``sha256:<hex>`` of a file's content (an upload is identified by what it holds, not its name)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def hub_dataset_fingerprint(dataset_id: str, token: str | None = None) -> tuple[str, bool]:
    """``hub:<id>@<sha>`` read with the requester's token, and whether the dataset is gated or private.

    For gated and private datasets the Hub's ``auth-check`` must pass with that token too, so a
    requester without access never reaches a stored result (it raises the Hub's error instead).
    """
    canonical, sha, restricted = hub.dataset_fingerprint(dataset_id, token)
    return f"hub:{canonical}@{sha}", restricted


_bundled_memo: dict[str, tuple[float, str]] = {}


def bundled_pool_fingerprint(base_model: str) -> str:
    """A digest of the bundled pool's files (names and content)."""
    folder = bundled_pool_dir(base_model)
    if not folder.is_dir():
        return "none"
    stamp = max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=0.0)
    hit = _bundled_memo.get(str(folder))
    if hit and hit[0] == stamp:
        return hit[1]
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != CARD_NAME):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    _bundled_memo[str(folder)] = (stamp, digest.hexdigest())
    return digest.hexdigest()


@dataclass
class Plan:
    """The key of a ranking about to run, and the ESM sources to run it with (the listing is reused)."""

    key: RankingKey
    sources: list
    restricted: bool
    target_label: str
    notes: list[str] = field(default_factory=list)


def plan(
    *,
    target: str,
    target_label: str,
    target_restricted: bool = False,
    subset: str | None,
    split: str | None,
    text_columns: Sequence[str],
    label_column: str | None,
    task_type: str | None,
    num_examples: int | None,
    seed: int,
    base_model: str,
    pool: str,
    filters: ESMFilters | None = None,
    token: str | None = None,
    max_length: int = 128,
) -> Plan:
    """Work out the key of a ranking (a few Hub requests: the base model's commit and the ESM listing).

    ``target`` comes from :func:`file_fingerprint` or :func:`hub_dataset_fingerprint`.
    """
    filters = filters or ESMFilters()
    pool = (pool or "auto").lower()
    online = hub.hub_reachable()
    if pool == "auto":
        pool = "hub" if online else "bundled"
    resolved, revision = hub.resolve_model_revision(base_model, token) if online else (base_model, None)
    sources: list = []
    listings: list[str] = []
    restricted = target_restricted
    if pool in ("hub", "both"):
        source = HubESMSource(token)
        repos = source.listing(base_model)
        # A private ESM's name, or the score of a gated one the token opened, is not for other users;
        # without a token gated ESMs are skipped, so naming them reveals nothing the listing does not.
        restricted = restricted or any(r.private or (r.gated and token) for r in repos)
        sources.append(source)
        listings.append("hub:" + hub.listing_hash(repos))
    if pool in ("bundled", "both"):
        sources.append(BundledESMSource(base_model))
        listings.append("bundled:" + bundled_pool_fingerprint(base_model))
    key = RankingKey(
        target=target,
        subset=subset or None,
        split=split or None,
        text_columns=tuple(text_columns),
        label_column=label_column or None,
        task_type=task_type or None,
        num_examples=num_examples,
        seed=int(seed),
        base_model=resolved,
        base_revision=revision,
        pool=pool,
        pool_listing="+".join(listings),
        task_contains=filters.task_contains,
        language=filters.language,
        max_count=filters.max_count,
        max_length=max_length,
    )
    return Plan(key, sources, restricted, target_label)
