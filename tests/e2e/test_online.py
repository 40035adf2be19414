"""The online path over real HTTP: a local Hub (tests/hub_emulator.py) behind ``HF_ENDPOINT``.

``huggingface_hub`` reads ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` at import time and this test process
runs offline, so the CLI, the Python API and the app run in subprocesses pointed at the emulator,
which counts every request they make.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO_ROOT, free_port, make_texts, save_tiny_bert
from hub_emulator import HubEmulator, Repo, add_esm_pool, add_hostile_esms, add_parquet_dataset, esm_files

ROOT = REPO_ROOT
BASE = "google-bert/bert-base-uncased"
K = 300  # ESMs for the base model: 295 under its canonical id, 5 under the legacy one-part id
ALICE = "hf_alice_0123456789abcdef"  # a signed-in user's token: gated data and a private ESM
POSITIVE = {"good", "great", "love", "happy", "fine", "fast", "cheap"}


def _texts_and_labels(n: int, seed: int) -> tuple[list[str], list[int]]:
    texts = make_texts(n, seed)
    return texts, [int(bool(POSITIVE & set(t.split()))) for t in texts]


@pytest.fixture(scope="module")
def emu(tmp_path_factory):
    hub = HubEmulator()
    bert = save_tiny_bert(tmp_path_factory.mktemp("emu_bert"))
    hub.add_model_folder(BASE, bert, tags=["transformers", "bert", "fill-mask"])
    hub.add_alias("bert-base-uncased", BASE)
    add_esm_pool(hub, BASE, K - 5, dim=32)
    add_esm_pool(hub, "bert-base-uncased", 5, dim=32, owner="legacy-org", start=K - 5)
    hub.hostile = add_hostile_esms(hub, BASE, dim=32)
    add_esm_pool(hub, "fault/base", 200, dim=8, owner="fault-org")  # never fetched by a ranking: cold
    files, tags = esm_files(BASE, "alice/private_task", 32, seed=999)
    hub.add_repo(Repo("alice/ESM_private_task", "model", files, tags, private=True, allowed_tokens={ALICE}))
    texts, labels = _texts_and_labels(240, 1)
    splits = {
        "train": {"text": texts[:200], "label": labels[:200]},
        "test": {"text": texts[200:], "label": labels[200:]},
    }
    add_parquet_dataset(hub, "emu/reviews", splits, {"label": ["neg", "pos"]})
    add_parquet_dataset(hub, "emu/gated-reviews", splits, {"label": ["neg", "pos"]}, gated=True, allowed_tokens={ALICE})
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def env(emu, tmp_path_factory):
    home = tmp_path_factory.mktemp("online_home")
    out = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "TRANSFORMERS_"))}
    out.update(
        HF_ENDPOINT=emu.url,
        HF_HUB_OFFLINE="0",
        HF_HOME=str(home / ".huggingface"),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HFSELECT_RESULT_CACHE_DIR=str(home / "results"),
        PYTHONPATH=str(ROOT),
    )
    return out


def _run(args: list[str], env: dict, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _counts(emu: HubEmulator) -> dict[str, int]:
    """Requests by kind, as the emulator saw them (the once-a-day telemetry fetch left out)."""
    log = [r for r in emu.log if not r.path.startswith("/api/agent-harnesses")]
    esm = [r for r in log if r.path.startswith(("/esm-org/", "/legacy-org/", "/hostile/", "/api/models/esm-org"))]
    return {
        "total": len(log),
        "listing": sum(r.path == "/api/models" for r in log),
        "model_info": sum(r.path.startswith("/api/models/") and "/tree/" not in r.path for r in log),
        "esm_files": len(esm),
        "esm_bytes": sum(r.bytes_sent for r in esm),
        "dataset": sum("datasets" in r.path for r in log),
        "base_model_files": sum(r.path.startswith(("/bert-base-uncased/", f"/{BASE}/")) for r in log),
    }


RANK_ARGS = [
    "-m",
    "hfselect_core",
    "rank",
    "--dataset",
    "emu/reviews",
    "--text-column",
    "text",
    "--label-column",
    "label",
    "--base-model",
    "bert-base-uncased",
    "--pool",
    "hub",
    "--num-examples",
    "120",
    "--quiet",
]


def test_cli_ranks_a_hub_dataset_cold_then_warm_with_a_handful_of_requests(emu, env, tmp_path):
    emu.clear_log()
    started = time.perf_counter()
    cold = _run([*RANK_ARGS, "-o", str(tmp_path / "cold.json")], env)
    cold_s = time.perf_counter() - started
    assert cold.returncode == 0, cold.stderr[-3000:]
    cold_counts = _counts(emu)
    assert not emu.unknown, emu.unknown

    emu.clear_log()
    started = time.perf_counter()
    warm = _run([*RANK_ARGS, "-o", str(tmp_path / "warm.json")], env)
    warm_s = time.perf_counter() - started
    assert warm.returncode == 0, warm.stderr[-3000:]
    warm_counts = _counts(emu)

    ranking = json.loads((tmp_path / "warm.json").read_text())
    cold_ranking = json.loads((tmp_path / "cold.json").read_text())
    assert [(r["esm"], r["score"]) for r in ranking["ranking"]] == [
        (r["esm"], r["score"]) for r in cold_ranking["ranking"]
    ]
    names = {r["esm"] for r in ranking["ranking"]}
    # Both tag spellings, the legacy 0.1.0 layout and ESMs filed under the old one-part id are found:
    # 'bert-base-uncased' was resolved to its canonical id and both were searched.
    assert len(names) == K + 1  # + the ESM with markup in its config (kept; escaped when shown)
    assert "legacy-org/ESM_emu_task_0299" in names and "esm-org/ESM_emu_task_0004" in names
    assert ranking["base_model"] == "bert-base-uncased"
    skipped = {s["esm"]: s["reason"] for s in ranking["skipped"]}
    assert set(skipped) == set(emu.hostile) - {"hostile/markup"}
    assert "gated" in skipped["hostile/gated"]
    assert "missing file" in skipped["hostile/noweights"]

    # Cold: two files per ESM (a HEAD and a GET each), fetched at the listed commit.
    assert 4 * K <= cold_counts["esm_files"] <= 4 * (K + 10), cold_counts
    # Warm: the listing (2 tag spellings x 2 ids) and the base model's id, then cache lookups by
    # commit, which cost nothing; only the ESMs that failed (missing file, gated) are asked again.
    assert warm_counts["listing"] <= 4, warm_counts
    assert warm_counts["esm_files"] <= 4, warm_counts
    assert warm_counts["listing"] + warm_counts["model_info"] + warm_counts["esm_files"] <= 12, warm_counts
    print(
        json.dumps(
            {
                "K": K,
                "cold": {**cold_counts, "seconds": round(cold_s, 1)},
                "warm": {**warm_counts, "seconds": round(warm_s, 1)},
            }
        )
    )


API_SCRIPT = r"""
import json, logging, sys, time
logging.basicConfig(filename=sys.argv[2], level=logging.DEBUG, force=True)
from hfselect_core import TargetDataset, compute_task_ranking
from hfselect_core.errors import DatasetAccessError
from hfselect_core import result_cache
from hfselect_core.sources import ESMFilters

