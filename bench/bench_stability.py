"""Stability benchmark: how much of a ranking's order is signal, and does resampling help?

Stages (each reuses the embeddings cached by ``embed``):

* ``embed``: embed up to 2 x 1,000 disjoint training rows of each target from
  ``/work/shared/datasets`` with the bundled all-MiniLM-L6-v2 (cached under ``--cache``).
* ``tau``: Kendall tau between the rankings of the bundled pool (the target's own ESM left out)
  computed on two disjoint samples of the same target and size, for the single-sample LogME
  order and the orders aggregated over resamples; by sample size (this gives the warning threshold).
  The 8 targets with real fine-tuning outcomes (``/work/shared/quality``) also get regret@5.
* ``summary``: Markdown tables of the ``tau`` results (``--results``).
* ``reference``: per target with transfers, tasks scoring above the reference line vs. tasks that helped.
* ``time``: wall time of a plain ranking vs. a ranking with stability, alternating in one process.

Run: ``.venv/bin/python -m bench.bench_stability all`` (results printed as Markdown tables).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

DATASETS = Path("/work/shared/datasets")
QUALITY = Path("/work/shared/quality/transfer_minilm_dev.json")
TARGETS = [
    "sst2",
    "ag_news",
    "banking77",
    "mrpc",
    "cola",
    "tweet_eval_hate",
    "financial_phrasebank",
    "stsb",
    "sst5",
    "tweet_eval_sentiment",
    "emotion",
    "trec_coarse",
]
ROWS_PER_HALF = 1000


def core(module: str):
    """A module of hfselect_core; on a machine without the app's dependencies (pandas, datasets:
    the GPU box) only the math modules are loaded, bypassing the package's __init__."""
    import importlib

    try:
        import hfselect_core  # noqa: F401
    except ImportError:
        import types

        stub = types.ModuleType("hfselect_core")
        stub.__path__ = [str(ROOT / "hfselect_core")]
        sys.modules["hfselect_core"] = stub
    return importlib.import_module(f"hfselect_core.{module}")


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau between two rankings without ties (positions of the same items)."""
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    n = len(a)
    return float((da * db).sum() / (n * (n - 1)))


def manifest() -> dict:
    data = json.loads((DATASETS / "manifest.json").read_text())
    return {t["name"]: t for t in data["tasks"]}


def embed_targets(cache: Path, targets: list[str]) -> None:
    import pandas as pd

    from hfselect_core.data import TEXT_SEPARATOR
    from hfselect_core.embedding import BUNDLED_MODEL_ID, load_embedding_model

    cache.mkdir(parents=True, exist_ok=True)
    model = load_embedding_model(BUNDLED_MODEL_ID, device="cpu")
    tasks = manifest()
    for name in targets:
        out = cache / f"{name}.npz"
        if out.exists():
            continue
        task = tasks[name]
        df = pd.read_parquet(DATASETS / task["files"]["train"])
        rng = np.random.default_rng(0)
        take = min(len(df), 2 * ROWS_PER_HALF)
        rows = rng.permutation(len(df))[:take]
        df = df.iloc[rows]
        cols = task["text_columns"]
        texts = df[cols[0]].astype(str)
        for col in cols[1:]:
            texts = texts + TEXT_SEPARATOR + df[col].astype(str)
        t0 = time.perf_counter()
        emb = model.embed(texts.tolist(), batch_size=64)
        labels = df["label"].to_numpy()
        np.savez(out, embeddings=emb, labels=labels, regression=task.get("num_labels") is None)
        print(f"{name}: {len(texts)} texts in {time.perf_counter() - t0:.1f} s", flush=True)


def load_pool(device: str = "cpu"):
    """The bundled pool as (names, weights (K, d, d), biases (K, d)); names are the pool's folder names."""
    from safetensors.numpy import load_file

    # The product's assets folder (HFSELECT_ASSETS_DIR when set, e.g. a committed pool exported elsewhere).
    root = (
        Path(os.environ.get("HFSELECT_ASSETS_DIR") or ROOT / "assets")
        / "esms"
        / "sentence-transformers__all-MiniLM-L6-v2"
    )
    names, weights, biases = [], [], []
    for folder in sorted(p for p in root.iterdir() if (p / "model.safetensors").is_file()):
        tensors = load_file(str(folder / "model.safetensors"))
        names.append(folder.name)
        weights.append(tensors.get("model.weight", tensors.get("sequential.0.weight")))
        biases.append(tensors.get("model.bias", tensors.get("sequential.0.bias")))
    return names, np.stack(weights), np.stack(biases)


