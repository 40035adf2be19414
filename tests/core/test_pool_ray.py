"""Building an ESM pool on a local Ray: the one command as a process, killed and resumed.

Tiny random BERT, 6 tiny tasks (one with a corrupt data file), 2 Ray workers (num_cpus=2, no
dashboard, an 80 MB object store). Keys, the manifest checks and the publisher run without Ray.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import REPO_ROOT

from hfselect_core import pool
from hfselect_core.esm import ESM
from hfselect_core.pool_cli import main as pool_main
from hfselect_core.training import TrainingSettings

ROOT = REPO_ROOT
BASE = "tiny/bert-test"
GOOD = ["t0", "t1", "t2", "t3", "t4"]
HUB_TASK, HUB_DATASET = "t3", "pool-org/t3-data"
N = 160


def _write_tasks(root: Path, n: int = N) -> Path:
    from helpers import make_texts

    tasks = []
    for i, name in enumerate(GOOD):
        rng = np.random.default_rng(i)
        texts = make_texts(n, seed=i)
        if i == 4:  # one regression task
            df = pd.DataFrame({"sentence": texts, "score": rng.normal(size=n)})
            entry = {"text_columns": ["sentence"], "label_column": "score", "label_names": "regression"}
        elif name == HUB_TASK:  # read from the (emulated) Hub by the worker: no file
            tasks.append({"name": name, "hub_id": HUB_DATASET, "text_columns": ["text"], "rows": {"train": 2}})
            continue
        else:
            df = pd.DataFrame({"text": texts, "label": rng.integers(0, 2 + i % 3, n)})
            entry = {"text_columns": ["text"], "label_column": "label"}
        (root / name).mkdir(parents=True)
        df.to_parquet(root / name / "train.parquet")
        tasks.append({"name": name, "files": {"train": f"{name}/train.parquet"}, "rows": {"train": n}, **entry})
    (root / "broken").mkdir()
    (root / "broken" / "train.parquet").write_bytes(b"PAR1 this is not a parquet file")
    tasks.append(
        {"name": "broken", "hub_id": "someone/broken", "files": {"train": "broken/train.parquet"}, "rows": {"train": 1}}
        | {"text_columns": ["text"]}
    )
    manifest = root / "manifest.json"
    manifest.write_text(json.dumps({"tasks": tasks}))
    return manifest


def _command(manifest: Path, out: Path, model: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "scripts" / "build_pool.py"),
        *("--manifest", str(manifest), "--out", str(out), "--model-path", str(model), "--base-model", BASE),
        *("--num-cpus", "2", "--object-store-mb", "80", "--cpus-per-esm", "1"),
        *("--epochs", "2", "--max-attempts", "2", "--progress-every", "0.5"),
        *extra,
    ]


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    # The script imports the package from the checkout (an installed copy would do too).
    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", RAY_AUTH_MODE="disabled", PYTHONPATH=str(ROOT))
    env.update(HF_HOME=str(tmp / "hf_home"), HFSELECT_TEST_RUN=str(tmp), **extra)
    return env


def _processes_of_run(marker: str) -> list[int]:
    """Processes started by the killed job (Ray's own and its workers): they carry its environment."""
    needle = f"HFSELECT_TEST_RUN={marker}".encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _wait_for_leftovers(marker: str, timeout: float = 30) -> None:
    """Ray's processes follow a killed driver (fate sharing); a worker may finish its ESM first."""
    deadline = time.monotonic() + timeout
    while (pids := _processes_of_run(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:  # still there after the timeout: this test started them, so it ends them
        os.kill(pid, signal.SIGKILL)


def _journal_events(out: Path) -> list[dict]:
    path = out / pool.JOURNAL_NAME
    if not path.is_file():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass  # a line being written as we read
    return events


@pytest.mark.slow
def test_pool_is_built_killed_resumed_and_reported(tmp_path, tiny_bert_dir):
    pytest.importorskip("ray")
    from helpers import make_texts
    from hub_emulator import HubEmulator, add_parquet_dataset

    manifest = _write_tasks(tmp_path / "data")
    out = tmp_path / "pool"

    # Run 1: a real kill (SIGKILL of the job's process group) once the first ESM is in.
    proc = subprocess.Popen(
        _command(manifest, out, tiny_bert_dir),
        env=_env(tmp_path),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "run1.log", "w"),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(e.get("event") == "built" for e in _journal_events(out)):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the job ended before it could be killed:\n" + (tmp_path / "run1.log").read_text()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    _wait_for_leftovers(marker=str(tmp_path))
    first = sorted(p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert 1 <= len(first) < len(GOOD), f"the kill did not land midway: {first}"
    assert not (out / pool.REPORT_NAME).exists()
    stamps = {n: (out / n / "model.safetensors").stat().st_mtime_ns for n in first}
    events_before = len(_journal_events(out))

    # One finished ESM moves to the (emulated) Hub: found there by its key, it is not rebuilt.
    on_hub = first[0]
    with HubEmulator() as hub:
        rows = {"text": make_texts(N, seed=3), "label": [i % 3 for i in range(N)]}
        add_parquet_dataset(hub, HUB_DATASET, {"train": rows}, class_names={"label": ["neg", "mid", "pos"]})
        repo = pool.esm_repo_id("pool-org", BASE, on_hub)
        hub.add_model_folder(repo, out / on_hub, tags=["embedding_space_map", f"BaseLM:{BASE}"])
        for f in (out / on_hub).iterdir():
            f.unlink()
        (out / on_hub).rmdir()
        # Run 2: the same command resumes; the corrupt task fails twice and is recorded.
        done = subprocess.run(
            _command(manifest, out, tiny_bert_dir, "--namespace", "pool-org", "--deterministic"),
            env=_env(tmp_path, HF_HUB_OFFLINE="0", HF_ENDPOINT=hub.url),
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert done.returncode == 3, done.stderr[-3000:]  # 3: finished, some ESMs failed
    assert "failed broken" in done.stderr and "running" in done.stderr and "ETA" in done.stderr

    report = json.loads((out / pool.REPORT_NAME).read_text())
    by_name = {e["name"]: e for e in report["esms"]}
    assert set(by_name) == {*GOOD, "broken"}
    for name in GOOD:
        entry = by_name[name]
        expected = "on_hub" if name == on_hub else ("existing" if name in first else "built")
        assert entry["status"] == expected, (name, entry)
        assert entry["r2"] is not None and np.isfinite(entry["mse"]) and entry["examples"] == N
        if expected == "built":
            assert entry["seconds"] > 0 and entry["attempts"] == 1 and entry["errors"] == []
    broken = by_name["broken"]
    assert broken["status"] == "failed" and broken["attempts"] == 2 and len(broken["errors"]) == 2
    assert all("parquet" in reason.lower() for reason in broken["errors"]), broken["errors"]
    summary = report["summary"]
    assert summary == summary | {"tasks": 6, "failed": 1, "on_hub": 1, "existing": len(first) - 1}
    assert summary["built"] == len(GOOD) - len(first)
    assert report["base_model"] == BASE and report["code_version"] == pool.code_version()

    # The resumed run built only the missing ESMs: finished folders untouched, none rebuilt.
    for name in first[1:]:
        assert (out / name / "model.safetensors").stat().st_mtime_ns == stamps[name]
    assert not (out / on_hub).exists()
    built_now = [e["name"] for e in _journal_events(out)[events_before:] if e.get("event") == "built"]
    assert sorted(built_now) == sorted(set(GOOD) - set(first)), built_now
    for name in GOOD:
        if name != on_hub:
            esm = ESM.from_folder(out / name)
            assert esm.config.base_model_name == BASE and esm.config.extra[pool.KEY_FIELD] == by_name[name]["key"]
            assert (out / name / "README.md").read_text().count("embedding_space_map") >= 1
    from_hub = json.loads((out / HUB_TASK / "config.json").read_text())
    assert (from_hub["task_id"], from_hub["label_names"]) == (HUB_DATASET, ["neg", "mid", "pos"])
    regression = json.loads((out / "t4" / "config.json").read_text()) if on_hub != "t4" else None
    assert regression is None or (regression["task_type"], regression["label_column"]) == ("regression", "score")
    assert not [p for p in out.iterdir() if p.name.startswith(".building-")]


def test_keys_follow_data_recipe_model_and_code(tmp_path):
    data = tmp_path / "a.parquet"
    pd.DataFrame({"text": ["x y", "y z"], "label": [0, 1]}).to_parquet(data)
    task = pool.PoolTask("t", ("text",), path=str(data))
    recipe = pool.PoolRecipe(BASE, "rev1", {"lm_num_epochs": 3, "seed": 42})
    key = pool.esm_key(task, recipe, "c1")
    moved = tmp_path / "shared" / "a.parquet"
    moved.parent.mkdir()
    moved.write_bytes(data.read_bytes())  # a copy on shared storage: same content, same key
    assert pool.esm_key(pool.PoolTask("t", ("text",), path=str(moved)), recipe, "c1") == key
    changed = [
        pool.esm_key(pool.PoolTask("t", ("text", "label"), path=str(data)), recipe, "c1"),
        pool.esm_key(pool.PoolTask("t", ("text",), path=str(data), subset="s"), recipe, "c1"),
        pool.esm_key(pool.PoolTask("t", ("text",), path=str(data), revision="abc"), recipe, "c1"),
        pool.esm_key(task, pool.PoolRecipe(BASE, "rev2", recipe.settings), "c1"),
        pool.esm_key(task, pool.PoolRecipe(BASE, "rev1", {"lm_num_epochs": 2, "seed": 42}), "c1"),
        pool.esm_key(task, recipe, "c2"),
    ]
    assert len({key, *changed}) == 7
    rows = pd.DataFrame({"text": ["x y", "y z", "z z"], "label": [0, 1, 1]})
    rows.to_parquet(data)  # new content under the same path: a new key
    pool._file_digest.cache_clear()
    assert pool.esm_key(task, recipe, "c1") != key
    assert pool.code_version().startswith("0.") and TrainingSettings().seed == 42


@pytest.mark.parametrize(
    "tasks, message",
    [
        ([{"name": "a", "files": {"train": "a.parquet"}}], "needs 'text_columns'"),
        ([{"name": "../up", "text_columns": ["t"], "hub_id": "x/y"}], "no usable 'name'"),
        ([{"name": "a", "text_columns": ["t"]}], "neither a data file"),
        ([{"name": "a", "text_columns": ["t"], "hub_id": "x/y"}] * 2, "appears twice"),
        ([{"name": "a", "text_columns": ["t"], "hub_id": "x/y", "max_examples": 1}], "at least 2"),
        ([], "non-empty 'tasks'"),
        ([{"name": "a", "text_columns": ["t"], "hub_id": ["x/y"]}], "'hub_id' must be text"),
    ],
)
def test_bad_manifest_is_refused_with_the_reason(tmp_path, capsys, tasks, message):
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"tasks": tasks}))
    assert pool_main(["--manifest", str(manifest), "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_publish_needs_a_namespace_and_missing_manifest_is_named(tmp_path, capsys):
    cmd = [sys.executable, "-m", "hfselect_core", "pool", "--manifest", str(tmp_path / "nope.json"), "--out", "o"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, env=_env(tmp_path))
    assert done.returncode == 2 and "does not exist" in done.stderr and "Traceback" not in done.stderr
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"tasks": [{"name": "a", "text_columns": ["t"], "hub_id": "x/y"}]}))
    assert pool_main(["--manifest", str(manifest), "--out", str(tmp_path / "o"), "--publish"]) == 2
    assert "--publish needs --namespace" in capsys.readouterr().err


def test_publisher_is_rate_limited_and_records_failures(tmp_path):
    calls: list[tuple[float, str]] = []
    outcomes: list[tuple[str, str, str | None]] = []

    def upload(folder: Path, repo_id: str) -> None:
        calls.append((time.monotonic(), repo_id))
        if "bad" in repo_id:
            raise RuntimeError("HTTP 500 from the Hub")

    publisher = pool.RateLimitedPublisher(
        "org", "sentence-transformers/all-MiniLM-L6-v2", None, 0.15, retries=1, publish=upload,
        on_done=lambda *a: outcomes.append(a),
    )  # fmt: skip
    for name in ("a", "bad", "c"):
        publisher.submit(name, tmp_path / name)
    publisher.close()
    gaps = np.diff([t for t, _ in calls])
    assert len(calls) == 4 and (gaps >= 0.149).all()  # "bad" was tried twice
    assert [o[0] for o in outcomes] == ["a", "bad", "c"]
    assert outcomes[0] == ("a", "org/esm-all-MiniLM-L6-v2-a", None)
    assert "HTTP 500" in outcomes[1][2] and outcomes[2][2] is None


def test_only_pool_ray_imports_ray():
    code = (
        "import sys, hfselect_core, hfselect_core.pool, hfselect_core.pool_cli, hfselect_core.cli\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
        "import hfselect_core.pool_ray\n"
        "assert 'ray' in sys.modules\n"
    )
    pytest.importorskip("ray")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_progress_eta_weighs_tasks_by_size_and_counts_running_ones_half():
    progress = pool.PoolProgress(total=4, existing=1, work_total=30.0)
    assert progress.eta_seconds() is None and "ETA ?" in progress.line()
    progress.started = time.monotonic() - 10.0
    progress.finished(10.0)  # a third of the work in 10 s: 20 s left
    assert progress.eta_seconds() == pytest.approx(20.0, abs=0.5)
    progress.work_running, progress.running = 10.0, 1  # the next one half done: 15 of 30 in 10 s
    assert progress.eta_seconds() == pytest.approx(10.0, abs=0.5)
    progress.finished(5.0, failed=True)
    progress.finished(15.0)
    d = progress.as_dict()
    assert (d["built"], d["failed"], d["existing"], d["eta_s"]) == (2, 1, 1, 0.0)