token = sys.argv[1]
out = {}
try:
    TargetDataset.from_hub("emu/gated-reviews", text_columns="text", label_column="label", num_examples=60)
    out["anonymous_gated"] = "loaded"
except DatasetAccessError as e:
    out["anonymous_gated"] = str(e)
ds = TargetDataset.from_hub("emu/gated-reviews", text_columns="text", label_column="label", num_examples=60, token=token)
filters = ESMFilters(task_contains="task_00")
mine = compute_task_ranking(ds, "bert-base-uncased", source="hub", token=token)
out["with_token"] = sorted(r.name for r in mine)
public = TargetDataset.from_hub("emu/reviews", text_columns="text", label_column="label", num_examples=60)
anon = compute_task_ranking(public, "bert-base-uncased", source="hub")
out["anonymous"] = sorted(r.name for r in anon)

# The result store: Alice's gated result is restricted; nobody gets it by id, and a requester
# without access never gets a key (the Hub refuses them before the cache is read).
def plan(tok):
    target, restricted = result_cache.hub_dataset_fingerprint("emu/gated-reviews", tok)
    return result_cache.plan(target=target, target_label="emu/gated-reviews", target_restricted=restricted,
        subset=None, split="train", text_columns=["text"], label_column="label", task_type=None,
        num_examples=60, seed=42, base_model="bert-base-uncased", pool="hub", token=tok)
p = plan(token)
cache = result_cache.default_cache()
rid = cache.put(p.key, mine, p.restricted, p.target_label)
out["restricted"] = p.restricted
out["by_id"] = cache.get_by_id(rid) is not None
out["by_key_alice"] = cache.get(p.key) is not None
try:
    plan(None)
    out["anonymous_plan"] = "planned"
except Exception as e:
    out["anonymous_plan"] = type(e).__name__
out["stored_files"] = [str(f) for f in cache.entries()]
from hfselect_core.sources import esm_coverage
out["coverage"] = esm_coverage()["hub"]

