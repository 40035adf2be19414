"""Scoring against its floor: ours per ESM vs a Gram matrix plus its eigenvalues, same threads.

    taskset -c 0,1 .venv/bin/python -m bench.bench_scoring --d 768 --n 1000 --k 32

LogME of a map needs the spectrum of the d x d Gram matrix of its features and the label
vectors' projections onto its eigenvectors. The floor is what any exact method pays per map:
forming the Gram matrix and its eigenvalues (no eigenvectors). Measured here, on the same
inputs and the same cores, one after the other, repeated:

* ``ours``: ``AffineLogME.score`` (Cholesky + TRMM + SYRK Gram, dsytrd, dormtr on the C label
  vectors, dsterf, shifted tridiagonal solves), W single-threaded workers (default: one per core);
* ``floor``: the same Gram formation + dsytrd + dsterf (= LAPACK's eigenvalues-only path), the
  same workers;
* ``floor (numpy)``: GEMM Gram ``W1 G W1^T`` + ``numpy.linalg.eigvalsh``, one process-wide BLAS
  with all cores (numpy's LAPACK holds no GIL but is not split across maps);
* ``eigh``: GEMM Gram + ``numpy.linalg.eigh`` with eigenvectors, all cores: the decomposition the
  previous implementation paid per map;
* Gram formations alone: Cholesky + TRMM + SYRK, eigen-factor + GEMM + SYRK, GEMM + GEMM.

Parity: ours against a plain float64 LogME of the explicitly mapped features (numpy ``eigh``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from hfselect_core import lapack  # noqa: E402
from hfselect_core.logme import AffineLogME, label_targets  # noqa: E402


def make_inputs(n: int, d: int, k: int, classes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=n)
    means = rng.standard_normal((classes, d))
    x = (0.5 * rng.standard_normal((n, d)) + 0.3 * means[labels]).astype(np.float32)
    w = (np.eye(d) + rng.standard_normal((k, d, d)) * (0.3 / np.sqrt(d))).astype(np.float32)
    b = (0.05 * rng.standard_normal((k, d))).astype(np.float32)
    return x, labels, w, b


def plain_logme(features: np.ndarray, labels: np.ndarray) -> float:
    """Independent float64 LogME (published fixed point), for the parity column."""
    f = np.asarray(features, dtype=np.float64)
    n, d = f.shape
    s2, v = np.linalg.eigh(f.T @ f)
    s2 = np.abs(s2)
    keep = np.sqrt(s2) > 1e-10
    s2, v = s2[keep], v[:, keep]
    u = f @ v / np.sqrt(s2)
    out = []
    for y in label_targets(labels, False).T:
        x2 = (u.T @ y) ** 2
        res_x2 = y @ y - x2.sum()
        alpha = beta = 1.0
        for _ in range(50):
            t = alpha / beta
            gamma = (s2 / (s2 + t)).sum()
            m2 = (s2 * x2 / (t + s2) ** 2).sum()
            res2 = (x2 / (1 + s2 / t) ** 2).sum() + res_x2
            alpha, beta = gamma / (m2 + 1e-5), (n - gamma) / (res2 + 1e-5)
            if abs(alpha / beta - t) / t <= 1e-3:
                break
        ev = (
            len(s2) / 2 * np.log(alpha)
            + n / 2 * np.log(beta)
            - 0.5 * np.log(alpha + beta * s2).sum()
            - beta / 2 * res2
            - alpha / 2 * m2
            - n / 2 * np.log(2 * np.pi)
        )
        out.append(ev / n)
    return float(np.mean(out))


def _w1(w: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = w.shape[0]
    out = np.empty((d, d + 1), order="F")
    out[:, :d] = w
    out[:, d] = b
    return out


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--d", type=int, default=768)
    parser.add_argument("--k", type=int, default=32, help="maps per timed run")
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best is kept)")
    parser.add_argument("--parity-k", type=int, default=4)
    parser.add_argument("--json", default="", help="write the figures here too")
    args = parser.parse_args(argv)

    cores = len(os.sched_getaffinity(0))
    x, labels, w, b = make_inputs(args.n, args.d, args.k, args.classes)
    rows: dict[str, float] = {}
    report: dict = {
        "n": args.n,
        "d": args.d,
        "k": args.k,
        "classes": args.classes,
        "cores": cores,
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                report["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    t0 = time.perf_counter()
    scorer = AffineLogME(x, labels)
    report["setup_s"] = time.perf_counter() - t0
    scorer.score(w[:2], b[:2])  # warm-up: library loading, thread start

    # ours, with W workers (default) and with 1 worker using all cores for BLAS
    rows["ours (workers = cores, 1 BLAS thread each)"] = timed(lambda: scorer.score(w, b), args.repeat)
    one = AffineLogME(x, labels, workers=1)
    rows["ours (1 worker, BLAS on all cores)"] = timed(lambda: one.score(w, b), args.repeat)
    factor = AffineLogME(x, labels, gram="factor")
    rows["ours with eigen-factor + GEMM Gram"] = timed(lambda: factor.score(w, b), args.repeat)

    chol = scorer._cholesky
    g = np.asarray(x, dtype=np.float64)
    g = np.hstack([g, np.ones((len(g), 1))])
    gram_full = g.T @ g

    def gram_cholesky(i: int) -> np.ndarray:
        w1 = _w1(w[i], b[i])
        lapack.right_multiply_lower(w1, chol)
        return lapack.gram_lower(w1)

    def floor_one(i: int) -> None:
        gram = gram_cholesky(i)
        diag, off, _ = lapack.tridiagonalize(gram)
        lapack.tridiagonal_eigenvalues(diag, off)

    def over_workers(fn) -> None:
        with threadpool_limits(limits=1, user_api="blas"):
            with ThreadPoolExecutor(max_workers=cores) as pool:
                list(pool.map(fn, range(args.k)))

    rows["floor: same Gram + eigenvalues only (dsytrd + dsterf), same workers"] = timed(
        lambda: over_workers(floor_one), args.repeat
    )

    def numpy_floor() -> None:
        for i in range(args.k):
            w1 = _w1(w[i], b[i])
            np.linalg.eigvalsh((w1 @ gram_full) @ w1.T)

    def numpy_eigh() -> None:
        for i in range(args.k):
            w1 = _w1(w[i], b[i])
            np.linalg.eigh((w1 @ gram_full) @ w1.T)

    rows["floor (numpy): GEMM Gram + eigvalsh, all cores"] = timed(numpy_floor, args.repeat)
    rows["eigh with eigenvectors + GEMM Gram, all cores (previous path's decomposition)"] = timed(
        numpy_eigh, args.repeat
    )

    eig_factor = factor._factor

    def gram_factor(i: int) -> None:
        lapack.gram_lower(np.asfortranarray(_w1(w[i], b[i]) @ eig_factor))

    def gram_gemm(i: int) -> None:
        w1 = _w1(w[i], b[i])
        (w1 @ gram_full) @ w1.T

    rows["Gram only: Cholesky + TRMM + SYRK, same workers"] = timed(lambda: over_workers(gram_cholesky), args.repeat)
    rows["Gram only: eigen-factor GEMM + SYRK, same workers"] = timed(lambda: over_workers(gram_factor), args.repeat)
    rows["Gram only: GEMM + GEMM, same workers"] = timed(lambda: over_workers(gram_gemm), args.repeat)

    per_esm = {name: seconds / args.k * 1000 for name, seconds in rows.items()}
    ours = per_esm["ours (workers = cores, 1 BLAS thread each)"]
    floor = per_esm["floor: same Gram + eigenvalues only (dsytrd + dsterf), same workers"]
    report["ms_per_esm"] = per_esm
    report["ours_over_floor"] = ours / floor
    report["ours_over_numpy_floor"] = ours / per_esm["floor (numpy): GEMM Gram + eigvalsh, all cores"]

    scores = scorer.score(w[: args.parity_k], b[: args.parity_k])
    plain = np.array(
        [
            plain_logme(np.asarray(x, np.float64) @ w[i].astype(np.float64).T + b[i].astype(np.float64), labels)
            for i in range(args.parity_k)
        ]
    )
    report["parity_max_rel"] = float(np.max(np.abs(scores - plain) / np.abs(plain)))

    print(f"N={args.n} d={args.d} K={args.k} C={args.classes} on {cores} cores ({report['cpu']})")
    for name, ms in per_esm.items():
        print(f"  {ms:8.1f} ms/ESM  {name}")
    print(
        f"  ours / floor = {report['ours_over_floor']:.2f}; ours / numpy floor = {report['ours_over_numpy_floor']:.2f}"
    )
    print(f"  parity vs plain float64 LogME: {report['parity_max_rel']:.1e}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