def positions(order: np.ndarray) -> np.ndarray:
    """Position of each item (0 = first) from an order of item indices."""
    pos = np.empty(len(order), dtype=int)
    pos[np.asarray(order)] = np.arange(len(order))
    return pos


def sample_orders(x, y, regression, weights, biases, device, num_resamples, candidates, bootstrap=False):
    """Single-sample scores and the orders the product can give, for one sample.

    Only the leading ``max(candidates)`` tasks of the single-sample order are resampled, as in the
    product; 'top m' orders reorder the leading m by their resampled mean rank (or mean score).
    """
    st = core("stability")
    AffineLogME = core("logme").AffineLogME  # noqa: N806

    single = AffineLogME(x, y, regression, device=device).score_many(weights, biases)
    single_order = np.argsort(-single, kind="stable")
    top = single_order[: max(candidates)]
    orders = {"single": single_order}
    methods = [st.HALF] + ([st.BOOTSTRAP] if bootstrap else [])
    for method in methods:
        settings = st.StabilitySettings(num_resamples=num_resamples, method=method, max_candidates=0)
        resampled = st.resample_scores(x, y, regression, weights[top], biases[top], settings, device=device)
        for how in (st.ORDER_MEAN_RANK, st.ORDER_MEAN_SCORE):
            for m in candidates:
                sub = st.aggregate_order(resampled[:, :m], how, single[top[:m]])
                orders[f"{method} {how}, top {m}"] = np.concatenate([top[:m][sub], single_order[m:]])
    return orders, None


def tau_stage(
    cache: Path, targets: list[str], sizes: list[int], pairs: int, device: str, num_resamples: int, out: Path
):
    """Kendall tau between the orders of two disjoint samples of each target, per order and size."""
    names, weights, biases = load_pool()
    perf = json.loads(QUALITY.read_text())["perf"] if QUALITY.exists() else {}
    records = []
    for target in targets:
        data = np.load(cache / f"{target}.npz")
        x, y, regression = data["embeddings"], data["labels"], bool(data["regression"])
        keep = [i for i, n in enumerate(names) if n != target]  # the target's own ESM is left out
        w, b = weights[keep], biases[keep]
        pool = [names[i] for i in keep]
        for n in sizes:
            usable = len(y) // (2 * n)
            for pair in range(min(pairs if n < 1000 else 1, usable)):
                t0 = time.perf_counter()
                halves = []
                for side in range(2):
                    start = (2 * pair + side) * n
                    rows = slice(start, start + n)
                    halves.append(sample_orders(x[rows], y[rows], regression, w, b, device, num_resamples, [8, 15]))

                for key in halves[0][0]:
                    pa, pb = positions(halves[0][0][key]), positions(halves[1][0][key])
                    top_same = int(halves[0][0][key][0] == halves[1][0][key][0])
                    rec = {
                        "target": target,
                        "n": n,
                        "pair": pair,
                        "order": key,
                        "tau": kendall_tau(pa, pb),
                        "same_top1": top_same,
                        "top3_overlap": len(set(halves[0][0][key][:3]) & set(halves[1][0][key][:3])) / 3,
                    }
                    if target in perf:
                        for side in range(2):
                            order = [pool[i] for i in halves[side][0][key]]
                            rec[f"regret5_{side}"] = regret_at_k(order, perf[target], target, 5)
                            rec[f"regret1_{side}"] = regret_at_k(order, perf[target], target, 1)
                    records.append(rec)
                print(f"{target} n={n} pair {pair}: {time.perf_counter() - t0:.1f} s", flush=True)
                out.write_text(json.dumps(records))  # after every pair: a cut-short run keeps its results
    out.write_text(json.dumps(records))
    return records


def regret_at_k(order: list[str], perf: dict, target: str, k: int) -> float:
    """regret@k as the yardstick's evaluate.py defines it (the target itself and 'base' left out)."""
    scores = {s: v for s, v in perf.items() if s not in (target, "base") and v == v}
    order = [s for s in order if s in scores]
    best = max(scores.values())
    return (best - max(scores[s] for s in order[:k])) / best * 100


