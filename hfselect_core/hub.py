"""Everything that talks to the Hugging Face Hub, through ``huggingface_hub`` only.

Every function here works out whether the Hub can be reached and raises
:class:`HubUnreachableError` (or returns what is cached locally) when it cannot.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .errors import HubUnreachableError

ESM_TAG = "embedding_space_map"
ESM_FILES = ["config.json", "model.safetensors", "README.md"]
_PROBE_REPO = "sentence-transformers/all-MiniLM-L6-v2"
_PROBE_TTL_S = 120.0
_probe_lock = threading.Lock()
_probe_cache: dict[str, tuple[float, bool]] = {}  # endpoint -> (checked at, reachable)


def offline_forced() -> bool:
    """True when the deployment asked for offline mode (``HF_HUB_OFFLINE=1``)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


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
    if not hub_reachable():
        return model_id
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        return HfApi(token=token).model_info(model_id, timeout=10).id
    except (HfHubHTTPError, OSError, ValueError):
        return model_id


def base_model_tags(model_id: str) -> list[str]:
    """Both tag spellings under which ESMs of a base model are found on the Hub."""
    return [f"base_model:{model_id}", f"BaseLM:{model_id}"]


def find_esm_repo_ids(base_model: str, token: str | None = None, limit: int | None = None) -> list[str]:
    """Repo ids of every ESM on the Hub for ``base_model`` (both tag spellings, resolved id)."""
    require_hub("The Hugging Face Hub (to search for ESMs)")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    names = {base_model, resolve_model_id(base_model, token)}
    found: dict[str, None] = {}
    for name in sorted(names):
        for tag in base_model_tags(name):
            for info in api.list_models(filter=[ESM_TAG, tag], limit=limit):
                found.setdefault(info.id, None)
    return list(found)


def esm_coverage(token: str | None = None) -> dict[str, int]:
    """How many ESMs the Hub has per base model, most covered first."""
    require_hub("The Hugging Face Hub (to count ESMs)")
    from huggingface_hub import HfApi

    counts: Counter[str] = Counter()
    for info in HfApi(token=token).list_models(filter=ESM_TAG):
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
    """The local folder of an ESM repo (config, weights, card), from the cache when possible."""
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


def download_many(
    repo_ids: list[str],
    token: str | None = None,
    max_workers: int = 8,
    on_done: Callable[[str, Path | None, Exception | None], None] | None = None,
) -> dict[str, Path | Exception]:
    """Download ESM repos concurrently; each result is the folder or the error it failed with."""
    local_only = not hub_reachable()
    results: dict[str, Path | Exception] = {}

    def fetch(repo_id: str) -> None:
        try:
            path: Path | Exception = download_esm(repo_id, token=token, local_only=local_only)
            error = None
        except Exception as e:  # one broken repo must not sink the others
            path, error = e, e
        results[repo_id] = path
        if on_done:
            on_done(repo_id, None if error else path, error)

    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
        list(pool.map(fetch, repo_ids))
    return results


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
