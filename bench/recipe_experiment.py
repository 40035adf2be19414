"""Which fine-tuning recipe gives ESMs whose rankings make sense? Trains a few tasks per recipe
and ranks the bundled examples against each recipe's small pool.

    python -m bench.recipe_experiment --manifest .gpu/data/manifest.json --model-path .gpu/model

Recipes differ only in the head learning rate (and encoder learning rate); see training.py.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RECIPES = {
    "cards": ["--lr", "2e-5", "--head-lr", "0"],
    "cosine_head": ["--lr", "2e-5", "--head-lr", "1e-3"],
    "cosine_head_lr5e-5": ["--lr", "5e-5", "--head-lr", "1e-3"],
}
TASKS = ["sst2", "ag_news", "banking77", "rte", "stsb", "emotion"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--model-path", required=True)
    parser.add_argument("--out", default="/tmp/recipes")
    parser.add_argument("--max-examples", type=int, default=5000)
    args = parser.parse_args()
    procs = []
    for name, flags in RECIPES.items():
        cmd = [
            sys.executable,
            *("-m", "hfselect_core.pool_cli"),
            "--manifest",
            args.manifest,
            "--out",
            f"{args.out}/{name}",
            "--model-path",
            args.model_path,
            "--workers",
            "6",
            "--max-examples",
            str(args.max_examples),
            "--metrics",
            f"{args.out}/{name}.json",
            "--tasks",
            *TASKS,
            *flags,
        ]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL))
    for p in procs:
        p.wait()

    import numpy as np

    from hfselect_core import TargetDataset, compute_task_ranking, load_embedding_model, logme

    model = load_embedding_model(args.model_path)
    examples = json.loads((ROOT / "assets/examples/examples.json").read_text())
    report = {}
    for ex in examples:
        ds = TargetDataset.from_file(
            ROOT / "assets/examples" / ex["file"], ex["text_columns"], ex["label_column"], ex["task_type"]
        )
        base = logme(model.embed(ds.texts), ds.labels, ds.is_regression)
        report[ex["name"]] = {"base": base}
        for name in RECIPES:
            r = compute_task_ranking(ds, base_model=args.model_path, source=f"{args.out}/{name}")
            report[ex["name"]][name] = [(row.name, round(row.score, 4)) for row in r.rows]
        print(ex["name"], f"base={base:.4f}", flush=True)
        for name in RECIPES:
            print(f"  {name:22s}", " ".join(f"{n}:{s}" for n, s in report[ex["name"]][name]), flush=True)
    fits = {name: json.loads(Path(f"{args.out}/{name}.json").read_text())["tasks"] for name in RECIPES}
    for name, rows in fits.items():
        print(name, " ".join(f"{r['task']}:r2={r['r2']:.2f},loss={r['final_loss']:.2f}" for r in rows), flush=True)
    Path(f"{args.out}/report.json").write_text(json.dumps({"rankings": report, "fits": fits}, indent=1))
    print(np.__version__)


if __name__ == "__main__":
    main()
