"""Faults around a ranking: the Hub down or stalling, failed downloads, cancellation, capped inputs.

The Hub is simulated with local sockets on 127.0.0.1 only (a closed port, a server that accepts
and never answers); nothing leaves the machine.
"""

from __future__ import annotations

import gc
import os
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from helpers import REPO_ROOT, free_port, make_texts, write_esm_folder

from hfselect_app import admission, rank_tab, targets
from hfselect_core import hub, limits
from hfselect_core.data import TargetDataset
from hfselect_core.errors import InputTooLargeError
from hfselect_core.esm import safe_name
from hfselect_core.ranking import compute_task_ranking
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


# --- cancellation and admission, through the app as users run it -------------------------------
#
# These replace tests that drove the core generator with ``should_stop`` (which the app never
# passes), checked only that a later ranking had 4 rows, and measured memory with tracemalloc
# (blind to torch). They run the app's own handler and server with the real bundled MiniLM.

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def _form(seed: int, n: int = 60, max_esms: int = 0, example: str = "product_reviews") -> list:
    return [
        "example", example, None, None, None, None, None, None, "auto",
        n, seed, max_esms, "", "", MINILM, "bundled", 10,
    ]  # fmt: skip


def _seed() -> int:
    # Fresh seeds keep the result cache (issue 14) from answering instead of a ranking.
    return int.from_bytes(os.urandom(3), "big") + 1000


@pytest.fixture(scope="module")
def live_app():
    import app

    app.demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True)
    yield app
    app.demo.close()


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _fake_request(session: str, ip: str = "10.1.2.3") -> SimpleNamespace:
    return SimpleNamespace(headers={}, client=SimpleNamespace(host=ip), session_hash=session)


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_cancel_in_the_browser_stops_the_job_and_frees_its_slot(live_app):
    """What the Cancel button does (gradio cancels the event): no result, the slot comes back,
    and the same ranking afterwards completes with the scores a direct ranking gives."""
    from gradio_client import Client
    from gradio_client.utils import Status

    client = Client(live_app.demo.local_url, verbose=False)
    seed = _seed()
    job = client.submit(*_form(seed, n=120), api_name="/rank")
    _wait(lambda: any("**Scoring**" in str(o[0]) for o in job.outputs()), 120, "the scoring stage")
    assert admission.JOBS.counts()[0] == 1
    job.cancel()
    _wait(job.done, 60, "the cancelled job to end")
    assert not any(str(o[0]).startswith("✅") for o in job.outputs())
    assert job.status().code in (Status.CANCELLED, Status.FINISHED)
    _wait(lambda: admission.JOBS.counts()[0] == 0, 30, "the job's admission ticket to be given back")

    result = client.predict(*_form(seed, n=120), api_name="/rank")
    assert result[0].startswith("✅"), result[0]
    root = REPO_ROOT
    dataset = TargetDataset.from_file(
        root / "assets" / "examples" / "product_reviews.csv", ["review"], "sentiment", "classification", 120, seed
    )
    reference = compute_task_ranking(dataset, base_model=MINILM, source="bundled", device="cpu")
    table = result[2]
    scores = [row[table["headers"].index("Score")] for row in table["data"]]
    assert scores == [round(r.score, 6) for r in reference]
    assert admission.JOBS.counts()[0] == 0


def test_closing_the_rank_handler_gives_its_slot_back(live_app):
    """Gradio closes a streaming handler when its event is cancelled: the app's rank generator must
    give its admission ticket back, stop yielding, and leave the client free to rank again."""
    request = _fake_request("close-test")
    job = rank_tab.rank(*_form(_seed(), n=120), request=request)
    statuses = []
    for outputs in job:
        statuses.append(str(outputs[0]))
        if "**Embedding**" in statuses[-1]:  # the staged status line names the current step in bold
            break
    assert admission.JOBS.counts("close-test")[1] == 1, "a running ranking holds a ticket"
    job.close()
    assert admission.JOBS.counts("close-test") == (0, 0, 0)
    assert not any(s.startswith("✅") for s in statuses)
    for _ in range(limits.max_jobs_per_client()):
        admission.JOBS.admit("close-test", "10.1.2.3")  # the client's quota is whole again
    for _ in range(limits.max_jobs_per_client()):
        admission.JOBS.drop_waiting("close-test")
    assert admission.JOBS.counts() == (0, 0, 0)


def test_memory_returns_after_cancelled_rankings(live_app):
    """Four rankings cancelled mid-way (the app's handler, the real MiniLM) leave RSS where one left it.

    RSS (not tracemalloc) sees torch's and numpy's buffers; the first cancelled job warms every cache.
    """

    def cancelled_job(i: int) -> None:
        job = rank_tab.rank(*_form(_seed(), n=40), request=_fake_request(f"mem-{i}"))
        for outputs in job:
            if "**Scoring**" in str(outputs[0]):
                break
        job.close()

    cancelled_job(0)
    gc.collect()
    before = _rss_kb()
    for i in range(1, 5):
        cancelled_job(i)
    gc.collect()
    grown_mb = (_rss_kb() - before) / 1024
    assert grown_mb < 60, f"RSS grew by {grown_mb:.0f} MB over 4 cancelled rankings"
    assert admission.JOBS.counts() == (0, 0, 0)


