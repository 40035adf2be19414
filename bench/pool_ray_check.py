"""Checks around the Ray pool build (bench/pool_ray_gpu.sh runs the first two on the GPU machine).

python -m bench.pool_ray_check determinism --data D --model M --ray-pool P --out det.json
    train one task twice in one process, as a Ray task does, and compare the two maps with each
    other and with the Ray-built one: is GPU training bitwise reproducible?
python -m bench.pool_ray_check bert --data D --model M --out bert.json
    time BERT-base ESMs (random weights from BertConfig(), the MiniLM tokenizer: same vocabulary)
    through the pool command with 2 ESMs per GPU, for the cost estimate in docs/POOL.md.
python -m bench.pool_ray_check compare --ray-pool P [--bundled B]
    rank the four bundled examples with the bundled pool and the Ray-built one (CPU, float32
    model) and compare the scores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _weights(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    from safetensors.numpy import load_file

    w = load_file(str(folder / "model.safetensors"))
    return w["model.weight"].astype(np.float64), w["model.bias"].astype(np.float64)


def _diff(a: Path, b: Path) -> float:
    (wa, ba), (wb, bb) = _weights(a), _weights(b)
    return float(max(np.abs(wa - wb).max(), np.abs(ba - bb).max()))


def determinism(args: argparse.Namespace) -> None:
    import dataclasses

    from hfselect_core.pool import PoolRecipe, base_model_revision, build_one_esm, load_task_manifest
    from hfselect_core.training import TrainingSettings

    tasks = {t.name: t for t in load_task_manifest(Path(args.data) / "manifest.json")}
    recipe = PoolRecipe(
        base_model="sentence-transformers/all-MiniLM-L6-v2",
        base_revision=base_model_revision("x", args.model),
        settings=dataclasses.asdict(TrainingSettings()),
        model_path=args.model,
    )
    out = {}
    for name in args.tasks:
        runs = []
        for i in range(2):
            folder = Path(tempfile.mkdtemp())
            t0 = time.perf_counter()
            build_one_esm(tasks[name], recipe, "check", "check", str(folder))
            runs.append((folder / name, time.perf_counter() - t0))
        row = {"same_process_max_abs_diff": _diff(runs[0][0], runs[1][0]), "seconds": [r[1] for r in runs]}
        if args.ray_pool and (Path(args.ray_pool) / name).is_dir():
            row["vs_ray_build_max_abs_diff"] = _diff(runs[0][0], Path(args.ray_pool) / name)
        out[name] = row
        print(name, row, flush=True)
    Path(args.out).write_text(json.dumps(out, indent=2))


def bert(args: argparse.Namespace) -> None:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = Path(tempfile.mkdtemp()) / "bert-base"
    torch.manual_seed(0)
    BertModel(BertConfig()).save_pretrained(folder)  # bert-base-uncased's shape: 12 x 768, 110M
    AutoTokenizer.from_pretrained(args.model).save_pretrained(folder)
    manifest = json.loads((Path(args.data) / "manifest.json").read_text())
    manifest["tasks"] = [t for t in manifest["tasks"] if t["name"] in args.tasks]
    mpath = Path(args.data) / "manifest_bert.json"
    mpath.write_text(json.dumps(manifest))
    out = Path(tempfile.mkdtemp()) / "pool"

    cmd = [
        sys.executable,
        *("-m", "hfselect_core.pool_cli"),
        *("--manifest", str(mpath), "--out", str(out), "--model-path", str(folder)),
        *("--base-model", "google-bert/bert-base-uncased", "--esms-per-gpu", str(args.esms_per_gpu)),
        *("--cpus-per-esm", "2", "--progress-every", "15"),
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=False)
    wall = time.perf_counter() - t0
    report = json.loads((out / "pool_report.json").read_text())
    rows = {
        e["name"]: {k: e.get(k) for k in ("examples", "seconds", "seconds_stages", "status")} for e in report["esms"]
    }
    result = {"esms_per_gpu": args.esms_per_gpu, "command_wall_s": wall, "pool_wall_s": report["wall_seconds"]}
    result["esms"] = rows
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=1))


def compare(args: argparse.Namespace) -> None:
    from hfselect_core.data import TargetDataset
    from hfselect_core.embedding import BUNDLED_MODEL_ID
    from hfselect_core.ranking import compute_task_ranking

    bundled = Path(args.bundled)
    ray_pool = Path(args.ray_pool)
    names = sorted(p.name for p in bundled.iterdir() if (p / "config.json").is_file())
    weight_diff = {n: _diff(bundled / n, ray_pool / n) for n in names if (ray_pool / n).is_dir()}
    examples = json.loads((ROOT / "assets" / "examples" / "examples.json").read_text())
    result = {"max_abs_weight_diff": max(weight_diff.values()), "weight_diff": weight_diff, "examples": {}}
    scratch = Path(tempfile.mkdtemp())
    for pool_name, pool in (("bundled", bundled), ("ray", ray_pool)):
        # Only the ESM folders: the Ray pool folder also holds its report and journal.
        (scratch / pool_name).mkdir()
        for n in names:
            shutil.copytree(pool / n, scratch / pool_name / n)
    for ex in examples:
        ds = TargetDataset.from_file(
            ROOT / "assets" / "examples" / ex["file"], ex["text_columns"], ex["label_column"], ex["task_type"], 1000
        )
        scores = {}
        for pool_name in ("bundled", "ray"):
            ranking = compute_task_ranking(ds, base_model=BUNDLED_MODEL_ID, source=str(scratch / pool_name))
            scores[pool_name] = {r.name: r.score for r in ranking}
        a, b = scores["bundled"], scores["ray"]
        common = sorted(set(a) & set(b))
        diffs = np.array([abs(a[k] - b[k]) for k in common])
        rel = np.array([abs(a[k] - b[k]) / max(abs(a[k]), 1e-12) for k in common])
        pairs = [(i, j) for n, i in enumerate(common) for j in common[n + 1 :]]
        swapped = [(i, j) for i, j in pairs if (a[i] - a[j]) * (b[i] - b[j]) < 0]
        top_a = sorted(common, key=lambda k: -a[k])[:5]
        top_b = sorted(common, key=lambda k: -b[k])[:5]
        result["examples"][ex["name"]] = {
            "esms": len(common),
            "max_abs_score_diff": float(diffs.max()),
            "max_rel_score_diff": float(rel.max()),
            "within_1e-6": bool(rel.max() <= 1e-6),
            "top5_bundled": top_a,
            "top5_ray": top_b,
            "same_order": sorted(common, key=lambda k: -a[k]) == sorted(common, key=lambda k: -b[k]),
            "kendall_tau": 1 - 2 * len(swapped) / len(pairs),
            "swapped_pairs": [[i, j, a[i] - a[j]] for i, j in swapped],
        }
        print(ex["name"], json.dumps(result["examples"][ex["name"]]), flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("determinism")
    d.add_argument("--data", required=True)
    d.add_argument("--model", required=True)
    d.add_argument("--ray-pool", default=None)
    d.add_argument("--tasks", nargs="+", default=["wnli"])
    d.add_argument("--out", required=True)
    b = sub.add_parser("bert")
    b.add_argument("--data", required=True)
    b.add_argument("--model", required=True)
    b.add_argument("--tasks", nargs="+", default=["sst2", "ag_news", "trec_coarse", "mrpc"])
    b.add_argument("--esms-per-gpu", type=float, default=2)
    b.add_argument("--out", required=True)
    c = sub.add_parser("compare")
    c.add_argument("--ray-pool", required=True)
    c.add_argument("--bundled", default=str(ROOT / "assets" / "esms" / "sentence-transformers__all-MiniLM-L6-v2"))
    c.add_argument("--out", default=None)
    args = parser.parse_args()
    {"determinism": determinism, "bert": bert, "compare": compare}[args.cmd](args)


if __name__ == "__main__":
    main()
