"""Selection quality: rank real targets with the product and score the rankings against real transfers.

    .venv/bin/python -m bench.quality                                   # 8 targets x sizes 250 500 1000 x 4 samples
    .venv/bin/python -m bench.quality --pool /tmp/pool --scorings logme unit
    .venv/bin/python -m bench.quality --targets sst2 stsb --sizes 50 --samples 2 --check-product

For every target of ``transfer_minilm_dev.json`` (real source-then-target fine-tunings of
all-MiniLM-L6-v2, see ../shared/quality/README.md) the target's training split is shuffled once
and cut into disjoint samples of each size. Each sample is ranked against an ESM pool (the bundled
one by default) and the ranking is scored with the yardstick's own ``evaluate.py``: regret@1/3/5
and NDCG, averaged over samples and targets. Stability is Kendall's tau between the score vectors
of two disjoint samples of the same target and size, averaged over all such pairs.

The product's ranking is ``compute_task_ranking``: embed the target with the base model, map the
embeddings through every ESM, LogME. To compare scorings cheaply the embeddings of each target's
shuffled split are computed once with the product's embedding model and cached (``--cache``),
and the ``logme`` scoring calls the product's ``AffineLogME`` on them, exactly what
``compute_task_ranking`` does; ``--check-product`` re-ranks the first sample of every target with
``compute_task_ranking`` itself and fails if a score differs. Other scorings are candidates,
prototyped here so they can be measured before anything in the product changes.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import itertools
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent

from hfselect_core import (  # noqa: E402
    BUNDLED_MODEL_ID,
    LocalESMSource,
    TargetDataset,
    compute_task_ranking,
    load_embedding_model,
    stability,  # noqa: E402
)
from hfselect_core.embedding import PRECISION_ENV  # noqa: E402
from hfselect_core.logme import AffineLogME, logme, unit_logme_many  # noqa: E402
from hfselect_core.ranking import DEFAULT_STABILITY, effective_stability  # noqa: E402
from hfselect_core.sources import bundled_pool_dir  # noqa: E402

QUALITY_DIR = ROOT.parent / "shared" / "quality"
DATA_DIR = ROOT.parent / "shared" / "datasets"
METRICS = ["regret@1", "regret@3", "regret@5", "ndcg"]

# --- inputs ------------------------------------------------------------------------------------


def load_yardstick(quality_dir: Path):
    """The yardstick's evaluate.py as a module (its metric code is the reference, not ours)."""
    spec = importlib.util.spec_from_file_location("quality_evaluate", quality_dir / "evaluate.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"no evaluate.py in {quality_dir}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_pool(folder: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(names, W (K, d, d), b (K, d)) of every ESM folder, read with the product's loader; or of a
    ``.npz`` of candidate maps (``<name>__w``, ``<name>__b``) from bench/recipe_quality.py."""
    if folder.suffix == ".npz":
        arrays = np.load(folder)
        names = sorted(k[: -len("__w")] for k in arrays.files if k.endswith("__w"))
        w = np.stack([arrays[f"{n}__w"].astype(np.float32) for n in names])
        return names, w, np.stack([arrays[f"{n}__b"].astype(np.float32) for n in names])
    loaded = LocalESMSource(folder).load(str(folder))
    if loaded.skipped:
        raise SystemExit(f"ESMs that could not be read in {folder}: {loaded.skipped}")
    pairs = [esm.weight_and_bias() for esm in loaded.esms]
    return [esm.name for esm in loaded.esms], np.stack([w for w, _ in pairs]), np.stack([b for _, b in pairs])


def target_dataset(task: dict, data_dir: Path) -> TargetDataset:
    """The whole training split, cleaned the way the product cleans any table."""
    regression = task.get("label_names") == "regression"
    df = pd.read_parquet(data_dir / task["files"]["train"])
    return TargetDataset.from_pandas(
        df,
        task["text_columns"],
        task.get("label_column", "label"),
        task_type="regression" if regression else "classification",
        label_names=None if regression else task.get("label_names"),
        source=task["name"],
    )


def subset(dataset: TargetDataset, idx: np.ndarray) -> TargetDataset:
    return TargetDataset(
        texts=[dataset.texts[i] for i in idx],
        labels=dataset.labels[idx],
        task_type=dataset.task_type,
        text_columns=dataset.text_columns,
        label_column=dataset.label_column,
        label_names=dataset.label_names,
        source=dataset.source,
    )


def embed_cached(dataset: TargetDataset, cache: Path, model_id: str, precision: str) -> np.ndarray:
    """Embeddings of every text, from the cache when the same texts were embedded before."""
    digest = hashlib.sha256(("\x00".join([model_id, *dataset.texts])).encode()).hexdigest()[:16]
    suffix = "" if precision == "fp32" else f"_{precision}"
    path = cache / f"{dataset.source}_{len(dataset)}_{digest}{suffix}.npy"
    if path.is_file():
        return np.load(path)
    model = load_embedding_model(model_id, device="cpu", precision=precision)
    emb = model.embed(dataset.texts, batch_size=64)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, emb)
    return emb


# --- scorings ------------------------------------------------------------------------------------
# Each takes the base embeddings (N, d), labels, regression flag, maps W (K, d, d), b (K, d) and a
# seed, and returns K scores (higher = rank first).

Scoring = Callable[[np.ndarray, TargetDataset, np.ndarray, np.ndarray, int], np.ndarray]


def score_logme(x, sample, w, b, seed):
    """ESM-LogME as published: LogME of the ESM-mapped embeddings of the whole sample."""
    return AffineLogME(x, sample.labels, sample.is_regression).score_many(w, b)


def score_logme_published(x, sample, w, b, seed):
    """LogME with the published formula (scale_invariant=False): differs from 'logme' only when
    N <= d (here: samples of 250 with d = 384), where it counts all d prior dimensions."""
    return AffineLogME(x, sample.labels, sample.is_regression, scale_invariant=False).score_many(w, b)


def score_product(x, sample, w, b, seed):
    """What compute_task_ranking orders by today: the LogME order, with its leading tasks re-ordered
    by mean rank over resamples of the sample (ranking.DEFAULT_STABILITY). Returned as scores that
    give that order (minus the position)."""
    single = score_logme(x, sample, w, b, seed)
    return -_position(_product_order(x, sample, w, b, single, DEFAULT_STABILITY))


def _product_order(x, sample, w, b, single, settings) -> np.ndarray:
    order = np.argsort(-single, kind="stable")
    settings, _ = effective_stability(settings, sample)
    m = min(settings.max_candidates or len(order), len(order))
    top = order[:m]
    resamples = stability.resample_indices(len(sample), settings.num_resamples, settings.method, settings.seed)
    scores = np.stack(
        [AffineLogME(x[idx], sample.labels[idx], sample.is_regression).score_many(w[top], b[top]) for idx in resamples]
    )
    return np.concatenate([top[stability.aggregate_order(scores, settings.order, single[top])], order[m:]])


def _position(order: np.ndarray) -> np.ndarray:
    position = np.empty(len(order))
    position[order] = np.arange(len(order))
    return position


def score_all_mean_rank(x, sample, w, b, seed):
    """Every task (not only the leading ones) ordered by mean rank over 10 half-splits."""
    single = score_logme(x, sample, w, b, seed)
    settings = replace(DEFAULT_STABILITY, max_candidates=0)
    return -_position(_product_order(x, sample, w, b, single, settings))


def score_boot_mean(x, sample, w, b, seed):
    """Every task ordered by its mean LogME over 10 bootstrap resamples."""
    single = score_logme(x, sample, w, b, seed)
    settings = replace(DEFAULT_STABILITY, max_candidates=0, method="bootstrap", order="mean_score")
    return -_position(_product_order(x, sample, w, b, single, settings))


def _mapped(x, w, b):
    return np.einsum("nd,ked->kne", x.astype(np.float64), w.astype(np.float64)) + b[:, None, :]


def _logme_each(features, sample):
    return np.array([logme(f, sample.labels, sample.is_regression) for f in features])


def score_unit(x, sample, w, b, seed):
    """LogME of the mapped embeddings scaled back to unit length (the base model normalises)."""
    return unit_logme_many(x, sample.labels, sample.is_regression, w, b)


def score_standardised(x, sample, w, b, seed):
    """LogME of per-dimension standardised features (scale-free in every feature)."""
    f = _mapped(x, w, b)
    f = (f - f.mean(1, keepdims=True)) / f.std(1, keepdims=True).clip(1e-12)
    return _logme_each(f, sample)


SCORINGS: dict[str, Scoring] = {
    "product": score_product,
    "logme": score_logme,
    "logme_published": score_logme_published,
    "all_mean_rank": score_all_mean_rank,
    "boot_mean": score_boot_mean,
    "unit": score_unit,
    "standardised": score_standardised,
}

# --- metrics -------------------------------------------------------------------------------------


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b of two score vectors over the same items."""
    i, j = np.triu_indices(len(a), 1)
    da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    concordant = float((da * db).sum())
    pairs_a, pairs_b = float((da != 0).sum()), float((db != 0).sum())
    return concordant / math.sqrt(pairs_a * pairs_b) if pairs_a and pairs_b else float("nan")


def summarise(rows: list[dict], keys: list[str]) -> dict[str, float]:
    out = {}
    for key in keys:
        values = [r[key] for r in rows if key in r and r[key] == r[key]]
        out[key] = float(np.mean(values)) if values else float("nan")
    return out


# --- the benchmark -------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    yardstick = load_yardstick(Path(args.quality_dir))
    transfer = json.loads((Path(args.quality_dir) / "transfer_minilm_dev.json").read_text())
    manifest = {t["name"]: t for t in json.loads((Path(args.data_dir) / "manifest.json").read_text())["tasks"]}
    pool_dir = Path(args.pool) if args.pool else bundled_pool_dir(BUNDLED_MODEL_ID)
    names, weights, biases = load_pool(pool_dir)
    targets = args.targets or list(transfer["perf"])
    cache = Path(args.cache)
    results: dict[str, list[dict]] = {s: [] for s in args.scorings}
    stability: dict[str, list[dict]] = {s: [] for s in args.scorings}
    checks = []
    started = time.perf_counter()
    for target in targets:
        perf = transfer["perf"][target]
        full = target_dataset(manifest[target], Path(args.data_dir))
        order = np.random.default_rng(args.seed).permutation(len(full))
        needed = min(len(full), max(args.sizes) * args.samples)
        pool_set = subset(full, order[:needed])
        emb = embed_cached(pool_set, cache, BUNDLED_MODEL_ID, args.precision)
        for size in args.sizes:
            chunks = [np.arange(k * size, (k + 1) * size) for k in range(min(args.samples, needed // size))]
            for scoring in args.scorings:
                per_sample = []
                for k, idx in enumerate(chunks):
                    sample = subset(pool_set, idx)
                    scores = SCORINGS[scoring](emb[idx], sample, weights, biases, k)
                    by_name = dict(zip(names, map(float, scores)))
                    row = yardstick.evaluate(by_name, perf, target)
                    row.update(target=target, size=size, sample=k, scores=by_name)
                    results[scoring].append(row)
                    per_sample.append(scores)
                    if args.check_product and scoring == "product" and k == 0 and size == args.sizes[0]:
                        checks.append(check_product(sample, pool_dir, by_name, emb[idx], weights, biases, names))
                keep = np.array([n not in (target, "base") for n in names])
                for a, b in itertools.combinations(range(len(per_sample)), 2):
                    tau = kendall_tau(per_sample[a][keep], per_sample[b][keep])
                    stability[scoring].append({"target": target, "size": size, "tau": tau})
        print(f"{target}: done ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    report = {"pool": str(pool_dir), "targets": targets, "sizes": args.sizes, "samples": args.samples}
    report["precision"] = args.precision
    report["reference"] = summarise(
        [yardstick.evaluate(transfer["logme"][t], transfer["perf"][t], t) for t in targets], METRICS
    )
    report["scorings"] = {}
    for scoring in args.scorings:
        table = {}
        for size in [*args.sizes, "all"]:
            rows = [r for r in results[scoring] if size == "all" or r["size"] == size]
            taus = [r for r in stability[scoring] if size == "all" or r["size"] == size]
            table[str(size)] = {**summarise(rows, METRICS), **summarise(taus, ["tau"])}
        per_target = {
            t: summarise([r for r in results[scoring] if r["target"] == t], METRICS)
            | summarise([r for r in stability[scoring] if r["target"] == t], ["tau"])
            for t in targets
        }
        report["scorings"][scoring] = {"table": table, "per_target": per_target, "samples": results[scoring]}
    report["product_check"] = checks
    report["seconds"] = time.perf_counter() - started
    return report


def check_product(sample, pool_dir, expected, x, weights, biases, names) -> dict:
    """Rank the sample with compute_task_ranking itself: the same LogME scores and the same order.

    The order is compared by Kendall's tau and the top 5: the product re-orders its leading tasks by
    mean rank over resamples, where scores equal to ~1e-8 (thread scheduling in LAPACK) can swap
    two tasks with the same mean rank.
    """
    ranking = compute_task_ranking(sample, source=LocalESMSource(pool_dir), device="cpu")
    got = {row.name: row.score for row in ranking.rows}
    single = dict(zip(names, score_logme(x, sample, weights, biases, 0)))
    worst = max(abs(got[n] - s) / max(abs(s), 1e-12) for n, s in single.items())
    order = [row.name for row in ranking.rows]
    ours = sorted(expected, key=lambda n: -expected[n])
    tau = kendall_tau(-np.array([order.index(n) for n in ours], dtype=float), -np.arange(len(ours), dtype=float))
    if set(got) != set(single) or worst > 1e-4 or order[:5] != ours[:5] or tau < 0.9:
        raise SystemExit(
            f"compute_task_ranking disagrees with the benchmark on {sample.source}: "
            f"scores {worst:.2e}, top 5 {order[:5]} vs {ours[:5]}, tau {tau:.3f}"
        )
    return {"target": sample.source, "examples": len(sample), "max_relative_difference": worst, "order_tau": tau}


def format_report(report: dict) -> str:
    lines = [f"pool: {report['pool']}", f"targets: {', '.join(report['targets'])}"]
    lines.append(f"samples: {report['samples']} disjoint per size; sizes {report['sizes']}")
    head = f"{'scoring':14s} {'size':>5s} " + " ".join(f"{k:>9s}" for k in METRICS) + f" {'tau':>7s}"
    lines.append(head)
    for scoring, data in report["scorings"].items():
        for size, row in data["table"].items():
            lines.append(
                f"{scoring:14s} {size:>5s} " + " ".join(f"{row[k]:9.2f}" for k in METRICS) + f" {row['tau']:7.3f}"
            )
    ref = report["reference"]
    lines.append(f"{'fine-tuned LogME':20s} " + " ".join(f"{ref[k]:9.2f}" for k in METRICS) + "  (reference)")
    first = next(iter(report["scorings"]))
    lines.append(f"per target ({first}, all sizes):")
    for t, row in report["scorings"][first]["per_target"].items():
        lines.append(f"  {t:22s} " + " ".join(f"{row[k]:9.2f}" for k in METRICS) + f" {row['tau']:7.3f}")
    for c in report["product_check"]:
        lines.append(
            f"product check {c['target']}: max relative score difference {c['max_relative_difference']:.1e}, "
            f"order tau {c['order_tau']:.3f}"
        )
    lines.append(f"{report['seconds']:.0f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", default=None, help="folder of ESM folders (default: the bundled pool)")
    parser.add_argument("--targets", nargs="*", help="default: every target of the transfer file")
    parser.add_argument("--sizes", nargs="+", type=int, default=[250, 500, 1000])
    parser.add_argument("--samples", type=int, default=4, help="disjoint samples per target and size")
    parser.add_argument("--scorings", nargs="+", default=["product"], choices=sorted(SCORINGS))
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffle the samples are cut from")
    parser.add_argument("--quality-dir", default=str(QUALITY_DIR))
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    parser.add_argument("--cache", default="/tmp/hfselect_quality", help="embedding cache folder")
    parser.add_argument("--check-product", action="store_true", help="re-rank one sample per target end to end")
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=["fp32", "bf16"],
        help="embedding precision (the product uses bf16 where the CPU/GPU has it natively, else fp32)",
    )
    parser.add_argument("--json", default=None, help="write the full report (with every sample's scores) here")
    args = parser.parse_args(argv)
    # compute_task_ranking reads the precision from the environment (check_product uses it).
    os.environ[PRECISION_ENV] = args.precision
    report = run(args)
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
