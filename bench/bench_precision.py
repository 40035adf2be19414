"""Embedding precision: speed and ranking agreement of bf16 / int8 against fp32.

    .venv/bin/python -m bench.bench_precision --n 500 --json /tmp/precision.json

For the four example datasets (assets/examples) and real targets from ../shared/datasets (a
uniform sample of N training rows each, seed 0), every precision embeds the target with the
bundled all-MiniLM-L6-v2 and ranks the bundled pool of 39 ESMs with ``AffineLogME`` (what
``compute_task_ranking`` does). Agreement with the fp32 ranking: Kendall's tau over all ESMs and
whether the top 5 is the same (same tasks in the same order). Speed: texts per second of each
precision on the same texts, and on a BERT-base-sized model (random weights, 12 layers, d=768,
the bert-base-uncased vocabulary) where the embedding cost matters most.

The criterion for a default: tau >= 0.98 and the same top 5 on every target.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import kendalltau

ROOT = Path(__file__).resolve().parent.parent

from hfselect_core.embedding import BUNDLED_MODEL_ID, load_embedding_model, resolve_model_path  # noqa: E402
from hfselect_core.esm import StoredESM  # noqa: E402
from hfselect_core.logme import AffineLogME  # noqa: E402
from hfselect_core.sources import bundled_pool_dir  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"
TARGETS = [
    "sst2",
    "ag_news",
    "banking77",
    "mrpc",
    "cola",
    "tweet_eval_hate",
    "financial_phrasebank",
    "stsb",
    "emotion",
    "trec_coarse",
]
PRECISIONS = ["fp32", "bf16", "int8"]


def example_targets() -> list[dict]:
    spec = json.loads((ROOT / "assets/examples/examples.json").read_text())
    out = []
    for ex in spec:
        df = pd.read_csv(ROOT / "assets/examples" / ex["file"])
        texts = df[ex["text_columns"]].astype(str).agg(" [SEP] ".join, axis=1).tolist()
        regression = ex["task_type"] == "regression"
        raw = df[ex["label_column"]]
        labels = raw.to_numpy(np.float64) if regression else pd.Categorical(raw).codes
        out.append({"name": f"example:{ex['name']}", "texts": texts, "labels": labels, "regression": regression})
    return out


def shared_targets(names: list[str], n: int) -> list[dict]:
    manifest = {t["name"]: t for t in json.loads((DATA / "manifest.json").read_text())["tasks"]}
    out = []
    for name in names:
        task = manifest[name]
        df = pd.read_parquet(DATA / name / "train.parquet")
        df = df.sample(n=min(n, len(df)), random_state=0)
        texts = df[task["text_columns"]].astype(str).agg(" [SEP] ".join, axis=1).tolist()
        labels = df[task.get("label_column", "label")].to_numpy()
        regression = labels.dtype.kind == "f"
        if not regression:
            labels = pd.Categorical(labels).codes
        out.append({"name": name, "texts": texts, "labels": labels, "regression": regression})
    return out


def pool() -> tuple[list[str], np.ndarray, np.ndarray]:
    folders = sorted(p for p in bundled_pool_dir(BUNDLED_MODEL_ID).iterdir() if p.is_dir())
    pairs = [StoredESM.open(f).weight_and_bias() for f in folders]
    return [f.name for f in folders], np.stack([w for w, _ in pairs]), np.stack([b for _, b in pairs])


def bert_base_folder(folder: Path) -> Path:
    """A BERT-base-sized model with random weights and the bert-base-uncased WordPiece vocabulary."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    if (folder / "model.safetensors").exists():
        return folder
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(BUNDLED_MODEL_ID))
    tokenizer.save_pretrained(str(folder))
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size)).save_pretrained(str(folder))
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500, help="examples per shared-dataset target")
    parser.add_argument("--targets", nargs="*", default=TARGETS)
    parser.add_argument("--bert-texts", type=int, default=256, help="texts timed on the BERT-base-sized model")
    parser.add_argument("--workdir", default="/tmp/bench_precision")
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    targets = example_targets() + shared_targets(args.targets, args.n)
    names, weights, biases = pool()
    models = {p: load_embedding_model(BUNDLED_MODEL_ID, device="cpu", precision=p) for p in PRECISIONS}
    report: dict = {"n": args.n, "threads": torch.get_num_threads(), "targets": [], "speed": {}}
    seconds = {p: 0.0 for p in PRECISIONS}
    texts_total = 0
    for target in targets:
        row = {"target": target["name"], "n": len(target["texts"])}
        scores = {}
        for p in PRECISIONS:
            t0 = time.perf_counter()
            x = models[p].embed(target["texts"], use_cache=False)
            seconds[p] += time.perf_counter() - t0
            scores[p] = AffineLogME(x, target["labels"], target["regression"]).score(weights, biases)
        texts_total += len(target["texts"])
        order = {p: [names[i] for i in np.argsort(-scores[p], kind="stable")] for p in PRECISIONS}
        for p in PRECISIONS[1:]:
            tau = float(kendalltau(scores["fp32"], scores[p]).statistic)
            row[p] = {
                "tau": tau,
                "top5_same_order": order[p][:5] == order["fp32"][:5],
                "top5_same_set": set(order[p][:5]) == set(order["fp32"][:5]),
                "top1_same": order[p][0] == order["fp32"][0],
                "max_rel_score_diff": float(np.max(np.abs(scores[p] - scores["fp32"]) / np.abs(scores["fp32"]))),
            }
        row["fp32_top5"] = order["fp32"][:5]
        report["targets"].append(row)
        print(
            f"{target['name']:32s} N={row['n']:5d} "
            + "  ".join(
                f"{p}: tau {row[p]['tau']:.4f} top5 {'=' if row[p]['top5_same_order'] else 'DIFF'}"
                for p in PRECISIONS[1:]
            ),
            flush=True,
        )
    report["speed"]["minilm_texts_per_s"] = {p: texts_total / seconds[p] for p in PRECISIONS}

    folder = bert_base_folder(Path(args.workdir) / "bert-base-random")
    bert_texts = [t for target in targets for t in target["texts"]]
    rng = np.random.default_rng(0)
    sample = [bert_texts[i] for i in rng.choice(len(bert_texts), size=args.bert_texts, replace=False)]
    bert_speed = {}
    reference = None
    for p in PRECISIONS:
        model = load_embedding_model(str(folder), device="cpu", precision=p)
        model.embed(sample[:16], use_cache=False)  # warm-up
        t0 = time.perf_counter()
        x = model.embed(sample, use_cache=False)
        bert_speed[p] = len(sample) / (time.perf_counter() - t0)
        if reference is None:
            reference = x
        else:
            cos = (x * reference).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(reference, axis=1)
            report.setdefault("bert_min_cosine_vs_fp32", {})[p] = float(cos.min())
    report["speed"]["bert_base_texts_per_s"] = bert_speed

    for p in PRECISIONS[1:]:
        rows = [r[p] for r in report["targets"]]
        report[f"summary_{p}"] = {
            "min_tau": min(r["tau"] for r in rows),
            "mean_tau": float(np.mean([r["tau"] for r in rows])),
            "targets_same_top5": sum(r["top5_same_order"] for r in rows),
            "targets_same_top5_set": sum(r["top5_same_set"] for r in rows),
            "targets": len(rows),
            "default_criterion_met": all(r["tau"] >= 0.98 and r["top5_same_order"] for r in rows),
            "minilm_speedup": report["speed"]["minilm_texts_per_s"][p] / report["speed"]["minilm_texts_per_s"]["fp32"],
            "bert_base_speedup": bert_speed[p] / bert_speed["fp32"],
        }
        print(p, json.dumps(report[f"summary_{p}"]))
    print("speed", json.dumps(report["speed"]))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
