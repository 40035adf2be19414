"""Where ESMs come from: the Hub, a local folder of ESM folders, or the pool bundled in ``assets/``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import hub
from .errors import ESMFormatError, HFSelectError
from .esm import CONFIG_NAME, ESM, ESMConfig, StoredESM, safe_name
from .events import FETCHING_ESMS, LOADING_ESMS, ProgressCallback, StopCheck, check_stop
from .resources import assets_dir, bundled_esms_dir  # noqa: F401 - assets_dir stays importable here
from .settings import ASSETS_ENV  # noqa: F401 - the name stays importable here


def bundled_pool_dir(base_model: str) -> Path:
    return bundled_esms_dir() / safe_name(base_model)


@dataclass(frozen=True)
class SkippedESM:
    """An ESM left out of a ranking, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class ESMFilters:
    """Which ESMs to rank: task id substring, language code, and a cap on how many."""

    task_contains: str | None = None
    language: str | None = None
    max_count: int | None = None

    def keep(self, config: ESMConfig) -> bool:
        if self.task_contains and self.task_contains.lower() not in (config.task_id or "").lower():
            return False
        if self.language:
            languages = config.language if isinstance(config.language, list) else [config.language]
            if self.language.lower() not in {str(x).lower() for x in languages if x}:
                return False
        return True


@dataclass
class LoadedESMs:
    esms: list[ESM | StoredESM]
    skipped: list[SkippedESM]
    notes: list[str]


def _load_folders(
    folders: list[tuple[str, Path]],
    base_model: str,
    filters: ESMFilters,
    progress: ProgressCallback | None,
    check_base_model: bool,
    should_stop: StopCheck | None = None,
) -> LoadedESMs:
    esms: list[ESM | StoredESM] = []
    skipped: list[SkippedESM] = []
    total = len(folders)
    for i, (name, folder) in enumerate(folders, start=1):
        check_stop(should_stop)
        try:
            config = ESMConfig.from_json_file(folder / CONFIG_NAME)
            if not filters.keep(config):
                continue
            if check_base_model and config.base_model_name and not _same_model(config.base_model_name, base_model):
                skipped.append(SkippedESM(name, f"trained for base model '{config.base_model_name}'"))
                continue
            esms.append(StoredESM.open(folder, name=name))
        except ESMFormatError as e:
            reason = str(e)
            skipped.append(SkippedESM(name, _bounded(reason.removeprefix(f"{name}: "))))
        except Exception as e:  # noqa: BLE001 - one ESM must never sink a ranking
            skipped.append(SkippedESM(name, f"could not be read ({type(e).__name__})"))
        if progress:
            progress(LOADING_ESMS, i, total)
        if filters.max_count and len(esms) >= filters.max_count:
            break
    return LoadedESMs(esms, skipped, [])


def _bounded(reason: str, limit: int = 300) -> str:
    return reason if len(reason) <= limit else reason[:limit] + "..."


def _same_model(a: str, b: str) -> bool:
    # 'bert-base-uncased' and 'google-bert/bert-base-uncased' name the same Hub model.
    return a == b or a.split("/")[-1] == b.split("/")[-1]


class LocalESMSource:
    """Every sub-folder of ``folder`` that looks like an ESM (has a config.json)."""

    def __init__(self, folder: str | Path, label: str | None = None):
        self.folder = Path(folder)
        self.label = label or f"folder {self.folder}"

    def list_folders(self) -> list[tuple[str, Path]]:
        if not self.folder.is_dir():
            return []
        if (self.folder / CONFIG_NAME).is_file():
            return [(self.folder.name, self.folder)]
        return sorted((p.name, p) for p in self.folder.iterdir() if p.is_dir() and not p.name.startswith("."))

    def load(
        self,
        base_model: str,
        filters: ESMFilters | None = None,
        progress: ProgressCallback | None = None,
        should_stop: StopCheck | None = None,
    ) -> LoadedESMs:
        check = not Path(base_model).is_dir()
        loaded = _load_folders(self.list_folders(), base_model, filters or ESMFilters(), progress, check, should_stop)
        for esm in loaded.esms:
            esm.source = self.label
        return loaded


class BundledESMSource(LocalESMSource):
    """The pool shipped in ``assets/esms/<base model>/`` (works with no network)."""

    def __init__(self, base_model: str):
        super().__init__(bundled_pool_dir(base_model), label="bundled pool")


