"""Build an ESM pool: one ESM per task of a dataset list, on the Hub or on disk.

    python scripts/build_pool.py --manifest ../shared/datasets/manifest.json \
        --data-dir ../shared/datasets --out assets/esms/sentence-transformers__all-MiniLM-L6-v2

The manifest is a JSON object with a ``tasks`` list; each task has ``name``, ``hub_id`` (or null),
``subset``, ``text_columns``, ``label_column``, ``label_names`` (a list, or "regression"),
``license``, ``source`` and ``files.train`` (a parquet path relative to --data-dir). A task
without a local file is loaded from the Hub (needs network and ``datasets``).
Several ``--workers`` train tasks in parallel processes (useful on one GPU: a small model does
not fill it). Needs torch + transformers + pandas only for local data.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def task_notes(task: dict) -> str:
    sources = task.get("source") or []
    where = "; ".join(f"{s.get('repo')} ({s.get('path')}, commit {s.get('commit', '?')[:12]})" for s in sources)
    lines = []
    if task.get("hub_id"):
        lines.append(
            f"The task corresponds to the Hub dataset `{task['hub_id']}`"
            + (f" (subset `{task['subset']}`)." if task.get("subset") else ".")
        )
    else:
        lines.append(f"The task has no Hub dataset id; it is named `{task['name']}` here.")
    if where:
        lines.append(f"The copy of the data used for training came from: {where}.")
    if task.get("notes"):
        lines.append(f"Notes on the data: {task['notes']}")
    lines.append(
        f"Data license, as its source states it: {task.get('license', 'not stated')}. "
        "Several of these datasets are for research or non-commercial use only; the map's weights are "
        "released under Apache-2.0, the data keeps its own license."
    )
    return "\n\n".join(lines)


def load_task(task: dict, data_dir: Path, max_examples: int, seed: int):
    import pandas as pd

    from hfselect_core.data import CLASSIFICATION, REGRESSION, TargetDataset

    regression = task.get("label_names") == "regression"
    names = None if regression else task.get("label_names")
    train_file = (task.get("files") or {}).get("train")
    common = dict(
        text_columns=task["text_columns"],
        label_column=task.get("label_column", "label"),
        task_type=REGRESSION if regression else CLASSIFICATION,
        num_examples=max_examples,
        seed=seed,
    )
    if train_file and (data_dir / train_file).is_file():
        df = pd.read_parquet(data_dir / train_file)
        return TargetDataset.from_pandas(df, source=task.get("hub_id") or task["name"], label_names=names, **common)
    return TargetDataset.from_hub(task["hub_id"], split="train", subset=task.get("subset"), **common)


def train_tasks(args: argparse.Namespace, tasks: list[dict]) -> list[dict]:
    from hfselect_core.embedding import load_embedding_model
    from hfselect_core.training import TrainingSettings, train_esm

    base = load_embedding_model(args.model_path or args.base_model, device=args.device)
    base.model_id = args.base_model  # recorded in the configs even when loaded from a local copy
    settings = TrainingSettings(
        max_examples=args.max_examples,
        seed=args.seed,
        lm_num_epochs=args.epochs,
        lm_learning_rate=args.lr,
        head_learning_rate=args.head_lr or None,
    )
    metrics = []
    for task in tasks:
        started = time.perf_counter()
        dataset = load_task(task, Path(args.data_dir), args.max_examples, args.seed)
        result = train_esm(
            dataset,
            base,
            settings,
            output_dir=Path(args.out) / task["name"],
            task_id=task.get("hub_id") or task["name"],
            task_subset=task.get("subset"),
            task_split="train",
            language=task.get("language", "en"),
            developers=args.developers,
            card_notes=task_notes(task),
        )
        row = {
            "task": task["name"],
            "examples": len(dataset),
            "mse": result.fit.mse,
            "r2": result.fit.r2,
            "train_mse": result.fit.train_mse,
            "final_loss": float(sum(result.lm_losses[-50:]) / max(1, len(result.lm_losses[-50:]))),
            "seconds": time.perf_counter() - started,
            **{f"seconds_{k}": v for k, v in result.seconds.items()},
        }
        metrics.append(row)
        print(json.dumps(row), flush=True)
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--data-dir", default=None, help="root of the files named in the manifest")
    parser.add_argument("--out", required=True, help="pool folder: one ESM folder per task")
    parser.add_argument("--base-model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--model-path", default=None, help="local copy of the base model to load instead")
    parser.add_argument("--tasks", nargs="*", help="task names (default: all)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--workers", type=int, default=1, help="parallel training processes")
    parser.add_argument("--max-examples", type=int, default=10_000)
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--lr", type=float, default=2e-5, help="encoder learning rate")
    parser.add_argument("--head-lr", type=float, default=1e-3, help="head learning rate (0: same as --lr)")
    parser.add_argument("--developers", default="hfselect")
    parser.add_argument("--metrics", default=None, help="write per-task fit metrics (JSON) here")
    args = parser.parse_args(argv)
    manifest_path = Path(args.manifest)
    args.data_dir = args.data_dir or str(manifest_path.parent)
    tasks = json.loads(manifest_path.read_text())["tasks"]
    if args.tasks:
        tasks = [t for t in tasks if t["name"] in set(args.tasks)]
    started = time.perf_counter()
    if args.workers > 1 and len(tasks) > 1:
        # Longest tasks first, dealt round-robin, so the workers finish together.
        tasks.sort(key=lambda t: -(t.get("rows") or {}).get("train", 0))
        procs = []
        for w in range(args.workers):
            names = [t["name"] for t in tasks[w :: args.workers]]
            if not names:
                continue
            cmd = [
                sys.executable,
                __file__,
                "--manifest",
                args.manifest,
                "--data-dir",
                args.data_dir,
                "--out",
                args.out,
                "--base-model",
                args.base_model,
                "--max-examples",
                str(args.max_examples),
                "--epochs",
                str(args.epochs),
                "--seed",
                str(args.seed),
                "--developers",
                args.developers,
                "--lr",
                str(args.lr),
                "--head-lr",
                str(args.head_lr),
                "--metrics",
                f"{args.metrics or os.devnull}.part{w}",
                "--tasks",
                *names,
            ]
            if args.model_path:
                cmd += ["--model-path", args.model_path]
            if args.device:
                cmd += ["--device", args.device]
            procs.append(subprocess.Popen(cmd))
        codes = [p.wait() for p in procs]
        metrics = []
        for w in range(args.workers):
            part = Path(f"{args.metrics}.part{w}")
            if args.metrics and part.is_file():
                metrics.extend(json.loads(part.read_text())["tasks"])
                part.unlink()
        status = max(codes)
    else:
        metrics = train_tasks(args, tasks)
        status = 0
    if args.metrics:
        Path(args.metrics).write_text(
            json.dumps({"seconds_total": time.perf_counter() - started, "tasks": metrics}, indent=2)
        )
    print(f"built {len(metrics)} ESMs in {time.perf_counter() - started:.1f} s", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
