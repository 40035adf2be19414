"""bench/quality.py runs end to end on two real targets (small samples) and reports sane figures.

It needs the shared transfer results and datasets beside the checkout (../shared); CI machines
without them skip it.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from helpers import REPO_ROOT

ROOT = REPO_ROOT
QUALITY = ROOT.parent / "shared" / "quality"
DATA = ROOT.parent / "shared" / "datasets"

pytestmark = pytest.mark.skipif(
    not (QUALITY / "transfer_minilm_dev.json").is_file() or not (DATA / "manifest.json").is_file(),
    reason="needs ../shared/quality and ../shared/datasets",
)


def _regret(order: list[str], perf: dict[str, float], k: int) -> float:
    best = max(perf.values())
    return (best - max(perf[s] for s in order[:k])) / best * 100


def test_quality_bench_two_targets(tmp_path):
    out = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "bench.quality", "--targets", "financial_phrasebank", "stsb"]
    cmd += ["--sizes", "40", "--samples", "2", "--check-product", "--cache", str(tmp_path / "cache")]
    cmd += ["--scorings", "product", "logme", "--json", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "regret@5" in proc.stdout and "fine-tuned LogME" in proc.stdout
    report = json.loads(out.read_text())
    transfer = json.loads((QUALITY / "transfer_minilm_dev.json").read_text())

    # The product itself (compute_task_ranking) gave the benchmark's scores and order on each target.
    assert {c["target"] for c in report["product_check"]} == {"financial_phrasebank", "stsb"}
    assert all(c["max_relative_difference"] < 1e-4 and c["order_tau"] >= 0.9 for c in report["product_check"])

    for scoring in ("product", "logme"):
        samples = report["scorings"][scoring]["samples"]
        assert len(samples) == 4  # 2 targets x 2 disjoint samples
        for row in samples:
            # 38 sources: the 39 ESMs of the pool less the target's own.
            assert row["sources"] == 38
            perf = {s: v for s, v in transfer["perf"][row["target"]].items() if s not in (row["target"], "base")}
            order = sorted(perf, key=lambda s: row["scores"][s], reverse=True)
            # The benchmark's figures are the yardstick's definitions on those scores.
            for k in (1, 3, 5):
                assert math.isclose(row[f"regret@{k}"], _regret(order, perf, k), abs_tol=1e-9)
            assert row["regret@1"] >= row["regret@3"] >= row["regret@5"] >= 0
            assert 0 < row["ndcg"] <= 100
        table = report["scorings"][scoring]["table"]
        assert set(table) == {"40", "all"}
        assert -1 <= table["all"]["tau"] <= 1
        mean_r5 = sum(r["regret@5"] for r in samples) / len(samples)
        assert math.isclose(table["all"]["regret@5"], mean_r5, rel_tol=1e-9)
    # 'logme' scores are LogME values; 'product' scores encode the product's order (minus the position).
    logme_scores = report["scorings"]["logme"]["samples"][0]["scores"]
    product_scores = report["scorings"]["product"]["samples"][0]["scores"]
    assert set(logme_scores) == set(product_scores)
    assert sorted(product_scores.values()) == [-float(i) for i in range(38, -1, -1)]
    assert all(math.isfinite(v) for v in logme_scores.values())
