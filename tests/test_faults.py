"""Faults around a ranking: the Hub down or stalling, failed downloads, cancellation, capped inputs.

The Hub is simulated with local sockets on 127.0.0.1 only (a closed port, a server that accepts
and never answers); nothing leaves the machine.
"""

from __future__ import annotations

import gc
import socket
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import make_texts, write_esm_folder

from hfselect_core import hub, limits
from hfselect_core.data import TargetDataset
from hfselect_core.errors import CancelledError, InputTooLargeError
from hfselect_core.esm import safe_name
from hfselect_core.ranking import compute_task_ranking, iter_task_ranking
from hfselect_core.sources import HubESMSource

POOL = ["org/pool_a", "org/pool_b", "org/pool_c"]


@pytest.fixture(scope="module")
def dataset() -> TargetDataset:
    texts = make_texts(32, seed=11)
    labels = ["pos" if any(w in t for w in ("good", "great", "love")) else "neg" for t in texts]
    labels[:2] = ["pos", "neg"]
    return TargetDataset.from_pandas(pd.DataFrame({"text": texts, "label": labels}), "text", "label")


@pytest.fixture
def assets(tmp_path, monkeypatch, tiny_bert_dir) -> Path:
    """An assets dir whose bundled pool belongs to the tiny model (pools are keyed by safe_name)."""
    root = tmp_path / "assets"
    pool = root / "esms" / safe_name(str(tiny_bert_dir))
    for i, task in enumerate(POOL):
        write_esm_folder(pool / task.split("/")[1], task, base_model=str(tiny_bert_dir), seed=i)
    monkeypatch.setenv("HFSELECT_ASSETS_DIR", str(root))
    return pool


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _point_hub_at(monkeypatch, endpoint: str) -> None:
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    hub._probe_cache.clear()


@pytest.fixture
def hub_down(monkeypatch):
    """The Hub endpoint is a closed local port: connections are refused at once."""
    _point_hub_at(monkeypatch, f"http://127.0.0.1:{_closed_port()}")
    yield
    hub._probe_cache.clear()