# The app's handlers with a signed-in user's token (what gr.OAuthToken carries) and without one.
import types
from hfselect_app import picker, rank_tab
alice = types.SimpleNamespace(token=token)
out["lookup_alice"] = str(picker.hub_lookup("emu/gated-reviews", None, alice)[-1])
out["lookup_anonymous"] = str(picker.hub_lookup("emu/gated-reviews")[-1])
form = dict(source="hub", dataset_id="emu/gated-reviews", split="train", text_columns=["text"],
            label_column="label", task_type="auto", num_examples=60, seed=42, max_esms=0, task_filter="",
            language="", base_model="bert-base-uncased", pool="hub", top_k=10)
final = list(rank_tab.rank(**form, oauth_token=alice))[-1]
out["app_alice"] = [str(final[0]), final[-1]]
again = list(rank_tab.rank(**form, oauth_token=alice))[-1]
out["app_alice_again"] = [str(again[0]), again[-1]]
out["app_anonymous"] = str(list(rank_tab.rank(**form))[-1][0])

# Faults: 429 with Retry-After and 503 while downloading, then Cancel during slow downloads.
from hfselect_core import hub
from hfselect_core.errors import CancelledError



repos = {r.repo_id: r for r in hub.list_esm_repos("fault/base")}
first = [repos[f"fault-org/ESM_emu_task_{i:04d}"] for i in range(20)]
started = time.monotonic()
got = hub.fetch_esms(first, max_workers=4)
out.update({"retry_seconds": time.monotonic() - started, "ok": sum(hasattr(v, "is_dir") for v in got.values())})
out["errors"] = [repr(v)[:200] for v in got.values() if not hasattr(v, "is_dir")]

slow = [repos[f"fault-org/ESM_emu_task_{i:04d}"] for i in range(100, 200)]
stop_at = time.monotonic() + 1.0
out["stop_wall"] = time.time() + 1.0
try:
    hub.fetch_esms(slow, max_workers=8, should_stop=lambda: time.monotonic() > stop_at)
    out["cancel"] = "finished"
except CancelledError:
    out["cancel"] = "cancelled"
