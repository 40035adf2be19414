"""Everything that talks to the Hugging Face Hub, through ``huggingface_hub`` only.

Every function here works out whether the Hub can be reached and raises
:class:`HubUnreachableError` (or returns what is cached locally) when it cannot. Other modules
never import ``huggingface_hub``'s or ``datasets``' network functions: they call these (only
:mod:`.sampling`, which streams a split's rows, uses ``datasets`` and ``HfFileSystem`` itself,
through :func:`dataset_call`).
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .errors import CancelledError, DatasetAccessError, DatasetNotFoundError, HubUnreachableError
from .esm import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME
from .settings import HUB_WORKERS_ENV, LISTING_TTL_ENV, get_settings

T = TypeVar("T")
ESM_TAG = "embedding_space_map"
ESM_FILES = [CONFIG_NAME, WEIGHTS_NAME, CARD_NAME]
# What a ranking reads; the card is only needed to show or publish an ESM.
RANK_FILES = [CONFIG_NAME, WEIGHTS_NAME]
_PROBE_REPO = "sentence-transformers/all-MiniLM-L6-v2"
_PROBE_TTL_S = 120.0
_probe_lock = threading.Lock()
_probe_cache: dict[str, tuple[float, bool]] = {}  # endpoint -> (checked at, reachable)


def offline_forced() -> bool:
    """True when the deployment asked for offline mode (``HF_HUB_OFFLINE``; the one place it is interpreted)."""
    return get_settings().hub_offline


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hub answers right now; the answer is cached for two minutes."""
    if offline_forced():
        return False
    from huggingface_hub import constants

    endpoint = constants.ENDPOINT
    with _probe_lock:
        cached = _probe_cache.get(endpoint)
        if cached and time.monotonic() - cached[0] < _PROBE_TTL_S:
            return cached[1]
    reachable = True
    try:
        from huggingface_hub import HfApi

        HfApi().model_info(_PROBE_REPO, timeout=timeout)
    except Exception as e:  # any failure to get an answer means "not reachable" for our purposes
        reachable = _is_http_answer(e)
    with _probe_lock:
        _probe_cache[endpoint] = (time.monotonic(), reachable)
    return reachable


def _is_http_answer(error: Exception) -> bool:
    """A 4xx/5xx answer still proves the Hub is reachable; a connection failure does not."""
    response = getattr(error, "response", None)
    return response is not None and getattr(response, "status_code", None) is not None


def require_hub(what: str = "The Hugging Face Hub") -> None:
    if not hub_reachable():
        raise HubUnreachableError(what)


def resolve_model_id(model_id: str, token: str | None = None) -> str:
    """The canonical id of a model (e.g. 'bert-base-uncased' -> 'google-bert/bert-base-uncased')."""
    return resolve_model_revision(model_id, token)[0]


def base_model_tags(model_id: str) -> list[str]:
    """Both tag spellings under which ESMs of a base model are found on the Hub."""
    return [f"base_model:{model_id}", f"BaseLM:{model_id}"]


@dataclass(frozen=True)
class HubESMRepo:
    """One ESM repo as the listing names it: id, the commit it points to, and whether it is restricted."""

    repo_id: str
    sha: str | None = None
    private: bool = False
    gated: bool = False

    @property
    def restricted(self) -> bool:
        return self.private or bool(self.gated)


_LISTING_TTL_ENV = LISTING_TTL_ENV
_listing_lock = threading.Lock()
# (endpoint, base model) -> (listed at, repos); only anonymous listings are kept, so one user's
# private ESMs never reach another user's ranking.
_listing_cache: dict[tuple[str, str], tuple[float, list[HubESMRepo]]] = {}
_model_id_cache: dict[tuple[str, str], tuple[float, str, str | None]] = {}


def _ttl() -> float:
    return get_settings().listing_ttl_s


