"""Headline benchmark: end to end, ours vs the reference (hf-dataset-selector 0.2.1), paper setting.

    bash bench/setup_reference_env.sh
    .venv/bin/python -m bench.bench_headline --k 100 --extrapolate-k 1500      # CPU, both sides
    python3 -m bench.bench_headline --gpu --k 1500                                # GPU, ours only

Setting (ESM-LogME paper): a BERT-base-sized encoder (12 layers, d = 768, pooler; random weights
with the bert-base-uncased WordPiece vocabulary, as no BERT checkpoint is reachable offline: the
cost does not depend on the weights), N = 1000 texts drawn uniformly (seed 0) from a real dataset
in ../shared/datasets (ag_news by default), K ESMs saved in the Hub format (near-identity linear
maps). Each side runs in a fresh process:

* ours: ``compute_task_ranking(dataset, base_model=<folder>, source=<ESM folder>)``, the public
  API end to end: find and check the ESMs, load the model, embed, score, sort;
* reference: its own loop, ``hfselect.esm_logme.compute_scores`` (embedding with the model's
  pooler, every ESM applied per batch, LogME per ESM), after loading the model, tokenizer and
  ESMs with its own ``ESM.from_pretrained``. The reference is run with no ESM too, so its
  per-ESM cost is (time with K ESMs - time with none) / K.

K = 1500 figures are extrapolated per ESM from K measured ESMs when ``--extrapolate-k`` is given
(both sides are linear in K beyond the fixed cost), and said so in the output.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

from bench.bench_ranking import _maxrss_mb, _pin, _reference_dataset, machine_info, write_esms  # noqa: E402

DATA = REPO.parent / "shared" / "datasets"
DEFAULT_REF_PYTHON = os.environ.get("BENCH_REF_PYTHON", "/work/bench-venv/bin/python")


def sample_texts(dataset: str, n: int) -> tuple[list[str], np.ndarray]:
    import pandas as pd

    manifest = {t["name"]: t for t in json.loads((DATA / "manifest.json").read_text())["tasks"]}
    task = manifest[dataset]
    df = pd.read_parquet(DATA / dataset / "train.parquet").sample(n=n, random_state=0)
    texts = df[task["text_columns"]].astype(str).agg(" [SEP] ".join, axis=1).tolist()
    return texts, pd.Categorical(df[task.get("label_column", "label")]).codes.astype(np.int64)


def build_model(folder: Path, tokenizer_source: str | None = None) -> Path:
    """BERT-base-sized model, random weights, bert-base-uncased vocabulary (from the bundled MiniLM)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    if (folder / "model.safetensors").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    if tokenizer_source is None:
        from hfselect_core.embedding import BUNDLED_MODEL_ID, resolve_model_path

        tokenizer_source = resolve_model_path(BUNDLED_MODEL_ID)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)
    tokenizer.save_pretrained(str(folder))
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size)).save_pretrained(str(folder))
    return folder


# --- children ----------------------------------------------------------------------------------