out["cancel_seconds"] = time.monotonic() - stop_at
print(json.dumps(out), flush=True)
"""


FAULTS = {
    "limited": r"^/fault-org/ESM_emu_task_0003/resolve/[0-9a-f]+/config\.json$",
    "server_error": r"^/fault-org/ESM_emu_task_001\d/resolve/",
    "slow": r"^/fault-org/ESM_emu_task_01\d\d/resolve/",
}


@pytest.fixture(scope="module")
def api_run(emu, env, tmp_path_factory):
    """One Python process: gated data and a private ESM with a token, coverage, then download faults."""
    tmp = tmp_path_factory.mktemp("api")
    script = tmp / "api.py"
    script.write_text(API_SCRIPT)
    debug_log = tmp / "debug.log"
    faults = {
        "limited": emu.add_fault(FAULTS["limited"], status=429, times=2, retry_after=1),
        "server_error": emu.add_fault(FAULTS["server_error"], status=503, times=2),
        "slow": emu.add_fault(FAULTS["slow"], delay=2.0, times=10_000),
    }
    emu.clear_log()
    try:
        result = _run([str(script), ALICE, str(debug_log)], env)
    finally:
        faults["slow"].times = 0
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        "out": out,
        "result": result,
        "debug": debug_log.read_text(errors="replace"),
        "log": list(emu.log),
        "faults": faults,
    }


def test_python_api_uses_the_token_for_gated_data_and_private_esms_and_never_leaks_it(api_run):
    out, result, log = api_run["out"], api_run["result"], api_run["log"]
    assert "gated or private" in out["anonymous_gated"]
    assert "alice/ESM_private_task" in out["with_token"]
    assert "alice/ESM_private_task" not in out["anonymous"]
    assert len(out["anonymous"]) == K + 1
    assert out["restricted"] and out["by_key_alice"] and not out["by_id"]
    assert out["anonymous_plan"] in ("GatedRepoError", "RepositoryNotFoundError", "HfHubHTTPError")
    # The token went to the Hub with Alice's requests, and nowhere else: not in any output, any log
    # line (DEBUG level), or the result store.
    assert any(r.token == ALICE for r in log)
    assert ALICE not in result.stdout + result.stderr
    assert ALICE not in api_run["debug"]
    for path in out["stored_files"]:
        assert ALICE not in Path(path).read_text()
    assert {r.token for r in log} <= {None, ALICE}


def test_app_handlers_use_the_signed_in_users_token_and_never_share_a_gated_result(api_run):
    out = api_run["out"]
    assert "subset(s)" in out["lookup_alice"] and "train" in out["lookup_alice"]
    assert "gated or private" in out["lookup_anonymous"]
    status, result_id = out["app_alice"]
    assert status.startswith("✅") and result_id == ""  # stored, but never offered as a link
    status, result_id = out["app_alice_again"]
    assert "From the result cache" in status and result_id == ""  # Alice proved access again
    assert "gated or private" in out["app_anonymous"] and "result cache" not in out["app_anonymous"]


def test_coverage_counts_esms_per_base_model(api_run, emu):
    coverage = api_run["out"]["coverage"]
    assert coverage[BASE] == K - 5 + len(emu.hostile)
    assert coverage["bert-base-uncased"] == 5  # filed under the legacy one-part id
    assert "alice/private_task" not in json.dumps(coverage)


def test_downloads_retry_429_and_5xx_and_cancel_stops_them_within_two_seconds(api_run):
    out, log, faults = api_run["out"], api_run["log"], api_run["faults"]
    # Every ESM arrives although the Hub said 429 (twice) and 503 (twice) on the way ...
    assert out["ok"] == 20, out["errors"]
    assert faults["limited"].times == 0 and faults["server_error"].times == 0
    assert sum(r.status == 429 for r in log) == 2 and sum(r.status == 503 for r in log) == 2
    # ... and after huggingface_hub's one immediate second try, the retry waited for Retry-After (1 s).
    arrivals = sorted(r.at for r in log if re.search(FAULTS["limited"], r.path) and r.method == "HEAD")
    assert len(arrivals) == 3 and arrivals[2] - arrivals[1] >= 0.95, arrivals
    # Cancel: the call returns within 2 s, and no new request starts afterwards (a worker may still
    # finish the file it was on: its HEAD and GET).
    assert out["cancel"] == "cancelled" and out["cancel_seconds"] < 2.0
    slow_requests = [r for r in log if re.search(FAULTS["slow"], r.path)]
    started_late = [r for r in slow_requests if r.at > out["stop_wall"] + 0.3 and r.method == "HEAD"]
    assert len(slow_requests) <= 2 * 8 and not started_late, [(r.method, r.path, r.at) for r in slow_requests]


@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium")
def test_browser_ranks_a_hub_dataset_and_shares_the_stored_result(emu, env, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    port = free_port()
    # As on a Space with persistent storage: no HF_HOME, a writable data folder; the app puts the Hub
    # cache and the stored results there (the same folders the CLI runs above filled).
    data_dir = Path(env["HF_HOME"]).parent
    app_env = {k: v for k, v in env.items() if k not in ("HF_HOME", "HFSELECT_RESULT_CACHE_DIR")}
    app_env.update(GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False", HFSELECT_DATA_DIR=str(data_dir))
    server = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=app_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()[-3000:]
                assert time.monotonic() < deadline, "the app did not start"
                time.sleep(0.5)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"], headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(url)
            page.get_by_role("tab", name="Hub dataset").click()
            page.get_by_label("Dataset id").fill("emu/reviews")
            page.get_by_role("button", name="Look up").click()
            page.wait_for_function(
                "() => document.querySelector('#label-column input')?.value.startsWith('label')", timeout=60_000
            )
            model = page.locator("#base-model input")
            model.click()
            # The coverage count from the Hub's listing is in the base model choices.
            page.get_by_role("option", name=f"{BASE} ({K - 5 + len(emu.hostile)} ESMs on the Hub)").wait_for()
            model.fill("bert-base-uncased")
            model.press("Enter")
            page.locator("#pool input[value='hub']").check()
            page.get_by_text("Advanced", exact=True).click()
            page.locator("#num-examples input").fill("120")
            page.locator("#num-examples input").press("Enter")
            page.locator("#rank-button").click()
            page.locator("#summary").get_by_text("ESMs scored", exact=False).first.wait_for(timeout=120_000)
            page.locator("#results a[href*='emu/task_']").first.wait_for(state="attached")
            page.wait_for_function("() => document.querySelector('#result-link textarea')?.value.includes('result=')")
            link = page.locator("#result-link textarea").input_value()
            page.screenshot(path=str(tmp_path / "online_ranked.png"), full_page=True)

            emu.clear_log()
            other = browser.new_page(viewport={"width": 1400, "height": 1000})
            other.goto(link)
            other.locator("#rank-status").get_by_text("From the result cache").wait_for(timeout=60_000)
            other.locator("#summary").get_by_text("ESMs scored", exact=False).first.wait_for()
            other.locator("#results a[href*='emu/task_']").first.wait_for(state="attached")
            # Opening a stored result costs no ESM download and no listing.
            assert _counts(emu)["esm_files"] == 0 and _counts(emu)["listing"] == 0
            browser.close()
        assert any((data_dir / ".huggingface" / "hub").glob("models--esm-org--ESM_emu_task_*"))
        assert len(list((data_dir / "hfselect" / "results").glob("*.json"))) == 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
