"""Requests, seconds and bytes of an online ranking, cold and warm, against the local Hub emulator.

    PYTHONPATH=tests .venv/bin/python -m bench.online_requests --k 300 --dim 32
    PYTHONPATH=tests .venv/bin/python -m bench.online_requests --k 1500 --dim 32 --log

(from the repository root; tests/ on the path for the Hub emulator and the tiny-model builders).

Starts ``tests/hub_emulator.py`` with K ESMs for a tiny BERT (served as ``google-bert/bert-base-uncased``)
and a parquet dataset, then runs the CLI (``python -m hfselect_core rank``) twice in fresh processes
with one ``HF_HOME``: cold (empty cache) and warm (every ESM cached). Prints one JSON line with the
requests by kind, the bytes served, the wall time and the ranking's stage times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from helpers import make_texts, save_tiny_bert  # noqa: E402
from hub_emulator import HubEmulator, add_esm_pool, add_parquet_dataset  # noqa: E402

BASE = "google-bert/bert-base-uncased"


def kind(path: str) -> str:
    if path == "/api/models":
        return "listing"
    if path.startswith("/api/agent-harnesses"):
        return "telemetry"
    if "/ESM_" in path:
        return "esm"
    if "datasets" in path:
        return "dataset"
    if path.startswith("/api/models/"):
        return "model_info"
    return "base_model"


def run_once(hub: HubEmulator, env: dict, out: Path, workers: int) -> dict:
    hub.clear_log()
    started = time.perf_counter()
    cmd = [sys.executable, "-m", "hfselect_core", "rank", "--dataset", "emu/reviews", "--text-column", "text"]
    cmd += ["--label-column", "label", "--base-model", "bert-base-uncased", "--pool", "hub", "--num-examples", "200"]
    cmd += ["--quiet", "-o", str(out)]
    result = subprocess.run(
        cmd, cwd=ROOT, env={**env, "HFSELECT_HUB_WORKERS": str(workers)}, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    log = list(hub.log)
    by_kind = Counter(kind(r.path) for r in log)
    esm = [r for r in log if kind(r.path) == "esm"]
    ranking = json.loads(out.read_text())
    return {
        "seconds": round(seconds, 2),
        "requests": sum(v for k, v in by_kind.items() if k != "telemetry"),
        "by_kind": dict(by_kind),
        "esm_mb": round(sum(r.bytes_sent for r in esm) / 1e6, 2),
        "stage_seconds": ranking["stage_seconds"],
        "ranked": len(ranking["ranking"]),
        "log": [f"{r.method} {r.path}" for r in log if kind(r.path) != "esm"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--k", type=int, default=300)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--log", action="store_true", help="print the non-ESM requests of the warm run")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hfselect-online-"))
    hub = HubEmulator()
    hub.add_model_folder(BASE, save_tiny_bert(tmp / "bert", hidden=args.dim), tags=["transformers", "bert"])
    hub.add_alias("bert-base-uncased", BASE)
    add_esm_pool(hub, BASE, args.k, args.dim)
    texts = make_texts(400, 3)
    labels = [int(any(w in t.split() for w in ("good", "great", "love"))) for t in texts]
    add_parquet_dataset(hub, "emu/reviews", {"train": {"text": texts, "label": labels}}, {"label": ["neg", "pos"]})
    hub.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "TRANSFORMERS_"))}
    env.update(
        HF_ENDPOINT=hub.url,
        HF_HUB_OFFLINE="0",
        HF_HOME=str(tmp / "hf"),
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HFSELECT_RESULT_CACHE_DIR=str(tmp / "results"),
        PYTHONPATH=str(ROOT),
    )
    try:
        cold = run_once(hub, env, tmp / "cold.json", args.workers)
        warm = run_once(hub, env, tmp / "warm.json", args.workers)
    finally:
        hub.stop()
    if not args.log:
        cold.pop("log")
        warm.pop("log")
    print(json.dumps({"k": args.k, "dim": args.dim, "workers": args.workers, "cold": cold, "warm": warm}))


if __name__ == "__main__":
    main()