class HubESMSource:
    """ESMs on the Hub tagged ``embedding_space_map`` for the base model; downloads are cached.

    The listing (one request per tag spelling) carries each repo's commit sha, so a cached ESM is
    read with no request at all; only new or updated ESMs are downloaded (see :func:`hub.fetch_esms`).

    Args:
        token: the user's token (gated or private ESMs); used for this source's requests only.
        max_workers: how many ESMs are downloaded at once (default ``HFSELECT_HUB_WORKERS``, 8).
        repo_ids: rank exactly these repos (at their main branch) instead of searching by tags.
        repos: a listing already made (e.g. to key a result cache), reused instead of listing again.
    """

    label = "Hub"

    def __init__(
        self,
        token: str | None = None,
        max_workers: int | None = None,
        repo_ids: list[str] | None = None,
        repos: list[hub.HubESMRepo] | None = None,
    ):
        self.token = token
        self.max_workers = max_workers or hub.download_workers()
        self.repo_ids = repo_ids
        self._repos = repos if repos is not None else ([hub.HubESMRepo(r) for r in repo_ids] if repo_ids else None)
        self._listed_for: str | None = None if repos is None else ""

    def listing(self, base_model: str) -> list[hub.HubESMRepo]:
        """The ESM repos this source ranks for ``base_model`` (listed once per source object)."""
        if self._repos is None or (self._listed_for not in ("", base_model) and self.repo_ids is None):
            self._repos = hub.list_esm_repos(base_model, self.token)
            self._listed_for = base_model
        return list(self._repos)

    def load(
        self,
        base_model: str,
        filters: ESMFilters | None = None,
        progress: ProgressCallback | None = None,
        should_stop: StopCheck | None = None,
    ) -> LoadedESMs:
        filters = filters or ESMFilters()
        repos = self.listing(base_model)
        if filters.task_contains:
            # Repo names usually carry the task id; filtering before download saves most of it.
            # The config check in _load_folders still applies to the ones kept.
            needle = filters.task_contains.lower().replace("/", "_")
            repos = [r for r in repos if needle in r.repo_id.lower().replace("/", "_")] or repos
        done = [0]
        total = len(repos)
        if progress:
            progress(FETCHING_ESMS, 0, total)

        def on_done(repo_id: str, path: Path | None, error: Exception | None) -> None:
            done[0] += 1
            if progress:
                progress(FETCHING_ESMS, done[0], total)

        results = hub.fetch_esms(repos, self.token, self.max_workers, on_done, should_stop)
        folders = [(r.repo_id, results[r.repo_id]) for r in repos if isinstance(results.get(r.repo_id), Path)]
        skipped = [
            SkippedESM(r.repo_id, hub.describe_hub_error(results[r.repo_id]))
            for r in repos
            if isinstance(results.get(r.repo_id), Exception)
        ]
        loaded = _load_folders(folders, base_model, filters, None, check_base_model=False, should_stop=should_stop)
        loaded.skipped[:0] = skipped
        for esm in loaded.esms:
            esm.source = self.label
        return loaded


def bundled_base_models() -> dict[str, int]:
    """Base models that have a bundled pool, with the number of ESMs in each."""
    root = bundled_esms_dir()
    found: dict[str, int] = {}
    if not root.is_dir():
        return found
    for pool in sorted(root.iterdir()):
        folders = [p for p in pool.iterdir() if (p / CONFIG_NAME).is_file()] if pool.is_dir() else []
        if folders:
            try:
                name = ESMConfig.from_json_file(folders[0] / CONFIG_NAME).base_model_name or pool.name
            except HFSelectError:
                name = pool.name.replace("__", "/")
            found[name] = len(folders)
    return found


def esm_coverage(include_hub: bool = True, token: str | None = None) -> dict[str, dict[str, int]]:
    """ESM counts per base model: ``{"bundled": {...}, "hub": {...}}`` (hub empty when offline)."""
    coverage = {"bundled": bundled_base_models(), "hub": {}}
    if include_hub and hub.hub_reachable():
        try:
            coverage["hub"] = hub.esm_coverage(token)
        except Exception:
            coverage["hub"] = {}
    return coverage
