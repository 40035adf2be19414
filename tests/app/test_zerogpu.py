"""ZeroGPU: the app's rank handler goes through the real ``spaces.GPU`` with a job-sized duration,
and off ZeroGPU (no GPU here) the decorated ranking runs on the CPU with the same result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

spaces = pytest.importorskip("spaces", reason="the spaces package (requirements.txt) is not installed")


def test_decorated_ranking_generator_runs_on_the_cpu(tiny_bert_dir, tmp_path, monkeypatch):
    from helpers import write_esm_folder

    from hfselect_app.zerogpu import on_zero_gpu
    from hfselect_core import TargetDataset
    from hfselect_core.ranking import iter_task_ranking

    requested = []
    real_gpu = spaces.GPU

    def spy(*args, **kwargs):
        requested.append(kwargs.get("duration"))
        return real_gpu(*args, **kwargs)

    monkeypatch.setattr(spaces, "GPU", spy)
    pool = tmp_path / "pool"
    for i in range(3):
        write_esm_folder(pool / f"org__t{i}", f"org/t{i}", base_model=str(tiny_bert_dir), seed=i)
    texts = [f"text number {i} about {'cats' if i % 2 else 'dogs'}" for i in range(24)]
    dataset = TargetDataset(texts, np.arange(24) % 2, "classification", ["text"], "label")

    def rank(n, k):
        yield from iter_task_ranking(dataset, str(tiny_bert_dir), source=str(pool), device=None)

    decorated = on_zero_gpu(lambda *args, **kwargs: 45)(rank)
    assert len(requested) == 1 and requested[0](0, 0) == 45
    events = list(decorated(24, 3))
    ranking = events[-1].ranking
    assert ranking is not None and len(ranking) == 3
    direct = list(rank(24, 3))[-1].ranking
    assert [r.score for r in ranking] == pytest.approx([r.score for r in direct], rel=1e-12)


def test_duration_grows_with_the_job_and_is_bounded():
    from hfselect_app.zerogpu import MAX_GPU_SECONDS, MIN_GPU_SECONDS, ranking_gpu_seconds

    small, large = ranking_gpu_seconds(200, 20), ranking_gpu_seconds(5000, 1500)
    assert MIN_GPU_SECONDS <= small < large <= MAX_GPU_SECONDS
    assert ranking_gpu_seconds(10**9, 10**9) == MAX_GPU_SECONDS
    assert ranking_gpu_seconds(None, None) == ranking_gpu_seconds(1000, 1500)


def test_app_rank_handler_requests_the_gpu_with_its_arguments():
    """Import the real app with a recording ``spaces.GPU`` and call the durations it registered with
    arguments laid out as the handlers' signatures say (positional and by name)."""
    probe = """
import inspect, json
import spaces
seen = []
real = spaces.GPU
def spy(*args, **kwargs):
    seen.append(kwargs.get("duration"))
    return real(*args, **kwargs)
spaces.GPU = spy
import app
from hfselect_app import rank_tab
names = list(inspect.signature(rank_tab.rank).parameters)
durations = {d.__name__: d for d in seen if callable(d)}
rank_seconds = durations.get("rank_handler_seconds")
def args(n, k):
    values = [None] * len(names)
    values[names.index("num_examples")] = n
    values[names.index("max_esms")] = k
    return values
train = durations.get("training_handler_seconds")
out = {
    "registered": sorted(durations),
    "small": rank_seconds(*args(200, 20)) if rank_seconds else None,
    "large": rank_seconds(*args(5000, 1500)) if rank_seconds else None,
    "named": rank_seconds(num_examples=5000, max_esms=1500) if rank_seconds else None,
    "garbage": rank_seconds(*args("x", float("nan"))) if rank_seconds else None,
    "train_small": train(num_examples=100, epochs=1) if train else None,
    "train_large": train(num_examples=10000, epochs=3) if train else None,
}
print(json.dumps(out))
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("SPACES_ZERO_GPU", None)
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=180, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["registered"] == ["rank_handler_seconds", "training_handler_seconds"]
    assert out["small"] < out["large"] == out["named"]
    assert out["garbage"] > 0
    assert 60 <= out["train_small"] <= out["train_large"] <= 900