def time_stage(sizes: list[int], repeats: int, target: str = "tweet_eval_sentiment") -> list[dict]:
    """Wall time of compute_task_ranking (bundled pool, bundled MiniLM) without and with stability,
    alternating in one process after a warm-up, on a real target's texts. Run it with
    ``HFSELECT_EMBEDDING_CACHE_MB=0`` for fresh rankings (every run embeds), and without for
    repeated rankings of the same texts (embeddings from the cache)."""
    import pandas as pd

    from hfselect_core.data import TargetDataset
    from hfselect_core.ranking import compute_task_ranking
    from hfselect_core.stability import StabilitySettings

    task = manifest()[target]
    df = pd.read_parquet(DATASETS / task["files"]["train"])
    rows = []
    for n in sizes:
        data = TargetDataset.from_pandas(df, task["text_columns"], "label", num_examples=n, seed=1)
        compute_task_ranking(data, source="bundled", device="cpu", stability=None)  # warm-up
        times: dict[str, list[float]] = {"plain": [], "stability": []}
        stage, embed, score = [], [], []
        for _ in range(repeats):
            for key, settings in (("plain", None), ("stability", StabilitySettings())):
                t0 = time.perf_counter()
                ranking = compute_task_ranking(data, source="bundled", device="cpu", stability=settings)
                times[key].append(time.perf_counter() - t0)
                if settings is not None:
                    stage.append(ranking.stage_seconds.get("stability", 0.0))
                else:
                    embed.append(ranking.stage_seconds.get("embed", 0.0))
                    score.append(ranking.stage_seconds.get("score", 0.0))
        plain, stab = float(np.median(times["plain"])), float(np.median(times["stability"]))
        row = {
            "n": n,
            "plain_s": plain,
            "stability_s": stab,
            "overhead": stab / plain - 1,
            "stage_s": float(np.median(stage)),
            "embed_s": float(np.median(embed)),
            "score_s": float(np.median(score)),
            "embedding_cache_mb": os.environ.get("HFSELECT_EMBEDDING_CACHE_MB", "default"),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def examples_stage(examples_dir: Path, seeds: int = 5, min_share: float = 0.8) -> list[dict]:
    """Is the head of each bundled example's ranking stable, as the product measures it?

    For each example the product ranks the whole file (bundled MiniLM, bundled pool, default
    stability) once per resampling seed. "Stable top k": each of the first k tasks of the order is
    in the top k in at least ``min_share`` of the half-splits of every seed (``top_k_share`` with
    top_k = k). Reported: the longest stable head (0-3), the top-3 share of the first three tasks
    (mean over the seeds), the tasks tied with the leader, and the split-half Kendall tau of the
    whole order (all tasks scored on both halves of each complementary half-split).
    """
    from dataclasses import replace

    from hfselect_core.data import TargetDataset
    from hfselect_core.ranking import DEFAULT_STABILITY, compute_task_ranking

    st = core("stability")
    _, weights, biases = load_pool()
    rows = []
    for ex in json.loads((examples_dir / "examples.json").read_text()):
        data = TargetDataset.from_file(
            examples_dir / ex["file"], ex["text_columns"], ex["label_column"], ex["task_type"], 100_000, 42
        )
        shares: dict[int, list[list[float]]] = {k: [] for k in (1, 2, 3)}
        tied, names, reference = [], None, None
        for seed in range(seeds):
            for k in (1, 2, 3):
                ranking = compute_task_ranking(
                    data, source="bundled", device="cpu", stability=replace(DEFAULT_STABILITY, seed=seed, top_k=k)
                )
                head = ranking.rows[:3]
                names = names or [r.name for r in head]
                reference = ranking.baseline
                shares[k].append([r.stability.top_k_share for r in head[:k]])
                if k == 3:
                    tied.append(len(ranking.tied_with_leader) - 1)
        stable = 0
        for k in (1, 2, 3):
            if all(min(per_seed) >= min_share for per_seed in shares[k]):
                stable = k
        # Split-half tau of the whole order (the bundled pool in folder order; names are not needed).
        from hfselect_core.embedding import BUNDLED_MODEL_ID, load_embedding_model

        x = load_embedding_model(BUNDLED_MODEL_ID, device="cpu").embed(data.texts)
        scores = st.resample_scores(x, data.labels, data.is_regression, weights, biases, st.StabilitySettings())
        taus = [kendall_tau(scores[i], scores[i + 1]) for i in range(0, len(scores) - 1, 2)]
        row = {
            "example": ex["name"],
            "rows": len(data),
            "head": names,
            "top3_share": np.mean(shares[3], axis=0).round(2).tolist(),
            "stable_head": stable,
            "tied_with_leader": float(np.mean(tied)),
            "reference_line": reference,
            "split_half_tau": float(np.mean(taus)),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def _old_stage(st, AffineLogME, x, y, regression, single, w, b):  # noqa: N803
    """The stability stage as it was before 2026-11-26 03:00 (for the cost comparison): blocks of 8,
    each resample scored from its own statistics, the next block only while one of the last two
    places is tied with the leader (up to 3 blocks), order by mean rank."""
    settings = st.StabilitySettings(max_candidates=8, order=st.ORDER_MEAN_RANK)
    rows = st.resample_indices(len(y), settings.num_resamples, settings.method, settings.seed)
    scorers = [AffineLogME(x[r], y[r], regression) for r in rows]
    columns, m = [], 0
    for _ in range(3):
        stop = min(m + 8, len(single))
        columns.append(np.stack([s.score_many(w[m:stop], b[m:stop]) for s in scorers]))
        m = stop
        scores = np.concatenate(columns, axis=1)
        order = st.aggregate_order(scores, settings.order, single[:m])
        summary = st.summarise(scores, order, settings)
        if len(summary) < 3 or not any(t.tied_with_leader for t in summary[-2:]):
            break
    return m


def head_fidelity(cache: Path, targets: list[str], sizes: list[int]) -> list[dict]:
    """What resampling only the head loses: per sample, the default (block-wise) check against
    resampling every task of the pool on the same half-splits. Compared for the first three tasks:
    top-3 share (max abs difference), rank interval, tie with the leader; and the tasks resampled."""
    st = core("stability")
    AffineLogME = core("logme").AffineLogME  # noqa: N806
    names, weights, biases = load_pool()
    out = []
    for target in targets:
        data = np.load(cache / f"{target}.npz")
        keep = [i for i, name in enumerate(names) if name != target]
        w_all, b_all = weights[keep], biases[keep]
        for n in sizes:
            for start in range(0, min(len(data["labels"]), 2 * n), n):
                x, y = data["embeddings"][start : start + n], data["labels"][start : start + n]
                regression = bool(data["regression"])
                if len(y) < n:
                    break
                single = AffineLogME(x, y, regression).score_many(w_all, b_all)
                order = np.argsort(-single, kind="stable")
                w, b, s = w_all[order], b_all[order], single[order]
                checks = {}
                for label, settings in (
                    ("head", st.StabilitySettings()),
                    ("all", st.StabilitySettings(max_candidates=0)),
                ):
                    gen = st.iter_check_leaders(x, y, regression, s, lambda i, j: (w[i:j], b[i:j]), settings)
                    try:
                        while True:
                            next(gen)
                    except StopIteration as stop:
                        checks[label] = {j: t for j, t in zip(stop.value.order, stop.value.tasks)}
                head, full = checks["head"], checks["all"]
                row = {
                    "target": target,
                    "n": n,
                    "start": start,
                    "resampled": len(head),
                    "max_share_diff": max(abs(head[j].top_k_share - full[j].top_k_share) for j in range(3)),
                    "same_intervals": all(
                        (head[j].rank_low, head[j].rank_high) == (full[j].rank_low, full[j].rank_high) for j in range(3)
                    ),
                    "same_ties": all(head[j].tied_with_leader == full[j].tied_with_leader for j in head),
                }
                print(json.dumps(row), flush=True)
                out.append(row)
    return out


def stage_cost(cache: Path, targets: list[str], sizes: list[int], repeats: int) -> list[dict]:
    """The stability stage alone against the scoring of the whole pool, on cached embeddings:
    plain = AffineLogME of the 39 bundled maps (what a ranking with cached embeddings mostly is),
    old = the previous stage, new = ``stability.iter_check_leaders`` with the default settings.
    Interleaved in one process, median of ``repeats``; ratios are what to read (shared machine)."""
    st = core("stability")
    AffineLogME = core("logme").AffineLogME  # noqa: N806
    _, weights, biases = load_pool()
    out = []
    for target in targets:
        data = np.load(cache / f"{target}.npz")
        for n in sizes:
            x, y, regression = data["embeddings"][:n], data["labels"][:n], bool(data["regression"])
            times: dict[str, list[float]] = {"plain": [], "old": [], "new": []}
            counts = {}
            for _ in range(repeats):
                t0 = time.perf_counter()
                single = AffineLogME(x, y, regression).score_many(weights, biases)
                times["plain"].append(time.perf_counter() - t0)
                order = np.argsort(-single, kind="stable")
                w, b, s = weights[order], biases[order], single[order]
                t0 = time.perf_counter()
                counts["old"] = _old_stage(st, AffineLogME, x, y, regression, s, w, b)
                times["old"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                gen = st.iter_check_leaders(x, y, regression, s, lambda i, j: (w[i:j], b[i:j]))
                try:
                    while True:
                        next(gen)
                except StopIteration as stop:
                    counts["new"] = len(stop.value.order)
                times["new"].append(time.perf_counter() - t0)
            med = {k: float(np.median(v)) for k, v in times.items()}
            row = {
                "target": target,
                "n": n,
                "plain_s": round(med["plain"], 3),
                "old_s": round(med["old"], 3),
                "new_s": round(med["new"], 3),
                "old_over_plain": round(med["old"] / med["plain"], 2),
                "new_over_plain": round(med["new"] / med["plain"], 2),
                "old_tasks": counts["old"],
                "new_tasks": counts["new"],
            }
            print(json.dumps(row), flush=True)
            out.append(row)
    return out


def product_rows(df, cache: Path, min_class: int = 10, candidates: int = 8):
    """The product's default order per sample pair: mean rank over half-splits of the top
    ``candidates`` when every class of the sample has ``min_class`` examples (ranking.effective_stability),
    else the single-sample order. Pairs whose two samples fall on different sides of the rule are
    left out (counted in the 'pairs' column)."""
    import pandas as pd

    out = []
    aggregated = f"half mean_rank, top {candidates}"
    for (target, n, pair), g in df.groupby(["target", "n", "pair"]):
        data = np.load(cache / f"{target}.npz")
        y, regression = data["labels"], bool(data["regression"])
        passes = []
        for side in range(2):
            rows = y[(2 * pair + side) * n : (2 * pair + side + 1) * n]
            passes.append(regression or np.unique(rows, return_counts=True)[1].min() >= min_class)
        if passes[0] != passes[1]:
            continue
        pick = g[g["order"] == (aggregated if passes[0] else "single")].copy()
        pick["order"] = "product default (rule)"
        out.append(pick)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def summarise_tau(paths: list[Path], cache: Path) -> str:
    """Markdown tables: mean tau / top-1 agreement / top-3 overlap / regret@5 per order and size."""
    import pandas as pd

    df = pd.concat([pd.DataFrame(json.loads(p.read_text())) for p in paths if p.exists()], ignore_index=True)
    df["regret5"] = df[["regret5_0", "regret5_1"]].mean(axis=1) if "regret5_0" in df else np.nan
    df = pd.concat([df, product_rows(df, cache)], ignore_index=True)
    lines = [
        f"{df['target'].nunique()} targets, {df.groupby(['target', 'n', 'pair']).ngroups} sample pairs "
        f"({(df['order'] == 'product default (rule)').sum()} of them for the product's rule).",
        "",
        "| order | n | Kendall tau (two disjoint samples) | same top task | top-3 overlap | regret@5 (8 targets with transfers) |",
        "|---|---|---|---|---|---|",
    ]
    for (order, n), g in df.groupby(["order", "n"], sort=True):
        lines.append(
            f"| {order} | {n} | {g['tau'].mean():.3f} | {g['same_top1'].mean():.2f} | {g['top3_overlap'].mean():.2f} "
            f"| {g['regret5'].mean():.2f} |"
        )
    return "\n".join(lines)


def paired_table(paths: list[Path], cache: Path, min_class: int = 10, draws: int = 4000) -> str:
    """Each aggregated order minus the single-sample order on the same sample pairs, with the
    product's small-class rule applied to both (a pair whose sample has a class under ``min_class``
    keeps the single order); mean over pairs and a 95% bootstrap interval over targets."""
    import pandas as pd

    df = pd.concat([pd.DataFrame(json.loads(p.read_text())) for p in paths if p.exists()], ignore_index=True)
    for m in ("regret5", "regret1"):
        df[m] = df[[f"{m}_0", f"{m}_1"]].mean(axis=1) if f"{m}_0" in df else np.nan
    metrics = ["tau", "same_top1", "top3_overlap", "regret5", "regret1"]
    single = df[df["order"] == "single"].set_index(["target", "n", "pair"])
    passes = {}
    for target, n, pair in single.index:
        data = np.load(cache / f"{target}.npz")
        y, regression = data["labels"], bool(data["regression"])
        passes[(target, n, pair)] = [
            regression
            or np.unique(y[(2 * pair + s) * n : (2 * pair + s + 1) * n], return_counts=True)[1].min() >= min_class
            for s in range(2)
        ]
    rng = np.random.default_rng(0)
    lines = [
        "| order (small-class rule applied) | pairs | " + " | ".join(f"delta {m} [95% CI]" for m in metrics) + " |",
        "|---" * (len(metrics) + 2) + "|",
    ]
    for order in sorted(set(df["order"]) - {"single"}):
        g = df[df["order"] == order].set_index(["target", "n", "pair"])
        rows = []
        for key in g.index:
            if passes[key][0] != passes[key][1]:
                continue
            chosen = g.loc[key] if passes[key][0] else single.loc[key]
            rows.append({"target": key[0], **{m: chosen[m] - single.loc[key][m] for m in metrics}})
        r = pd.DataFrame(rows)
        cells = []
        for m in metrics:
            per_target = r.groupby("target")[m].mean().dropna().to_numpy()
            boots = [per_target[rng.integers(0, len(per_target), len(per_target))].mean() for _ in range(draws)]
            low, high = np.percentile(boots, [2.5, 97.5])
            cells.append(f"{r[m].mean():+.3f} [{low:+.3f}, {high:+.3f}]")
        lines.append(f"| {order} | {len(r)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def reference_stage(cache: Path, n: int = 1000) -> list[dict]:
    """Does scoring above the reference line (no intermediate task) mean that a task helped?
    Counts, per target with real transfers, the tasks scoring above it on n rows and the tasks
    that really beat 'base' after fine-tuning."""
    names, weights, biases = load_pool()
    perf = json.loads(QUALITY.read_text())["perf"]
    AffineLogME = core("logme").AffineLogME  # noqa: N806
    rows = []
    for target, outcome in perf.items():
        data = np.load(cache / f"{target}.npz")
        scorer = AffineLogME(data["embeddings"][:n], data["labels"][:n], bool(data["regression"]))
        scores = scorer.score_many(weights, biases)
        dim = weights.shape[1]
        line = float(scorer.score(np.eye(dim)[None], np.zeros((1, dim)))[0])
        keep = [i for i, name in enumerate(names) if name != target and outcome.get(name) == outcome.get(name)]
        above = [bool(scores[i] > line) for i in keep]
        helped = [bool(outcome[names[i]] > outcome["base"]) for i in keep]
        row = {
            "target": target,
            "candidates": len(keep),
            "above": sum(above),
            "helped": sum(helped),
            "agree": sum(a == h for a, h in zip(above, helped)),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "stage", choices=["embed", "tau", "time", "stage", "fidelity", "summary", "reference", "examples", "all"]
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/hfselect_stability_cache"))
    parser.add_argument("--targets", nargs="*", default=TARGETS)
    parser.add_argument("--sizes", nargs="*", type=int, default=[100, 250, 500, 1000])
    parser.add_argument("--pairs", type=int, default=2, help="disjoint sample pairs per target and size")
    parser.add_argument("--resamples", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--examples-dir", type=Path, default=ROOT / "assets" / "examples")
    parser.add_argument("--seeds", type=int, default=5, help="resampling seeds for the examples stage")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", nargs="*", type=Path, default=[Path("/tmp/hfselect_stability_tau.json")])
    parser.add_argument("--out", type=Path, default=Path("/tmp/hfselect_stability_tau.json"))
    args = parser.parse_args()
    if args.stage in ("embed", "all"):
        embed_targets(args.cache, args.targets)
    if args.stage in ("tau", "all"):
        tau_stage(args.cache, args.targets, args.sizes, args.pairs, args.device, args.resamples, args.out)
    if args.stage in ("summary", "all"):
        print(summarise_tau(args.results, args.cache))
        print()
        print(paired_table(args.results, args.cache))
    if args.stage in ("reference", "all"):
        reference_stage(args.cache)
    if args.stage in ("time", "all"):
        time_stage(args.sizes, args.repeats)
    if args.stage in ("fidelity", "all"):
        head_fidelity(args.cache, args.targets, args.sizes)
    if args.stage in ("stage", "all"):
        stage_cost(args.cache, args.targets, args.sizes, args.repeats)
    if args.stage in ("examples", "all"):
        examples_stage(args.examples_dir, args.seeds)