@pytest.fixture
def hub_stalling(monkeypatch):
    """The Hub endpoint accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)  # keep it open, say nothing
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    _point_hub_at(monkeypatch, f"http://127.0.0.1:{server.getsockname()[1]}")
    yield held
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    server.close()
    hub._probe_cache.clear()


# --- Hub unreachable -----------------------------------------------------------------------


def test_hub_refused_is_detected_quickly(hub_down):
    assert not hub.offline_forced()
    started = time.monotonic()
    assert hub.hub_reachable() is False
    assert time.monotonic() - started < 5
    started = time.monotonic()
    assert hub.hub_reachable() is False  # cached
    assert time.monotonic() - started < 0.1


def test_auto_ranking_falls_back_to_bundled_pool_when_hub_refuses(hub_down, assets, dataset, tiny_bert_dir):
    ranking = compute_task_ranking(dataset, base_model=str(tiny_bert_dir), source="auto", device="cpu")
    assert sorted(r.config.task_id for r in ranking) == POOL
    assert {r.source for r in ranking} == {"bundled pool"}
    notes = " ".join(ranking.notes)
    assert "cannot be reached" in notes and "bundled pool" in notes, ranking.notes


def test_hub_source_falls_back_to_bundled_pool_when_hub_refuses(hub_down, assets, dataset, tiny_bert_dir):
    ranking = compute_task_ranking(dataset, base_model=str(tiny_bert_dir), source="hub", device="cpu")
    assert sorted(r.config.task_id for r in ranking) == POOL
    notes = " ".join(ranking.notes)
    assert "cannot be reached" in notes and "Used the bundled pool (3 ESMs)" in notes, ranking.notes


def test_stalling_hub_times_out_and_ranking_completes(hub_stalling, assets, dataset, tiny_bert_dir):
    started = time.monotonic()
    assert hub.hub_reachable(timeout=1.0) is False
    assert time.monotonic() - started < 10
    assert hub_stalling, "the probe never connected to the stalling server"
    hub._probe_cache.clear()
    started = time.monotonic()
    ranking = compute_task_ranking(dataset, base_model=str(tiny_bert_dir), source="auto", device="cpu")
    assert time.monotonic() - started < 30
    assert sorted(r.config.task_id for r in ranking) == POOL
    assert any("bundled pool" in n for n in ranking.notes)


# --- some Hub downloads fail --------------------------------------------------------------------


def test_failed_downloads_are_listed_and_the_rest_ranked(tmp_path, monkeypatch, dataset, tiny_bert_dir):
    from huggingface_hub.errors import LocalEntryNotFoundError

    good = {f"org/ok_{i}": write_esm_folder(tmp_path / f"ok_{i}", f"org/ok_{i}", seed=i) for i in range(3)}
    nan_folder = write_esm_folder(tmp_path / "nan", "org/nan")
    weights = np.full((32, 32), np.nan, dtype=np.float32)
    write_esm_folder(nan_folder, "org/nan", weight=weights, bias=np.zeros(32, dtype=np.float32))
    failures = {
        "org/not_cached": LocalEntryNotFoundError("not in cache"),
        "org/timeout": TimeoutError("read timed out"),
        "org/reset": ConnectionResetError("connection reset by peer"),
        "org/disk": OSError(28, "No space left on device"),
    }

    def fake_download(repo_id, token=None, local_only=False):
        if repo_id in failures:
            raise failures[repo_id]
        return good.get(repo_id, nan_folder)

    monkeypatch.setattr(hub, "download_esm", fake_download)
    repo_ids = [*good, "org/nan", *failures]
    calls = []
    ranking = compute_task_ranking(
        dataset,
        base_model=str(tiny_bert_dir),
        source=HubESMSource(repo_ids=repo_ids, max_workers=3),
        device="cpu",
        progress=lambda *a: calls.append(a),
    )
    assert sorted(r.name for r in ranking) == sorted(good)
    reasons = {s.name: s.reason for s in ranking.skipped}
    assert set(reasons) == {"org/nan", *failures}
    assert reasons["org/not_cached"] == "not in the local cache and the Hub is unreachable"
    assert "TimeoutError" in reasons["org/timeout"]
    assert "ConnectionResetError" in reasons["org/reset"]
    assert "No space left" in reasons["org/disk"]
    assert "NaN or Inf" in reasons["org/nan"]
    assert ("Fetching ESMs", len(repo_ids), len(repo_ids)) in calls


# --- cancellation ----------------------------------------------------------------------------------


def _esm_dir(root: Path, n: int) -> Path:
    for i in range(n):
        write_esm_folder(root / f"t{i}", f"org/t{i}", seed=i)
    return root


def _run_and_cancel(dataset, base_model: str, folder: Path, at_stage: str) -> list[str]:
    stop = {"flag": False}
    seen = []
    with pytest.raises(CancelledError, match="cancelled"):
        for event in iter_task_ranking(
            dataset,
            base_model,
            source=str(folder),
            device="cpu",
            esm_batch_size=2,
            batch_size=8,
            should_stop=lambda: stop["flag"],
        ):
            seen.append(f"{event.stage} {event.done}/{event.total}")
            assert event.ranking is None, "the job finished although it was cancelled"
            if event.stage == at_stage and event.done > 0:
                stop["flag"] = True
    return seen


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_cancel_mid_scoring_then_normal_job(tmp_path, dataset, tiny_bert_dir):
    folder = _esm_dir(tmp_path / "pool", 8)
    reference = compute_task_ranking(dataset, base_model=str(tiny_bert_dir), source=str(folder), device="cpu")
    seen = _run_and_cancel(dataset, str(tiny_bert_dir), folder, "Scoring")
    assert seen[-1].startswith("Scoring 2/8"), seen
    seen = _run_and_cancel(dataset, str(tiny_bert_dir), folder, "Embedding")
    assert not any(s.startswith("Scoring") and not s.startswith("Scoring 0/") for s in seen), seen
    after = compute_task_ranking(dataset, base_model=str(tiny_bert_dir), source=str(folder), device="cpu")
    assert [(r.name, r.score) for r in after] == [(r.name, r.score) for r in reference]


def test_closing_the_generator_releases_the_job(tmp_path, dataset, tiny_bert_dir):
    folder = _esm_dir(tmp_path / "pool", 4)
    job = iter_task_ranking(dataset, str(tiny_bert_dir), source=str(folder), device="cpu", esm_batch_size=1)
    for event in job:
        if event.stage == "Scoring" and event.done:
            break
    job.close()  # what a UI does when the user cancels a streaming event
    ranking = compute_task_ranking(dataset, base_model=str(tiny_bert_dir), source=str(folder), device="cpu")
    assert len(ranking) == 4


def test_memory_returns_after_cancelled_jobs(tmp_path, tiny_bert_dir):
    folder = _esm_dir(tmp_path / "pool", 10)
    texts = make_texts(200, seed=2)
    big = TargetDataset.from_pandas(
        pd.DataFrame({"text": texts, "label": [i % 4 for i in range(200)]}), "text", "label"
    )
    # Warm up: model cache, tokenizer, torch kernels.
    compute_task_ranking(big, base_model=str(tiny_bert_dir), source=str(folder), device="cpu")
    gc.collect()
    rss_before = _rss_kb()
    tracemalloc.start()
    try:
        gc.collect()
        traced_before, _ = tracemalloc.get_traced_memory()
        for _ in range(5):
            _run_and_cancel(big, str(tiny_bert_dir), folder, "Scoring")
        gc.collect()
        traced_after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    grown = traced_after - traced_before
    assert grown < 5_000_000, f"{grown / 1e6:.1f} MB still held after 5 cancelled jobs (peak {peak / 1e6:.1f} MB)"
    assert _rss_kb() - rss_before < 300_000, "RSS grew by more than 300 MB over 5 cancelled jobs"


# --- caps from environment variables ----------------------------------------------------------------


def test_max_examples_cap_gives_a_clear_error(monkeypatch, assets, dataset, tiny_bert_dir):
    monkeypatch.setenv(limits.MAX_EXAMPLES_ENV, "10")
    with pytest.raises(InputTooLargeError) as info:
        compute_task_ranking(dataset, base_model=str(tiny_bert_dir), source="bundled", device="cpu")
    message = str(info.value)
    assert "32 examples is over the limit of 10" in message
    assert "HFSELECT_MAX_EXAMPLES" in message and "use a smaller sample" in message


def test_max_examples_cap_in_form_validation(monkeypatch):
    from hfselect_core.app_logic import RankForm, validate_form

    monkeypatch.setenv(limits.MAX_EXAMPLES_ENV, "50")
    errors = validate_form(RankForm(source="example", example="product_reviews", num_examples=51))
    assert any("over the limit of 50" in e and "HFSELECT_MAX_EXAMPLES" in e for e in errors), errors
    assert validate_form(RankForm(source="example", example="product_reviews", num_examples=50)) == []


def test_max_esms_cap_scores_the_first_and_says_so(monkeypatch, assets, dataset, tiny_bert_dir):
    monkeypatch.setenv(limits.MAX_ESMS_ENV, "2")
    ranking = compute_task_ranking(dataset, base_model=str(tiny_bert_dir), source="bundled", device="cpu")
    assert len(ranking) == 2
    assert any("Scored the first 2 of 3 ESMs (HFSELECT_MAX_ESMS)" in n for n in ranking.notes), ranking.notes


@pytest.mark.parametrize("value", ["abc", "0", "-3", ""])
def test_bad_cap_values_fall_back_to_defaults(monkeypatch, value):
    for name in (limits.MAX_EXAMPLES_ENV, limits.MAX_ESMS_ENV, limits.MAX_UPLOAD_MB_ENV, limits.MAX_TEXT_CHARS_ENV):
        monkeypatch.setenv(name, value)
    assert limits.max_examples() == 10_000
    assert limits.max_esms() == 5_000
    assert limits.max_upload_bytes() == 100_000_000
    assert limits.max_text_chars() == 20_000
    assert all(limits.describe().values())
