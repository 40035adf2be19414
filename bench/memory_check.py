"""Peak memory of scoring K ESMs (d x d) on N embeddings the way a ranking does it.

    python -m bench.memory_check --k 1500 --n 10000 --d 768

Writes K random near-identity ESM folders (Hub format) to a temp dir, then, in a fresh child
process: loads them through LocalESMSource (weights are read again when scored), builds the
LogME statistics of N random embeddings and scores every ESM in the ranking's chunks. Prints
the child's peak RSS (VmHWM) and timings as JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(esm_dir: str, n: int, d: int) -> None:
    from hfselect_core.logme import AffineLogME
    from hfselect_core.ranking import _score_chunk
    from hfselect_core.sources import LocalESMSource

    t0 = time.perf_counter()
    esms = LocalESMSource(esm_dir).load("bench/model").esms
    t_load = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, 3, n)
    t0 = time.perf_counter()
    scorer = AffineLogME(x, y)
    scores = np.concatenate([_score_chunk(scorer, esms[i : i + 16]) for i in range(0, len(esms), 16)])
    t_score = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "k": len(esms),
                "n": n,
                "d": d,
                "finite": int(np.isfinite(scores).sum()),
                "load_s": round(t_load, 1),
                "score_s": round(t_score, 1),
                "ms_per_esm": round(1000 * t_score / len(esms), 1),
                "peak_rss_mb": round(vm_hwm_mb()),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--k", type=int, default=1500)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--d", type=int, default=768)
    parser.add_argument("--child", nargs=3, metavar=("DIR", "N", "D"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    from hfselect_core.esm import ESM, ESMConfig

    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(1)
        eye = np.eye(args.d, dtype=np.float32)
        for i in range(args.k):
            config = ESMConfig(base_model_name="bench/model", task_id=f"bench/task{i}", esm_embedding_dim=args.d)
            w = eye + 0.05 * rng.standard_normal((args.d, args.d), dtype=np.float32)
            ESM.from_weights(w, np.zeros(args.d, np.float32), config).save(Path(tmp) / f"esm{i:05d}")
        subprocess.run(
            [sys.executable, "-m", "bench.memory_check", "--child", tmp, str(args.n), str(args.d)], check=True, cwd=ROOT
        )


if __name__ == "__main__":
    main()