def _endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def resolve_model_revision(model_id: str, token: str | None = None) -> tuple[str, str | None]:
    """The canonical id of a model and the commit sha its main branch points to (one API call, memoised)."""
    if not hub_reachable():
        return model_id, None
    key = (_endpoint(), model_id)
    if token is None:
        with _listing_lock:
            hit = _model_id_cache.get(key)
        if hit and time.monotonic() - hit[0] < _ttl():
            return hit[1], hit[2]
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        info = HfApi(token=token).model_info(model_id, timeout=10)
    except (HfHubHTTPError, OSError, ValueError):
        return model_id, None
    sha = getattr(info, "sha", None)
    if token is None and not (getattr(info, "private", False) or getattr(info, "gated", False)):
        with _listing_lock:
            _model_id_cache[key] = (time.monotonic(), info.id, sha)
    return info.id, sha


def list_esm_repos(base_model: str, token: str | None = None, limit: int | None = None) -> list[HubESMRepo]:
    """Every ESM repo on the Hub for ``base_model`` with its commit sha, from the listing alone.

    Both tag spellings (``base_model:`` and the legacy ``BaseLM:``) and both the given and the
    resolved id (``bert-base-uncased`` / ``google-bert/bert-base-uncased``) are searched: at most
    four listing requests (a page holds 1,000 repos). The sha lets each ESM be read from the local
    cache with no further request when that commit is cached.
    """
    require_hub("The Hugging Face Hub (to search for ESMs)")
    key = (_endpoint(), f"{base_model}|{limit}")
    if token is None:
        with _listing_lock:
            hit = _listing_cache.get(key)
        if hit and time.monotonic() - hit[0] < _ttl():
            return list(hit[1])
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    resolved, _ = resolve_model_revision(base_model, token)
    found: dict[str, HubESMRepo] = {}
    for name in dict.fromkeys([resolved, base_model]):
        for tag in base_model_tags(name):
            infos = _with_retries(
                lambda tag=tag: list(
                    api.list_models(filter=[ESM_TAG, tag], expand=["sha", "private", "gated"], limit=limit)
                )
            )
            for info in infos:
                found.setdefault(
                    info.id,
                    HubESMRepo(
                        info.id,
                        getattr(info, "sha", None),
                        bool(getattr(info, "private", False)),
                        bool(getattr(info, "gated", False)),
                    ),
                )
    repos = list(found.values())
    if token is None:
        with _listing_lock:
            _listing_cache[key] = (time.monotonic(), repos)
    return repos


def find_esm_repo_ids(base_model: str, token: str | None = None, limit: int | None = None) -> list[str]:
    """Repo ids of every ESM on the Hub for ``base_model`` (both tag spellings, resolved id)."""
    return [r.repo_id for r in list_esm_repos(base_model, token, limit)]


def listing_hash(repos: list[HubESMRepo]) -> str:
    """A digest of a pool listing (ids and commits): it changes when any ESM is added, removed or updated."""
    digest = hashlib.sha256()
    for line in sorted(f"{r.repo_id}@{r.sha}" for r in repos):
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


def clear_memo() -> None:
    """Forget memoised listings and model ids (tests; a deployment that must see a new ESM at once)."""
    with _listing_lock:
        _listing_cache.clear()
        _model_id_cache.clear()


def esm_coverage(token: str | None = None) -> dict[str, int]:
    """How many ESMs the Hub has per base model, most covered first."""
    require_hub("The Hugging Face Hub (to count ESMs)")
    from huggingface_hub import HfApi

    counts: Counter[str] = Counter()
    for info in _with_retries(lambda: list(HfApi(token=token).list_models(filter=ESM_TAG, expand=["tags"]))):
        base = _base_model_from_tags(info.tags or [])
        if base:
            counts[base] += 1
    return dict(counts.most_common())


def _base_model_from_tags(tags: list[str]) -> str | None:
    for prefix in ("BaseLM:", "base_model:"):
        for tag in tags:
            if tag.startswith(prefix) and not tag.startswith("base_model:finetune:"):
                return tag.split(":", 1)[1]
    return None


