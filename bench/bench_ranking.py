"""Ranking benchmark: hfselect_core vs. the reference hf-dataset-selector 0.2.1, same inputs, same run.

Run from the repository root (see bench/README.md):

    bash bench/setup_reference_env.sh && /work/venv/bin/python -m bench.bench_ranking --full

The orchestrator (this file, in our venv) writes every input to a temporary folder: N generated
texts, labels, a randomly initialised BERT-base-sized model (d=768) with a tokenizer, the bundled
MiniLM (d=384), K ESMs in the Hub format and the (N, d) feature matrices scored in the scoring
phase. Each measurement then runs in a fresh child process, ours with our venv's python and the
reference with the reference venv's python (``--child ours|ref --job JOB.json``); children
exchange only .npy/.json files and report their peak RSS (``getrusage`` maxrss).

Phases:
  embedding  texts -> pooled embeddings (ours: ``EmbeddingModel.embed``; reference: its own
             ``compute_scores`` loop with no ESM, i.e. DataLoader + collate padding to 128 +
             ``get_pooled_output``), timed on a subset and extrapolated per text to N.
  scoring    ESM transform + LogME of K ESMs on the same (N, d) features (ours: ``AffineLogME``
             in the chunks ``iter_task_ranking`` uses; reference: ``compute_scores`` with
             ``get_pooled_output`` fed the same features, so only its ESM + LogME work is timed).
  cold start process start -> first offline ranking of assets/examples/product_reviews.csv with
             the bundled pool (ours only).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUR_PYTHON = sys.executable
DEFAULT_REF_PYTHON = os.environ.get("BENCH_REF_PYTHON", "/work/bench-venv/bin/python")
MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
SECTION = "## Ranking benchmark: ours vs hf-dataset-selector 0.2.1"
PARITY_RTOL = 1e-4  # reference features are float32 ESM outputs; ours are exact float64
NUM_CLASSES = 3

# --------------------------------------------------------------------------------------------
# Deterministic inputs
# --------------------------------------------------------------------------------------------

_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]


def make_vocabulary(size: int = 3000, seed: int = 0) -> list[str]:
    """``size`` distinct pseudo-words of 2-3 syllables (each one WordPiece token in our BERT vocab)."""
    rng = np.random.default_rng(seed)
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < size:
        word = "".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 4))))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def make_texts(n: int, seed: int = 0, min_words: int = 5, max_words: int = 120) -> list[str]:
    """``n`` sentences with a uniform length spread of ``min_words``..``max_words`` words."""
    vocab = np.array(make_vocabulary())
    rng = np.random.default_rng([seed, 1])
    lengths = rng.integers(min_words, max_words + 1, size=n)
    return [" ".join(vocab[rng.integers(0, len(vocab), size=int(length))]) + " ." for length in lengths]


def make_labels(n: int, num_classes: int = NUM_CLASSES, seed: int = 0) -> np.ndarray:
    return np.random.default_rng([seed, 2]).integers(0, num_classes, size=n).astype(np.int64)


def make_features(n: int, d: int, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """(n, d) float32 embeddings with a class signal, the input of the scoring phase."""
    rng = np.random.default_rng([seed, 3, d])
    means = rng.standard_normal((int(labels.max()) + 1, d))
    x = 0.5 * rng.standard_normal((n, d)) + 0.3 * means[labels]
    return x.astype(np.float32)


def make_map(index: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """ESM ``index``: a random near-identity linear map (W, b), float32."""
    rng = np.random.default_rng([seed, 4, d, index])
    w = np.eye(d) + rng.standard_normal((d, d)) * (0.3 / math.sqrt(d))
    b = 0.05 * rng.standard_normal(d)
    return w.astype(np.float32), b.astype(np.float32)


def parity(ours, reference, rtol: float = PARITY_RTOL) -> tuple[float, bool]:
    """Max relative difference of two score vectors and whether it is within ``rtol``."""
    a = np.asarray(ours, dtype=np.float64).ravel()
    b = np.asarray(reference, dtype=np.float64).ravel()
    if a.shape != b.shape or a.size == 0:
        return float("inf"), False
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("inf"), False
    rel = float((np.abs(a - b) / np.maximum(np.abs(b), 1e-12)).max())
    return rel, rel <= rtol


# --------------------------------------------------------------------------------------------
# Children
# --------------------------------------------------------------------------------------------


def _maxrss_mb() -> float:
    """Peak RSS of this process. VmHWM, because getrusage's maxrss survives fork+exec and so would
    report at least the orchestrator's RSS; getrusage only where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _set_threads(job: dict) -> int:
    import torch

    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    return torch.get_num_threads()