def child_ours(job: dict) -> dict:
    import torch

    from hfselect_core import TargetDataset, compute_task_ranking

    texts = json.loads(Path(job["texts"]).read_text())
    labels = np.load(job["labels"])
    device = job.get("device", "cpu")
    dataset = TargetDataset(texts, labels, "classification", ["text"], "label")
    first_event = []

    def progress(stage, done, total):
        if stage == "Scoring" and done and not first_event:
            first_event.append(time.perf_counter())

    t0 = time.perf_counter()
    ranking = compute_task_ranking(
        dataset, base_model=job["model"], source=job["esm_dir"], device=device, progress=progress
    )
    out = {
        "total_s": time.perf_counter() - t0,
        "first_scores_s": (first_event[0] - t0) if first_event else None,
        "stages": ranking.stage_seconds,
        "k": len(ranking),
        "maxrss_mb": _maxrss_mb(),
        "threads": torch.get_num_threads(),
        "top": [r.name for r in ranking.rows[:5]],
        "scores": {r.name: r.score for r in ranking.rows},
    }
    if device.startswith("cuda"):
        out["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        out["gpu"] = torch.cuda.get_device_name()
        # Warm: a second ranking of other texts in the same process (model loaded, ESMs on disk cache).
        other = TargetDataset(texts[::-1][: len(texts)], labels[::-1], "classification", ["text"], "label")
        other.texts = [t + " ." for t in other.texts]  # different texts: no embedding cache hit
        t1 = time.perf_counter()
        warm = compute_task_ranking(other, base_model=job["model"], source=job["esm_dir"], device=device)
        out["warm_total_s"] = time.perf_counter() - t1
        out["warm_stages"] = warm.stage_seconds
    return out


def child_ref(job: dict) -> dict:
    import hfselect.esm_logme as esm_logme
    from hfselect.esm import ESM
    from hfselect.logme import LogME
    from transformers import AutoModel, AutoTokenizer

    texts = json.loads(Path(job["texts"]).read_text())
    labels = np.load(job["labels"])
    dataset = _reference_dataset(texts, labels)
    rng = np.random.default_rng(0)
    LogME(regression=False).fit(rng.standard_normal((64, 8)), rng.integers(0, 2, 64))  # numba JIT, untimed
    t0 = time.perf_counter()
    model = AutoModel.from_pretrained(job["model"])
    tokenizer = AutoTokenizer.from_pretrained(job["model"])
    model.eval()
    load_model_s = time.perf_counter() - t0
    folders = sorted(Path(job["esm_dir"]).iterdir())[: job["k"]]
    t0 = time.perf_counter()
    esms = [ESM.from_pretrained(str(f)) for f in folders]
    load_esms_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = esm_logme.compute_scores(dataset, model, esms, tokenizer, batch_size=128)
    compute_s = time.perf_counter() - t0
    return {
        "load_model_s": load_model_s,
        "load_esms_s": load_esms_s,
        "compute_s": compute_s,
        "total_s": load_model_s + load_esms_s + compute_s,
        "k": len(esms),
        "maxrss_mb": _maxrss_mb(),
        "scores": [float(s) for s in scores],
        "names": [f.name for f in folders],
    }


def run_child(python: str, side: str, job: dict, workdir: Path, cpus: str | None = None) -> dict:
    path = workdir / f"job_{side}_{job.get('k', 0)}_{time.time_ns()}.json"
    path.write_text(json.dumps(job))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1"}
    if job.get("precision"):
        env["HFSELECT_EMBEDDING_PRECISION"] = job["precision"]
    # The child runs this module (python -m bench.bench_headline): both sides need the checkout on the path.
    env["PYTHONPATH"] = str(REPO)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [python, "-m", "bench.bench_headline", "--child", side, "--job", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(workdir),
        preexec_fn=_pin(cpus),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{side} child failed:\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = time.perf_counter() - t0
    shown = {k: v for k, v in result.items() if k not in ("scores", "names")}
    print(f"  [{side} K={job.get('k')}] {json.dumps(shown)}", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ag_news")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--k", type=int, default=100, help="ESMs measured")
    parser.add_argument("--extrapolate-k", type=int, default=1500, help="K reported (per-ESM extrapolation)")
    parser.add_argument("--gpu", action="store_true", help="ours only, on CUDA")
    parser.add_argument("--texts-json", default="", help="texts/labels prepared elsewhere (GPU machine)")
    parser.add_argument("--tokenizer", default=None, help="tokenizer folder (GPU machine: no bundled MiniLM)")
    parser.add_argument("--precision", nargs="+", default=["fp32"], help="our embedding precision(s)")
    parser.add_argument("--ref-python", default=DEFAULT_REF_PYTHON)
    parser.add_argument("--cpus", default=None, help="pin every child to these cores, e.g. 0,1 (both sides alike)")
    parser.add_argument("--workdir", default="")
    parser.add_argument("--json", default="")
    parser.add_argument("--child", choices=["ours", "ref"])
    parser.add_argument("--job")
    args = parser.parse_args(argv)
    if args.child:
        job = json.loads(Path(args.job).read_text())
        print(json.dumps(child_ours(job) if args.child == "ours" else child_ref(job)))
        return 0

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench_headline_"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.texts_json:
        data = json.loads(Path(args.texts_json).read_text())
        texts, labels = data["texts"][: args.n], np.asarray(data["labels"][: args.n], dtype=np.int64)
    else:
        texts, labels = sample_texts(args.dataset, args.n)
    (workdir / "texts.json").write_text(json.dumps(texts))
    np.save(workdir / "labels.npy", labels)
    t0 = time.perf_counter()
    model = build_model(workdir / "bert-base-random", args.tokenizer)
    esm_dir = write_esms(workdir / "esms", args.k, 768, str(model))
    print(f"inputs in {time.perf_counter() - t0:.0f} s: {workdir}", flush=True)
    common = {"texts": str(workdir / "texts.json"), "labels": str(workdir / "labels.npy"), "model": str(model)}
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "dataset": args.dataset,
        "n": len(texts),
        "k_measured": args.k,
        "k_reported": args.extrapolate_k,
    }
    if args.gpu:
        for precision in args.precision:
            job = {**common, "esm_dir": str(esm_dir), "k": args.k, "device": "cuda", "precision": precision}
            report[f"ours_gpu_{precision}"] = run_child(sys.executable, "ours", job, workdir, args.cpus)
    else:
        for precision in args.precision:
            job = {**common, "esm_dir": str(esm_dir), "k": args.k, "precision": precision}
            report[f"ours_{precision}"] = run_child(sys.executable, "ours", job, workdir, args.cpus)
        ours = report[f"ours_{args.precision[0]}"]
        empty = workdir / "no_esms"
        empty.mkdir(exist_ok=True)
        ref0 = run_child(args.ref_python, "ref", {**common, "esm_dir": str(empty), "k": 0}, workdir, args.cpus)
        refk = run_child(args.ref_python, "ref", {**common, "esm_dir": str(esm_dir), "k": args.k}, workdir, args.cpus)
        k, kx = args.k, args.extrapolate_k
        st = ours["stages"]
        ours_fixed = st.get("load model", 0) + st.get("embed", 0)
        ours_per_esm = (st.get("load ESMs", 0) + st.get("score", 0)) / k
        ref_fixed = refk["load_model_s"] + ref0["compute_s"]
        ref_per_esm = (refk["load_esms_s"] + refk["compute_s"] - ref0["compute_s"]) / k
        ours_scores = np.array([ours["scores"][name] for name in refk["names"]])
        ref_scores = np.array(refk["scores"])
        report.update(
            {
                "ref_no_esm": ref0,
                "ref": refk,
                "ours_total_k": ours_fixed + ours_per_esm * kx,
                "ref_total_k": ref_fixed + ref_per_esm * kx,
                "ours_fixed_s": ours_fixed,
                "ours_per_esm_s": ours_per_esm,
                "ref_fixed_s": ref_fixed,
                "ref_per_esm_s": ref_per_esm,
                "parity_max_rel": float(np.max(np.abs(ours_scores - ref_scores) / np.abs(ref_scores))),
                "same_top5": [n for n in ours["top"]] == [refk["names"][i] for i in np.argsort(-ref_scores)[:5]],
            }
        )
        report["speedup_measured_k"] = refk["total_s"] / ours["total_s"]
        report["speedup_k"] = report["ref_total_k"] / report["ours_total_k"]
        print(
            f"K={k} measured: ours {ours['total_s']:.1f} s, reference {refk['total_s']:.1f} s "
            f"({report['speedup_measured_k']:.1f}x); K={kx} extrapolated: ours {report['ours_total_k']:.1f} s, "
            f"reference {report['ref_total_k']:.1f} s ({report['speedup_k']:.1f}x); parity {report['parity_max_rel']:.1e}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