def download_esm(repo_id: str, token: str | None = None, local_only: bool = False) -> Path:
    """The local folder of an ESM repo at its main branch (config, weights, card), from the cache when possible.

    Asks the Hub for the current revision first; :func:`fetch_esms` with a listing's sha avoids that.
    """
    from huggingface_hub import snapshot_download

    return Path(
        snapshot_download(
            repo_id,
            allow_patterns=ESM_FILES,
            token=token,
            local_files_only=local_only,
            etag_timeout=10,
        )
    )


def cached_esm_folder(repo_id: str, sha: str, files: list[str] = RANK_FILES) -> Path | None:
    """The cached snapshot folder of ``repo_id`` at commit ``sha`` if it holds ``files``; no request is made."""
    from huggingface_hub import try_to_load_from_cache

    folder = None
    for name in files:
        path = try_to_load_from_cache(repo_id, name, revision=sha)
        if not isinstance(path, str):
            return None
        folder = Path(path).parent
    return folder


WORKERS_ENV = HUB_WORKERS_ENV


def download_workers() -> int:
    """How many ESMs are downloaded at once (``HFSELECT_HUB_WORKERS``, default 8, at most 64)."""
    return get_settings().hub_workers


RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
MAX_RETRY_WAIT_S = 30.0


def _http_status(error: BaseException) -> int | None:
    """The HTTP status behind an error, looking through the causes huggingface_hub wraps it in."""
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 6:
        response = getattr(current, "response", None)
        status = getattr(response, "status_code", None)
        if status is not None:
            return int(status)
        current = current.__cause__ or current.__context__
        seen += 1
    return None


def _retry_after(error: BaseException) -> float | None:
    current: BaseException | None = error
    for _ in range(6):
        if current is None:
            break
        headers = getattr(getattr(current, "response", None), "headers", None)
        if headers is not None and headers.get("Retry-After"):
            try:
                return min(MAX_RETRY_WAIT_S, max(0.0, float(headers["Retry-After"])))
            except ValueError:
                return None
        current = current.__cause__ or current.__context__
    return None


def is_transient(error: BaseException) -> bool:
    """Worth retrying: rate limited (429), a server error (5xx), a timeout or a dropped connection."""
    status = _http_status(error)
    if status is not None:
        return status in RETRY_STATUSES
    names = {type(e).__name__ for e in _chain(error)}
    return bool(names & {"TimeoutException", "ReadTimeout", "ConnectTimeout", "ConnectError", "RemoteProtocolError"})


def _chain(error: BaseException) -> list[BaseException]:
    out, current = [], error
    while current is not None and len(out) < 6:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


class _Backoff:
    """Shared by the workers of one download: a 429's Retry-After pauses all of them, not only one."""

    def __init__(self, stop: threading.Event, retries: int = 4, base_s: float = 0.5):
        self.stop = stop
        self.retries = retries
        self.base_s = base_s
        self._lock = threading.Lock()
        self._pause_until = 0.0

    def wait_turn(self) -> None:
        while not self.stop.is_set():
            with self._lock:
                left = self._pause_until - time.monotonic()
            if left <= 0:
                return
            self.stop.wait(min(left, 0.2))

    def failed(self, error: BaseException, attempt: int) -> bool:
        """Sleep before the next attempt and return True, or return False when giving up."""
        if attempt >= self.retries or not is_transient(error) or self.stop.is_set():
            return False
        delay = _retry_after(error)
        if delay is None:
            delay = min(8.0, self.base_s * 2**attempt) * (0.75 + 0.5 * random.random())
        with self._lock:
            self._pause_until = max(self._pause_until, time.monotonic() + delay)
        self.wait_turn()
        return not self.stop.is_set()


def _with_retries(call: Callable[[], T], retries: int = 4) -> T:
    backoff = _Backoff(threading.Event(), retries)
    attempt = 0
    while True:
        try:
            return call()
        except Exception as e:  # noqa: BLE001 - re-raised below unless transient
            if not backoff.failed(e, attempt):
                raise
            attempt += 1