def _join(app_module, session: str, seed: int, results: list, barrier: threading.Barrier, address: str) -> None:
    import json
    import urllib.error
    import urllib.request

    fn_index = next(i for i, dep in enumerate(app_module.demo.config["dependencies"]) if dep.get("api_name") == "rank")
    data = _form(seed, n=20, max_esms=1)
    body = json.dumps({"data": data, "fn_index": fn_index, "session_hash": session})
    request = urllib.request.Request(
        app_module.demo.local_url + "gradio_api/queue/join",
        data=body.encode(),
        headers={"Content-Type": "application/json", "X-Forwarded-For": address},
    )
    barrier.wait()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            results.append((response.status, response.read().decode()))
    except urllib.error.HTTPError as e:
        results.append((e.code, e.read().decode()))


def _arrive_together(app_module, sessions: list[str], addresses: list[str] | None = None) -> list[tuple[int, str]]:
    """Every session joins /rank at the same instant, each from its address (as a proxy reports it)."""
    results: list[tuple[int, str]] = []
    barrier = threading.Barrier(len(sessions))
    addresses = addresses or [f"10.9.{i // 250}.{i % 250}" for i in range(len(sessions))]
    threads = [
        threading.Thread(target=_join, args=(app_module, s, _seed(), results, barrier, a))
        for s, a in zip(sessions, addresses)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_simultaneous_arrivals_respect_the_bounds(live_app, monkeypatch):
    """50 requests at the same instant (Gradio's max_size admits them all): at most
    HFSELECT_QUEUE_SIZE are taken, one client gets at most HFSELECT_MAX_JOBS_PER_CLIENT, and one
    address opening a session per request at most 4 times that.

    Admitted jobs are held at their first step (reading the data) until every answer is in, so the
    counts are exact; then they end at once (the data is refused) instead of running 16 rankings.
    """
    from hfselect_core.errors import HFSelectError

    gate = threading.Event()

    def held(form, token=None):
        gate.wait(60)
        raise HFSelectError("held by the test")

    monkeypatch.setattr(targets, "build_dataset", held)

    def crowd(sessions, addresses=None):
        gate.clear()
        results = _arrive_together(live_app, sessions, addresses)
        gate.set()
        _wait(lambda: admission.JOBS.counts()[0] == 0, 60, "the admitted jobs to end")
        return sorted(code for code, _ in results), [body for code, body in results if code == 422]

    monkeypatch.setenv(limits.QUEUE_SIZE_ENV, "6")
    codes, refused = crowd([f"crowd-{i}" for i in range(50)])
    assert codes == [200] * 6 + [422] * 44
    assert all("The app is busy" in body and "HFSELECT_QUEUE_SIZE" in body for body in refused)

    monkeypatch.setenv(limits.QUEUE_SIZE_ENV, "20")
    codes, refused = crowd(["greedy"] * 8, ["10.8.0.1"] * 8)
    assert codes == [200] * 2 + [422] * 6
    assert all("You already have 2 job(s)" in body for body in refused)

    codes, refused = crowd([f"script-{i}" for i in range(12)], ["10.7.0.1"] * 12)
    assert codes == [200] * 8 + [422] * 4
    assert all("You already have 8 job(s)" in body for body in refused)


# --- caps from environment variables ----------------------------------------------------------------


def test_max_examples_cap_gives_a_clear_error(monkeypatch, assets, dataset, tiny_bert_dir):
    monkeypatch.setenv(limits.MAX_EXAMPLES_ENV, "10")
    with pytest.raises(InputTooLargeError) as info:
        compute_task_ranking(dataset, base_model=str(tiny_bert_dir), source="bundled", device="cpu")
    message = str(info.value)
    assert "32 examples is over the limit of 10" in message
    assert "HFSELECT_MAX_EXAMPLES" in message and "use a smaller sample" in message


def test_max_examples_cap_in_form_validation(monkeypatch):
    from hfselect_app.rank_tab import RankForm, validate_form

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


def test_share_link_autorun_is_admitted_like_a_click(live_app, monkeypatch):
    """A share link with autorun=1 runs a ranking on page load: it takes a ticket like the Rank button,
    so a link opened by a crowd is bounded too; over the bound the page says so instead of queueing."""
    monkeypatch.setenv(limits.MAX_JOBS_PER_CLIENT_ENV, "1")
    import gradio as gr

    request = gr.Request(session_hash="autorun-client", headers={}, client=SimpleNamespace(host="10.6.0.1"))
    admission.JOBS.admit("autorun-client", "10.6.0.1")  # this client already has a job waiting
    outputs = list(rank_tab.autorun_rank(True, "", *_form(_seed(), n=20, max_esms=1), request))
    assert outputs[-1][0].startswith("⚠️ You already have 1 job(s)"), outputs[-1][0]
    admission.JOBS.drop_waiting("autorun-client")
    outputs = list(rank_tab.autorun_rank(True, "", *_form(_seed(), n=20, max_esms=1), request))
    assert outputs[-1][0].startswith("✅"), outputs[-1][0]
    assert admission.JOBS.counts() == (0, 0, 0)
