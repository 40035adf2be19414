"""Scale invariance of the score (issue 10, "ranking poisoning"): the attack, and what the fix costs.

    .venv/bin/python -m bench.bench_scale_invariance --sizes 250 1000 --samples 2

1. The attack: on each example dataset, ``c * I`` (c = 1e-3, 1, 1e3) and 1000 x a real bundled ESM,
   scored with the published formula (``scale_invariant=False``, what the reference computes)
   and with ours, next to the best real ESM.
2. Selection quality of both formulas on the real transfer results (../shared/quality): for each
   yardstick target, disjoint uniform samples of N training examples, the bundled pool ranked by
   each formula, regret@1/3/5 and NDCG from the yardstick's own evaluate.py. With N > d (384)
   and full-rank features the two formulas are the same expression; with N <= d the published
   one adds (d - N)/(2N) log(alpha), which grows with each map's output scale.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent

from hfselect_core.embedding import BUNDLED_MODEL_ID, load_embedding_model  # noqa: E402
from hfselect_core.esm import StoredESM  # noqa: E402
from hfselect_core.logme import AffineLogME  # noqa: E402
from hfselect_core.sources import bundled_pool_dir  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"
QUALITY = ROOT.parent / "shared" / "quality"
METRICS = ["regret@1", "regret@3", "regret@5", "ndcg"]


def pool():
    folders = sorted(p for p in bundled_pool_dir(BUNDLED_MODEL_ID).iterdir() if p.is_dir())
    pairs = [StoredESM.open(f).weight_and_bias() for f in folders]
    tasks = [json.loads((f / "config.json").read_text()).get("task_id", f.name) for f in folders]
    return [f.name for f in folders], tasks, np.stack([w for w, _ in pairs]), np.stack([b for _, b in pairs])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 1000])
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    model = load_embedding_model(BUNDLED_MODEL_ID, device="cpu", precision="fp32")
    names, _, weights, biases = pool()
    d = weights.shape[1]
    report: dict = {"attack": [], "quality": {}}

    for ex in json.loads((ROOT / "assets/examples/examples.json").read_text()):
        df = pd.read_csv(ROOT / "assets/examples" / ex["file"])
        texts = df[ex["text_columns"]].astype(str).agg(" [SEP] ".join, axis=1).tolist()
        regression = ex["task_type"] == "regression"
        labels = (
            df[ex["label_column"]].to_numpy(np.float64) if regression else pd.Categorical(df[ex["label_column"]]).codes
        )
        x = model.embed(texts)
        row = {"example": ex["name"], "n": len(texts)}
        for invariant in (False, True):
            scorer = AffineLogME(x, labels, regression, scale_invariant=invariant)
            real = scorer.score(weights, biases)
            eye = np.eye(d)[None]
            key = "ours" if invariant else "published"
            row[key] = {
                "best_real": float(real.max()),
                **{f"{c:g}*I": float(scorer.score(c * eye, np.zeros((1, d)))[0]) for c in (1e-3, 1.0, 1e3)},
                "1000*best_real_esm": float(
                    scorer.score(1e3 * weights[[real.argmax()]], 1e3 * biases[[real.argmax()]])[0]
                ),
            }
        report["attack"].append(row)
        print(json.dumps(row), flush=True)

    spec = importlib.util.spec_from_file_location("evaluate", QUALITY / "evaluate.py")
    yardstick = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(yardstick)
    transfer = json.loads((QUALITY / "transfer_minilm_dev.json").read_text())
    manifest = {t["name"]: t for t in json.loads((DATA / "manifest.json").read_text())["tasks"]}
    for size in args.sizes:
        per_formula = {"published": [], "ours": []}
        for target, perf in transfer["perf"].items():
            task = manifest[target]
            df = pd.read_parquet(DATA / target / "train.parquet").sample(frac=1.0, random_state=0)
            regression = df["label"].dtype.kind == "f"
            for s in range(args.samples):
                part = df.iloc[s * size : (s + 1) * size]
                if len(part) < size:
                    break
                texts = part[task["text_columns"]].astype(str).agg(" [SEP] ".join, axis=1).tolist()
                labels = part["label"].to_numpy(np.float64) if regression else pd.Categorical(part["label"]).codes
                x = model.embed(texts)
                for invariant, key in ((False, "published"), (True, "ours")):
                    scores = AffineLogME(x, labels, regression, scale_invariant=invariant).score(weights, biases)
                    result = yardstick.evaluate(dict(zip(names, scores.tolist())), perf, target)
                    per_formula[key].append(result)
        report["quality"][size] = {
            key: {m: float(np.mean([r[m] for r in rows])) for m in METRICS} | {"rankings": len(rows)}
            for key, rows in per_formula.items()
        }
        print(size, json.dumps(report["quality"][size]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
