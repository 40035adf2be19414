"""Hub code paths with huggingface_hub's API replaced by fakes (no network)."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import numpy as np
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError

from hfselect_core import hub
from hfselect_core.errors import HubUnreachableError
from hfselect_core.esm import ESM, ESMConfig
from hfselect_core.sources import ESMFilters, HubESMSource


@pytest.fixture
def online(monkeypatch):
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: True)
    hub.clear_memo()
    yield
    hub.clear_memo()


@pytest.fixture
def fake_hub(monkeypatch, online):
    calls: list[list[str]] = []
    models = {
        ("embedding_space_map", "base_model:google-bert/bert-base-uncased"): ["a/esm1", "a/esm2"],
        ("embedding_space_map", "BaseLM:google-bert/bert-base-uncased"): ["a/esm2", "b/esm3"],
        ("embedding_space_map", "BaseLM:bert-base-uncased"): ["c/legacy"],
    }

    def list_models(self, filter=None, limit=None, **kwargs):
        calls.append(list(filter) if isinstance(filter, list) else [filter])
        if filter == "embedding_space_map":
            return [
                SimpleNamespace(id="x/1", tags=["embedding_space_map", "BaseLM:m1"]),
                SimpleNamespace(id="x/2", tags=["embedding_space_map", "base_model:m1"]),
                SimpleNamespace(id="x/3", tags=["embedding_space_map", "BaseLM:m2"]),
                SimpleNamespace(id="x/4", tags=["embedding_space_map"]),
            ]
        return [SimpleNamespace(id=i, tags=[]) for i in models.get(tuple(filter), [])]

    def model_info(self, repo_id, timeout=None, **kwargs):
        return SimpleNamespace(id="google-bert/bert-base-uncased" if repo_id == "bert-base-uncased" else repo_id)

    monkeypatch.setattr(HfApi, "list_models", list_models)
    monkeypatch.setattr(HfApi, "model_info", model_info)
    return calls


def test_find_esm_repo_ids_uses_both_tags_and_the_resolved_id(fake_hub):
    ids = hub.find_esm_repo_ids("bert-base-uncased")
    assert sorted(ids) == ["a/esm1", "a/esm2", "b/esm3", "c/legacy"]
    assert len(ids) == len(set(ids))
    tags = {tuple(c) for c in fake_hub}
    assert ("embedding_space_map", "base_model:google-bert/bert-base-uncased") in tags
    assert ("embedding_space_map", "BaseLM:google-bert/bert-base-uncased") in tags
    assert ("embedding_space_map", "BaseLM:bert-base-uncased") in tags


def test_esm_coverage_counts_per_base_model(fake_hub):
    assert hub.esm_coverage() == {"m1": 2, "m2": 1}


def test_hub_calls_refuse_clearly_when_offline(monkeypatch):
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(HubUnreachableError, match="cannot be reached"):
        hub.find_esm_repo_ids("bert-base-uncased")
    assert hub.resolve_model_id("bert-base-uncased") == "bert-base-uncased"


def _write_esm(folder, task_id: str, dim: int = 8) -> None:
    rng = np.random.default_rng(len(task_id))
    config = ESMConfig(base_model_name="m", task_id=task_id, esm_embedding_dim=dim)
    ESM.from_weights(np.eye(dim) + 0.1 * rng.standard_normal((dim, dim)), np.zeros(dim), config).save(folder)


def test_hub_source_keeps_good_esms_and_reports_failed_downloads(tmp_path, monkeypatch, online):
    for name in ("good1", "good2"):
        _write_esm(tmp_path / name, f"org/{name}")

    def download_esm(repo_id, token=None, local_only=False):
        if repo_id.endswith("missing"):
            request = httpx.Request("GET", "https://hub.invalid/api/models/u/missing")
            raise RepositoryNotFoundError("not there", response=httpx.Response(404, request=request))
        if repo_id.endswith("boom"):
            raise TimeoutError("read timed out")
        return tmp_path / repo_id.split("/")[1]

    monkeypatch.setattr(hub, "download_esm", download_esm)
    seen = []
    source = HubESMSource(repo_ids=["u/good1", "u/missing", "u/good2", "u/boom"], max_workers=2)
    loaded = source.load("m", ESMFilters(), progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert sorted(e.config.task_id for e in loaded.esms) == ["org/good1", "org/good2"]
    reasons = {s.name: s.reason for s in loaded.skipped}
    assert reasons["u/missing"] == "repository not found"
    assert "TimeoutError" in reasons["u/boom"]
    assert seen[-1] == ("Fetching ESMs", 4, 4)


def test_hub_source_filters_by_task_before_download(tmp_path, monkeypatch, online):
    _write_esm(tmp_path / "imdb", "stanfordnlp/imdb")
    requested = []

    def download_esm(repo_id, token=None, local_only=False):
        requested.append(repo_id)
        return tmp_path / "imdb"

    monkeypatch.setattr(hub, "download_esm", download_esm)
    source = HubESMSource(repo_ids=["u/ESM_stanfordnlp_imdb", "u/ESM_glue_cola"])
    loaded = source.load("m", ESMFilters(task_contains="imdb"))
    assert requested == ["u/ESM_stanfordnlp_imdb"]
    assert [e.config.task_id for e in loaded.esms] == ["stanfordnlp/imdb"]


def test_publish_folder_creates_repo_and_uploads_only_esm_files(tmp_path, monkeypatch, online):
    _write_esm(tmp_path / "esm", "org/task")
    calls = {}
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.setdefault("create", (repo_id, kw)))
    monkeypatch.setattr(HfApi, "upload_folder", lambda self, **kw: calls.setdefault("upload", kw))
    hub.publish_folder(tmp_path / "esm", "me/ESM_org_task", token="hf_fake")
    assert calls["create"][0] == "me/ESM_org_task"
    assert calls["upload"]["repo_id"] == "me/ESM_org_task"
    assert set(calls["upload"]["allow_patterns"]) == {"config.json", "model.safetensors", "README.md"}


def test_closing_a_ranking_stops_its_downloads(monkeypatch, online, tmp_path):
    """Gradio's Cancel closes the ranking generator: downloads stop within a second, none start later."""
    import threading
    import time

    import pandas as pd

    from hfselect_core.data import TargetDataset
    from hfselect_core.ranking import iter_task_ranking

    _write_esm(tmp_path / "esm", "org/task")
    started: list[float] = []
    lock = threading.Lock()

    def slow_download(repo, token, files, backoff):
        with lock:
            started.append(time.monotonic())
        backoff.stop.wait(0.3)
        return tmp_path / "esm"

    monkeypatch.setattr(hub, "_download_repo", slow_download)
    monkeypatch.setattr(hub, "cached_esm_folder", lambda repo_id, sha, files=hub.RANK_FILES: None)
    repos = [hub.HubESMRepo(f"org/ESM_{i}", f"{i:040x}") for i in range(200)]
    df = pd.DataFrame({"text": [f"text {i}" for i in range(20)], "label": [i % 2 for i in range(20)]})
    dataset = TargetDataset.from_pandas(df, "text", "label")
    events = iter_task_ranking(dataset, "m", source=[HubESMSource(repos=repos, max_workers=4)])
    for event in events:
        if event.stage == "Fetching ESMs" and event.done >= 4:
            break
    closed_at = time.monotonic()
    events.close()
    time.sleep(1.5)
    with lock:
        late = [t for t in started if t > closed_at + 1.0]
        total = len(started)
    assert not late, f"{len(late)} downloads started more than 1 s after the ranking was closed"
    assert total < 40, total
