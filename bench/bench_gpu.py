"""GPU timing of the scoring phase: K affine ESMs of dimension d on N target embeddings.

    python -m bench.bench_gpu --k 1500 --n 10000 --d 768

Random embeddings and random near-identity maps (timing does not depend on the values);
the ESMs are already in memory, as after loading. Prints one JSON line per setting.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from hfselect_core.logme import AffineLogME  # noqa: E402


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run(
    k: int,
    n: int,
    d: int,
    classes: int,
    device: str,
    batch: int,
    seed: int = 0,
    streams: int = 1,
    mode: str = "auto",
    workers: int | None = None,
) -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, classes, n)
    # Biases first and from their own stream, so the first maps are the same for any k.
    b = 0.01 * np.random.default_rng(seed + 1).standard_normal((k, d)).astype(np.float32)
    w = np.eye(d, dtype=np.float32) + 0.05 * rng.standard_normal((k, d, d)).astype(np.float32)
    sync(device)
    t0 = time.perf_counter()
    scorer = AffineLogME(x, y, regression=False, device=device, cuda_mode=mode, workers=workers)
    weights = torch.as_tensor(w, device=device)
    biases = torch.as_tensor(b, device=device)
    sync(device)
    t_init = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = scorer.score_many(weights, biases, batch_size=batch, cuda_streams=streams)
    sync(device)
    t_score = time.perf_counter() - t0
    row = {
        "device": device,
        "k": k,
        "n": n,
        "d": d,
        "classes": classes,
        "batch": batch,
        "streams": streams,
        "mode": mode if device.startswith("cuda") else f"cpu, {workers or 'all'} workers",
        "seconds_statistics": round(t_init, 3),
        "seconds_scoring": round(t_score, 3),
        "seconds_total": round(t_init + t_score, 3),
        "ms_per_esm": round(1000 * t_score / k, 3),
    }
    return row, scores


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--k", type=int, default=1500)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--d", type=int, default=768)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--modes", nargs="+", default=["eigh", "hybrid"], help="AffineLogME cuda_mode values")
    parser.add_argument("--cpu-k", type=int, default=24, help="ESMs timed on the CPU for the ratio")
    args = parser.parse_args()
    print(
        json.dumps(
            {
                "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                "torch": torch.__version__,
                "cpu_threads": torch.get_num_threads(),
            }
        ),
        flush=True,
    )
    gpu_scores = {}
    for mode in args.modes:
        run(16, args.n, args.d, args.classes, "cuda", 16, mode=mode)  # warm-up: kernels, cuSOLVER handles
        for batch in args.batches:
            for streams in args.streams if mode == "eigh" else [1]:
                row, gpu_scores[mode] = run(
                    args.k, args.n, args.d, args.classes, "cuda", batch, streams=streams, mode=mode
                )
                print(json.dumps(row), flush=True)
    for workers in (None, 2):
        row, cpu_scores = run(args.cpu_k, args.n, args.d, args.classes, "cpu", 8, workers=workers)
        print(json.dumps(row), flush=True)
    for mode, scores in gpu_scores.items():
        diff = np.max(np.abs(scores[: args.cpu_k] - cpu_scores) / np.abs(cpu_scores))
        print(json.dumps({"mode": mode, "max_rel_diff_gpu_vs_cpu": float(diff)}), flush=True)


if __name__ == "__main__":
    main()