def _download_repo(repo: HubESMRepo, token: str | None, files: list[str], backoff: _Backoff) -> Path:
    from huggingface_hub import hf_hub_download

    folder = None
    for name in files:
        attempt = 0
        while True:
            backoff.wait_turn()
            if backoff.stop.is_set():
                raise CancelledError()
            try:
                folder = Path(
                    hf_hub_download(repo.repo_id, name, revision=repo.sha, token=token, etag_timeout=10)
                ).parent
                break
            except Exception as e:  # noqa: BLE001 - retried when transient, else reported per ESM
                if not backoff.failed(e, attempt):
                    raise
                attempt += 1
    assert folder is not None
    return folder


def fetch_esms(
    repos: list[HubESMRepo],
    token: str | None = None,
    max_workers: int = 8,
    on_done: Callable[[str, Path | None, Exception | None], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    files: list[str] | None = None,
    retries: int = 4,
) -> dict[str, Path | Exception]:
    """Local folders of ESM repos; each result is the folder or the error it failed with.

    A repo whose listed commit is cached costs no request at all. The others are downloaded by at
    most ``max_workers`` threads, each file at the listed commit, retried with backoff on 429 (its
    ``Retry-After`` pauses every worker) and 5xx. ``on_done`` is called from the calling thread as
    each repo finishes. When ``should_stop()`` turns true no new request starts and
    :class:`CancelledError` is raised within a fraction of a second.
    """
    files = list(files or RANK_FILES)
    results: dict[str, Path | Exception] = {}
    todo: list[HubESMRepo] = []
    for repo in repos:
        folder = cached_esm_folder(repo.repo_id, repo.sha, files) if repo.sha else None
        if folder is not None:
            results[repo.repo_id] = folder
            if on_done:
                on_done(repo.repo_id, folder, None)
        else:
            todo.append(repo)
    if not todo:
        return results
    online = hub_reachable()
    stop = threading.Event()
    backoff = _Backoff(stop, retries)

    def fetch(repo: HubESMRepo) -> Path:
        if not online or repo.sha is None:
            return download_esm(repo.repo_id, token=token, local_only=not online)
        return _download_repo(repo, token, files, backoff)

    pool = ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="esm-fetch")
    futures = {pool.submit(fetch, repo): repo.repo_id for repo in todo}
    pending = set(futures)
    try:
        while pending:
            if should_stop and should_stop():
                raise CancelledError()
            done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            for future in done:
                repo_id = futures[future]
                error = future.exception()
                results[repo_id] = error if error is not None else future.result()
                if on_done:
                    on_done(repo_id, None if error else future.result(), error)
    finally:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
    return results


def download_many(
    repo_ids: list[str],
    token: str | None = None,
    max_workers: int = 8,
    on_done: Callable[[str, Path | None, Exception | None], None] | None = None,
) -> dict[str, Path | Exception]:
    """Download ESM repos (by id only, at their main branch) concurrently; see :func:`fetch_esms`."""
    return fetch_esms([HubESMRepo(r) for r in repo_ids], token, max_workers, on_done, files=ESM_FILES)