def child_ours(job: dict) -> dict:
    threads = _set_threads(job)
    out: dict = {"threads": threads}
    if job["kind"] == "embed":
        from hfselect_core.embedding import load_embedding_model

        texts = json.loads(Path(job["texts"]).read_text())[: job["n"]]
        t0 = time.perf_counter()
        model = load_embedding_model(job["model"], device="cpu", max_length=128)
        out["load_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        emb = model.embed(texts, batch_size=job.get("batch_size", 64))
        out["embed_s"] = time.perf_counter() - t0
        out["pooling"] = model.pooling
        np.save(job["out_npy"], emb)
    elif job["kind"] == "score":
        from hfselect_core.esm import StoredESM
        from hfselect_core.logme import AffineLogME
        from hfselect_core.ranking import _score_chunk

        folders = sorted(Path(job["esm_dir"]).iterdir())[: job["k"]]
        t0 = time.perf_counter()
        esms = [StoredESM.open(f) for f in folders]  # what the sources hand to the ranking
        out["load_esms_s"] = time.perf_counter() - t0
        x = np.load(job["features"])
        labels = np.load(job["labels"])
        # ESMs actually scored: all K are loaded (so peak RSS is that of a K-ESM ranking), but
        # only the first ``score_k`` are scored when the time budget asks for it.
        score_k = min(len(esms), int(job.get("score_k") or len(esms)))
        checkpoints = sorted({c for c in job["checkpoints"] if c <= score_k} | {score_k})
        if job.get("score_threads"):
            import torch

            torch.set_num_threads(int(job["score_threads"]))
            out["score_threads"] = torch.get_num_threads()
        scores = np.full(len(esms), np.nan)
        marks: dict[int, float] = {}
        t0 = time.perf_counter()
        scorer = AffineLogME(x, labels, False, device="cpu")
        start = 0
        batch = int(job.get("esm_batch_size", 16))
        for stop_at in checkpoints:
            while start < stop_at:
                end = min(start + batch, stop_at)
                scores[start:end] = _score_chunk(scorer, esms[start:end])
                start = end
            marks[stop_at] = time.perf_counter() - t0
        out["score_s_at"] = {str(k): v for k, v in marks.items()}
        np.save(job["out_npy"], scores)
    elif job["kind"] == "cold":
        from hfselect_core.data import TargetDataset, read_table
        from hfselect_core.ranking import compute_task_ranking

        df = read_table(job["csv"])
        ds = TargetDataset.from_pandas(df, job["text_column"], job["label_column"])
        ranking = compute_task_ranking(ds, base_model=MINILM_ID, source="bundled", device="cpu")
        out["done_at"] = time.time()
        out["stage_seconds"] = ranking.stage_seconds
        out["num_esms"] = len(ranking)
        out["num_examples"] = len(ds)
    out["maxrss_mb"] = _maxrss_mb()
    return out


class _NoTokenizer:
    """Stands in for the tokenizer in the reference's scoring run: its inputs are not used."""

    def __call__(self, texts, **kwargs):
        import torch

        ids = torch.zeros(len(texts), 1, dtype=torch.long)
        return type("Tokenized", (), {"data": {"input_ids": ids, "attention_mask": ids.clone()}})()


def _reference_dataset(texts: list[str], labels: np.ndarray):
    import datasets
    from hfselect.dataset import Dataset

    hf = datasets.Dataset.from_dict(
        {"text": texts, "label": labels.tolist()},
        features=datasets.Features(
            {"text": datasets.Value("string"), "label": datasets.ClassLabel(num_classes=int(labels.max()) + 1)}
        ),
    )
    return Dataset(hf, text_col="text", label_col="label", is_regression=False)


def child_ref(job: dict) -> dict:
    threads = _set_threads(job)
    import hfselect.esm_logme as esm_logme
    import torch

    out: dict = {"threads": threads}
    texts = json.loads(Path(job["texts"]).read_text())[: job["n"]]
    labels = np.load(job["labels"])[: job["n"]]
    dataset = _reference_dataset(texts, labels)
    original_pool = esm_logme.get_pooled_output
    if job["kind"] == "embed":
        from transformers import AutoModel, AutoTokenizer

        t0 = time.perf_counter()
        model = AutoModel.from_pretrained(job["model"])
        tokenizer = AutoTokenizer.from_pretrained(job["model"])
        model.eval()
        out["load_s"] = time.perf_counter() - t0
        captured: list[np.ndarray] = []

        def recording_pool(base_model, input_ids, attention_mask):
            pooled = original_pool(base_model, input_ids, attention_mask)
            captured.append(pooled.detach().cpu().numpy())
            return pooled

        esm_logme.get_pooled_output = recording_pool
        t0 = time.perf_counter()
        esm_logme.compute_scores(dataset, model, [], tokenizer, batch_size=job.get("batch_size", 128))
        out["embed_s"] = time.perf_counter() - t0
        np.save(job["out_npy"], np.concatenate(captured))
    elif job["kind"] == "score":
        from hfselect.esm import ESM
        from hfselect.logme import LogME

        folders = sorted(Path(job["esm_dir"]).iterdir())[: job["k"]]
        t0 = time.perf_counter()
        esms = [ESM.from_pretrained(str(f)) for f in folders]
        out["load_esms_s"] = time.perf_counter() - t0
        features = torch.from_numpy(np.load(job["features"])[: job["n"]])
        # One-time numba JIT compilation, kept out of the timed run.
        t0 = time.perf_counter()
        rng = np.random.default_rng(0)
        LogME(regression=False).fit(rng.standard_normal((64, 8)), rng.integers(0, 2, 64))
        out["jit_warmup_s"] = time.perf_counter() - t0
        offset = [0]

        def feeding_pool(base_model, input_ids, attention_mask):
            rows = input_ids.shape[0]
            batch = features[offset[0] : offset[0] + rows]
            offset[0] += rows
            return batch

        esm_logme.get_pooled_output = feeding_pool
        t0 = time.perf_counter()
        scores = esm_logme.compute_scores(dataset, torch.nn.Identity(), esms, _NoTokenizer(), batch_size=128)
        out["score_s"] = time.perf_counter() - t0
        assert offset[0] == len(features), "the reference consumed a different number of rows"
        np.save(job["out_npy"], np.asarray(scores, dtype=np.float64))
    esm_logme.get_pooled_output = original_pool
    out["maxrss_mb"] = _maxrss_mb()
    return out


# --------------------------------------------------------------------------------------------
# Orchestrator
# --------------------------------------------------------------------------------------------


def _pin(cpus: str | None):
    """A preexec_fn that pins a child to the given cores (``taskset -c`` for both sides alike)."""
    if not cpus:
        return None
    cores = {int(c) for c in cpus.split(",")}
    return lambda: os.sched_setaffinity(0, cores)


class Runner:
    def __init__(
        self, workdir: Path, ref_python: str, threads: int | None, esm_batch_size: int, cpus: str | None = None
    ):
        self.cpus = cpus
        self.workdir = workdir
        self.ref_python = ref_python
        self.threads = threads
        self.esm_batch_size = esm_batch_size
        self.count = 0

    def run(self, side: str, job: dict) -> dict:
        self.count += 1
        job = {**job, "threads": self.threads, "esm_batch_size": self.esm_batch_size}
        path = self.workdir / f"job{self.count:03d}_{side}_{job['kind']}.json"
        path.write_text(json.dumps(job))
        python = OUR_PYTHON if side == "ours" else self.ref_python
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
        env["TQDM_DISABLE"] = "1"
        # The child runs this module (python -m bench.bench_ranking): both sides need the checkout on
        # the path; the reference side imports only its own library from there on.
        env["PYTHONPATH"] = str(REPO) + (
            os.pathsep + env["PYTHONPATH"] if side == "ours" and env.get("PYTHONPATH") else ""
        )
        t0 = time.perf_counter()
        proc = subprocess.run(
            [python, "-m", "bench.bench_ranking", "--child", side, "--job", str(path)],
            env=env,
            capture_output=True,
            text=True,
            cwd=str(self.workdir),
            preexec_fn=_pin(self.cpus),
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{side} child failed ({path.name}):\n{proc.stderr[-4000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["wall_s"] = wall
        print(f"  [{side}:{job['kind']}] {wall:.1f}s " + json.dumps({k: v for k, v in result.items() if k != "wall_s"}))
        return result


def build_bert(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", *make_vocabulary()]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizer(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(str(folder))
    torch.manual_seed(seed)
    model = BertModel(BertConfig(vocab_size=len(vocab)))  # BERT-base: 12 layers, d=768, with pooler
    model.save_pretrained(str(folder))
    return folder


def write_esms(folder: Path, k: int, d: int, base_model: str) -> Path:
    from hfselect_core.esm import ESM, ESMConfig

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(k):
        target = folder / f"esm_{i:05d}"
        if (target / "model.safetensors").exists():
            continue
        w, b = make_map(i, d)
        config = ESMConfig(base_model_name=base_model, task_id=f"bench/task_{i:05d}", esm_embedding_dim=d)
        ESM.from_weights(w, b, config).save(target)
    return folder


def machine_info() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram": mem_gb,
        "python": platform.python_version(),
        "load_avg_at_start": os.getloadavg(),
    }


GRIDS = {
    # d: {N: [K...]}
    "quick": {
        "embed_n": 48,
        "ref_k": {768: 5, 384: 20},
        "ours_cap": {},
        "cells": {768: {1000: [100]}, 384: {1000: [20]}},
    },
    "full": {
        # Enough texts for several length-sorted batches: with one batch there is nothing to sort.
        "embed_n": 384,
        "ref_k": {768: 10, 384: 50},
        # (d, N) -> most ESMs our side scores (all K are still loaded); beyond that ours is extrapolated.
        "ours_cap": {(768, 1000): 100, (768, 10000): 500},
        "cells": {768: {1000: [100, 500], 10000: [100, 500, 1500]}, 384: {1000: [50]}},
    },
}


def benchmark(args) -> dict:
    grid = GRIDS[args.mode]
    if args.ref_k:
        grid["ref_k"][768] = args.ref_k
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench_ranking_"))
    workdir.mkdir(parents=True, exist_ok=True)
    runner = Runner(workdir, args.ref_python, args.threads, args.esm_batch_size, args.cpus)
    started = time.perf_counter()
    report: dict = {"mode": args.mode, "workdir": str(workdir), "machine": machine_info(), "cells": [], "embed": []}
    report["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    n_max = max(n for cells in grid["cells"].values() for n in cells)
    texts = make_texts(n_max)
    labels = make_labels(n_max)
    (workdir / "texts.json").write_text(json.dumps(texts))
    np.save(workdir / "labels.npy", labels)

    print("building inputs ...")
    t0 = time.perf_counter()
    from hfselect_core.embedding import resolve_model_path

    bert = build_bert(workdir / "bert-base-random")
    # The reference mean-pools only when the model path names sentence-transformers.
    minilm_ref = workdir / "sentence-transformers__all-MiniLM-L6-v2"
    if not minilm_ref.exists():
        minilm_ref.symlink_to(resolve_model_path(MINILM_ID), target_is_directory=True)
    models = {768: (str(bert), str(bert)), 384: (MINILM_ID, str(minilm_ref))}
    esm_dirs = {}
    for d, cells in grid["cells"].items():
        k_max = max(k for ks in cells.values() for k in ks)
        esm_dirs[d] = write_esms(workdir / f"esms_d{d}", k_max, d, models[d][0])
    report["input_build_s"] = time.perf_counter() - t0
    print(f"inputs ready in {report['input_build_s']:.1f}s in {workdir}")

    # Embedding phase, on a subset; the per-text cost is extrapolated to N.
    n_embed = args.embed_n or grid["embed_n"]
    for d, (ours_model, ref_model) in models.items() if not args.scoring_only else []:
        print(f"embedding d={d} on {n_embed} texts ...")
        common = {"kind": "embed", "texts": str(workdir / "texts.json"), "labels": str(workdir / "labels.npy")}
        ours = runner.run(
            "ours", {**common, "model": ours_model, "n": n_embed, "out_npy": str(workdir / f"emb{d}_ours.npy")}
        )
        ref = runner.run(
            "ref", {**common, "model": ref_model, "n": n_embed, "out_npy": str(workdir / f"emb{d}_ref.npy")}
        )
        e_ours = np.load(workdir / f"emb{d}_ours.npy")
        e_ref = np.load(workdir / f"emb{d}_ref.npy")
        note = "pooler output"
        if "normalize" in ours.get("pooling", ""):
            e_ref = e_ref / np.linalg.norm(e_ref, axis=1, keepdims=True)
            note = "reference mean-pooled, L2-normalised here (ours applies the model's Normalize module)"
        report["embed"].append(
            {
                "d": d,
                "n": n_embed,
                "ours_s": ours["embed_s"],
                "ref_s": ref["embed_s"],
                "ours_load_s": ours["load_s"],
                "ref_load_s": ref["load_s"],
                "ours_rss_mb": ours["maxrss_mb"],
                "ref_rss_mb": ref["maxrss_mb"],
                "max_abs_diff": float(np.abs(e_ours - e_ref).max()),
                "parity_note": note,
            }
        )
    embed_per_text = {e["d"]: (e["ours_s"] / e["n"], e["ref_s"] / e["n"]) for e in report["embed"]}
    for d in models:
        embed_per_text.setdefault(d, (float("nan"), float("nan")))

    # Scoring phase.
    for d, cells in grid["cells"].items():
        for n, ks in cells.items():
            feats = workdir / f"features_d{d}_n{n}.npy"
            np.save(feats, make_features(n, d, labels[:n]))
            np.save(workdir / f"labels_n{n}.npy", labels[:n])
            k_max = max(ks)
            print(f"scoring d={d} N={n} K<={k_max} ...")
            common = {
                "kind": "score",
                "features": str(feats),
                "labels": str(workdir / f"labels_n{n}.npy"),
                "texts": str(workdir / "texts.json"),
                "esm_dir": str(esm_dirs[d]),
                "n": n,
            }
            cap = min(k_max, grid["ours_cap"].get((d, n), k_max))
            ours = runner.run(
                "ours",
                {
                    **common,
                    "k": k_max,
                    "score_k": cap,
                    "score_threads": args.score_threads,
                    "checkpoints": ks,
                    "out_npy": str(workdir / "s_ours.npy"),
                },
            )
            s_ours = np.load(workdir / "s_ours.npy")
            k_ref = min(k_max, grid["ref_k"][d])
            ref = runner.run("ref", {**common, "k": k_ref, "out_npy": str(workdir / "s_ref.npy")})
            s_ref = np.load(workdir / "s_ref.npy")
            rel, ok = parity(s_ours[:k_ref], s_ref)
            per_esm_ref = ref["score_s"] / k_ref
            ours_per_text, ref_per_text = embed_per_text[d]
            for k in ks:
                ours_extrapolated = k > cap
                ours_score = ours["score_s_at"][str(cap)] / cap * k if ours_extrapolated else ours["score_s_at"][str(k)]
                ref_score = ref["score_s"] if k == k_ref else per_esm_ref * k
                report["cells"].append(
                    {
                        "d": d,
                        "n": n,
                        "k": k,
                        "ours_score_s": ours_score,
                        "ref_score_s": ref_score,
                        "ref_measured_k": k_ref,
                        "ref_extrapolated": k != k_ref,
                        "ours_measured_k": cap,
                        "ours_extrapolated": ours_extrapolated,
                        "ours_embed_s": ours_per_text * n,
                        "ref_embed_s": ref_per_text * n,
                        "ours_rss_mb": ours["maxrss_mb"] if k == k_max else None,
                        "ref_rss_mb": ref["maxrss_mb"],
                        "ours_load_esms_s": ours["load_esms_s"] * k / k_max,
                        "ref_load_esms_s": ref["load_esms_s"] * k / k_ref,
                        "parity_rel": rel,
                        "parity_ok": ok,
                        "ours_threads": ours["threads"],
                        "ref_threads": ref["threads"],
                    }
                )

    if args.scoring_only:
        report["cold"] = None
        report["total_wall_s"] = time.perf_counter() - started
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        return report
    print("cold start ...")
    cold_started = time.time()
    cold = runner.run(
        "ours",
        {
            "kind": "cold",
            "csv": str(REPO / "assets/examples/product_reviews.csv"),
            "text_column": "review",
            "label_column": "sentiment",
        },
    )
    cold["process_to_ranking_s"] = cold["done_at"] - cold_started
    report["cold"] = cold
    report["total_wall_s"] = time.perf_counter() - started
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if a == a and b == b and b > 0 else "-"


def _fmt(x: float | None, digits: int = 1) -> str:
    if x is None or x != x:
        return "-"
    return f"{x:.{digits}f}"


def render(report: dict, command: str) -> str:
    m = report["machine"]
    lines = [
        SECTION,
        "",
        f"- Command: `{command}`",
        f"- Date: {report['date']}; mode `{report['mode']}`; total benchmark wall time {report['total_wall_s']:.0f} s",
        f"- Machine: {m['nproc']} cores, {m['cpu']}, {m['ram']} RAM, Python {m['python']}, torch 2.13.0+cpu in both venvs."
        f" Load average at start {', '.join(f'{x:.2f}' for x in m['load_avg_at_start'])}"
        + (
            ": other jobs shared the 2 cores, so absolute times are noisy"
            if m["load_avg_at_start"][0] > 1.0
            else ": nothing else ran"
        )
        + "; ours and the reference ran back to back on the same inputs, so the ratios are the meaningful numbers.",
        "- Inputs: generated texts of 5-120 words (uniform), 3 classes; BERT-base-sized random model"
        " (12 layers, d=768, pooler) and the bundled all-MiniLM-L6-v2 (d=384); random near-identity"
        " ESMs saved in the Hub format. Scoring-phase features are the same generated (N, d) float32"
        " matrix for both sides (so that N=10000 fits the time budget; scoring cost does not depend on"
        " the embedding values).",
        "",
        "### Embedding (texts -> pooled embeddings)",
        "",
        "| d | texts timed | ours s | reference s | speed-up | per 1000 texts ours / ref s |"
        " ours / ref peak RSS MB | max abs diff | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in report["embed"]:
        lines.append(
            f"| {e['d']} | {e['n']} | {_fmt(e['ours_s'])} | {_fmt(e['ref_s'])} | {e['ref_s'] / e['ours_s']:.2f}x |"
            f" {_fmt(e['ours_s'] / e['n'] * 1000)} / {_fmt(e['ref_s'] / e['n'] * 1000)} |"
            f" {_fmt(e['ours_rss_mb'], 0)} / {_fmt(e['ref_rss_mb'], 0)} | {e['max_abs_diff']:.2e} | {e['parity_note']} |"
        )
    lines += [
        "",
        "### Scoring (ESM transform + LogME) and totals",
        "",
        "Embedding columns are the per-text cost above times N. `ref K` is the number of ESMs the"
        " reference actually ran; cells marked *extrapolated* scale its per-ESM time (flat in K) to K."
        " Score parity compares ours and the reference on those same ESMs.",
        "",
        "| d | N | K | ours score s | ref score s | score speed-up | ours total s | ref total s | total speed-up |"
        " ours peak RSS MB | ref peak RSS MB (at ref K) | score parity (max rel diff) | ref time | ours time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in report["cells"]:
        ours_total = c["ours_score_s"] + c["ours_embed_s"]
        ref_total = c["ref_score_s"] + c["ref_embed_s"]
        mark = f"extrapolated from K={c['ref_measured_k']}" if c["ref_extrapolated"] else "measured"
        ours_mark = f"extrapolated from K={c['ours_measured_k']}" if c["ours_extrapolated"] else "measured"
        lines.append(
            f"| {c['d']} | {c['n']} | {c['k']} | {_fmt(c['ours_score_s'])} | {_fmt(c['ref_score_s'])} |"
            f" {c['ref_score_s'] / c['ours_score_s']:.1f}x | {_fmt(ours_total)} | {_fmt(ref_total)} |"
            f" {_ratio(ref_total, ours_total)} | {_fmt(c['ours_rss_mb'], 0)} | {_fmt(c['ref_rss_mb'], 0)} |"
            f" {c['parity_rel']:.1e} {'ok' if c['parity_ok'] else 'FAIL'} | {mark} | {ours_mark} |"
        )
    cold = report["cold"]
    if cold is None:
        return "\n".join(lines)
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in cold["stage_seconds"].items())
    lines += [
        "",
        f"### Cold start: {cold['process_to_ranking_s']:.1f} s from process start to the first offline ranking"
        f" of assets/examples/product_reviews.csv ({cold['num_examples']} examples, {cold['num_esms']} bundled"
        f" ESMs; stages: {stages}; peak RSS {cold['maxrss_mb']:.0f} MB).",
        "",
    ]
    return "\n".join(lines)


def write_results(text: str, path: Path) -> None:
    """Replace (or add) our section of RESULTS.md, keeping every other section as it is."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = old.splitlines()
    out: list[str] = []
    skipping = False
    for line in lines:
        if line.strip() == SECTION:
            skipping = True
            continue
        if skipping and line.startswith("## "):
            skipping = False
        if not skipping:
            out.append(line)
    body = "\n".join(out).rstrip() + "\n\n" + text.rstrip() + "\n"
    path.write_text(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick", help="small grid (~3 min)")
    mode.add_argument("--full", dest="mode", action="store_const", const="full", help="full grid (~15-20 min)")
    parser.set_defaults(mode="quick")
    parser.add_argument("--ref-python", default=DEFAULT_REF_PYTHON, help="python of the reference venv")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in every child (default: torch's)")
    parser.add_argument("--score-threads", type=int, default=None, help="torch threads in our scoring phase only")
    parser.add_argument("--esm-batch-size", type=int, default=16, help="ESMs per AffineLogME.score call (ours)")
    parser.add_argument("--ref-k", type=int, default=None, help="ESMs the reference runs at d=768")
    parser.add_argument("--embed-n", type=int, default=None, help="texts timed in the embedding phase")
    parser.add_argument("--workdir", default=None, help="where inputs go (default: a new temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--cpus", default=None, help="pin every child to these cores, e.g. 0,1 (both sides alike)")
    parser.add_argument("--scoring-only", action="store_true", help="skip the embedding and cold-start phases")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"), help="markdown file to update ('' for none)")
    parser.add_argument("--child", choices=["ours", "ref"], help=argparse.SUPPRESS)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        job = json.loads(Path(args.job).read_text())
        result = child_ours(job) if args.child == "ours" else child_ref(job)
        print(json.dumps(result))
        return 0
    if not Path(args.ref_python).exists():
        parser.error(f"reference python {args.ref_python} not found: run bash bench/setup_reference_env.sh")
    report = benchmark(args)
    command = "/work/venv/bin/python -m bench.bench_ranking " + " ".join(argv if argv is not None else sys.argv[1:])
    text = render(report, command.strip())
    print(text)
    print(json.dumps(report, default=str))
    if args.results:
        write_results(text, Path(args.results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