def describe_hub_error(error: Exception) -> str:
    """A short reason for a failed download, for the skipped-ESM list."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    if isinstance(error, GatedRepoError):
        return "gated repository (sign in and accept its terms)"
    if isinstance(error, RepositoryNotFoundError):
        return "repository not found"
    if isinstance(error, LocalEntryNotFoundError):
        return "not in the local cache and the Hub is unreachable"
    if isinstance(error, EntryNotFoundError):
        return "missing file in the repository"
    return f"{type(error).__name__}: {error}"[:300]


def publish_folder(
    folder: str | Path,
    repo_id: str,
    token: str,
    private: bool = False,
    commit_message: str = "Upload ESM",
) -> str:
    """Create (or reuse) a model repo and upload an ESM folder; returns the repo URL."""
    require_hub("The Hugging Face Hub (to publish)")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="model",
        allow_patterns=ESM_FILES,
        commit_message=commit_message,
    )
    return str(url)


# --- base models ------------------------------------------------------------------------------


def local_snapshot(model_id: str) -> str:
    """The folder of ``model_id`` in the local Hub cache (no request); raises when it is not cached."""
    from huggingface_hub import snapshot_download

    return snapshot_download(model_id, local_files_only=True)


def model_file(repo_id: str, filename: str) -> Path | None:
    """One file of a model repo (downloaded when the Hub answers, else from the cache), or None."""
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id, filename, local_files_only=not hub_reachable()))
    except Exception:  # missing file, gated, offline and not cached: the caller falls back
        return None


def model_sha(model_id: str, token: str | None = None, timeout: float = 20) -> str | None:
    """The commit the main branch of a model repo points to (raises the Hub's error when it cannot be read)."""
    from huggingface_hub import HfApi

    return HfApi(token=token).model_info(model_id, timeout=timeout).sha


def download_file(repo_id: str, filename: str, token: str | None = None) -> Path:
    """One file of a model repo at its main branch (raises the Hub's error)."""
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo_id, filename, token=token, etag_timeout=10))


# --- datasets ---------------------------------------------------------------------------------


def _short(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def dataset_call(dataset_id: str, fn: Callable[..., T], *args, **kwargs) -> T:
    """Run ``fn`` (a ``datasets`` or ``HfFileSystem`` call about ``dataset_id``), turning its errors into ours."""
    if not hub_reachable():
        raise HubUnreachableError(
            f"The Hub (needed for dataset '{dataset_id}')",
            "Nothing was read or ranked; the examples and uploaded files work offline.",
        )
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        return fn(*args, **kwargs)
    except GatedRepoError:
        raise DatasetAccessError(dataset_id) from None
    except RepositoryNotFoundError:
        raise DatasetNotFoundError(dataset_id) from None
    except FileNotFoundError as e:
        # datasets reports a gated repo as its DatasetNotFoundError ("... is a gated dataset on the Hub").
        if "gated" in str(e).lower() or isinstance(e.__cause__, GatedRepoError):
            raise DatasetAccessError(dataset_id) from None
        raise DatasetNotFoundError(dataset_id, _short(e)) from None
    except Exception as e:
        text = str(e)
        if "gated" in text.lower():
            raise DatasetAccessError(dataset_id) from None
        if "doesn't exist" in text or "not found" in text.lower():
            raise DatasetNotFoundError(dataset_id) from None
        raise


def dataset_config_names(dataset_id: str, token: str | None = None) -> list[str]:
    """The subsets (configs) of a Hub dataset."""
    from datasets import get_dataset_config_names

    return list(dataset_call(dataset_id, get_dataset_config_names, dataset_id, token=token))


def dataset_split_names(dataset_id: str, subset: str | None = None, token: str | None = None) -> list[str]:
    """The splits of one subset of a Hub dataset (``ValueError`` from ``datasets`` for an unknown subset)."""
    from datasets import get_dataset_split_names

    return list(dataset_call(dataset_id, get_dataset_split_names, dataset_id, subset, token=token))


def dataset_features(dataset_id: str, subset: str | None = None, token: str | None = None) -> dict:
    """Column name -> ``datasets`` feature of one subset, read from the metadata (no data downloaded)."""
    from datasets import load_dataset_builder

    builder = dataset_call(dataset_id, load_dataset_builder, dataset_id, subset, token=token)
    return dict(builder.info.features or {})


def dataset_fingerprint(dataset_id: str, token: str | None = None) -> tuple[str, str | None, bool]:
    """(canonical id, commit sha, gated or private) of a Hub dataset, read with ``token``.

    For gated and private datasets the Hub's ``auth-check`` must pass with that token too (it
    raises the Hub's error otherwise).
    """
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    info = api.dataset_info(dataset_id, timeout=10)
    restricted = bool(getattr(info, "private", False) or getattr(info, "gated", False))
    if restricted:
        api.auth_check(dataset_id, repo_type="dataset")
    return info.id, info.sha, restricted
