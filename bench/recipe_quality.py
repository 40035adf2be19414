"""Which ESM recipe ranks best? Train the whole pool with a recipe on the GPU machine, fit the maps
several ways, and score every candidate on the quality benchmark's samples.

Here (prepares compact inputs under .gpu/, which git ignores, for the GPU machine):

    .venv/bin/python -m bench.recipe_quality prepare

On the GPU machine (results under --out; files small enough to come back):

    python3 -m bench.recipe_quality run --recipe linear --workers 13 --fits mix-r0.1-zero --out $OUT

Back here, score a returned pool with the benchmark (any scoring):

    .venv/bin/python -m bench.quality --pool /path/maps_linear_mix-r0.1-zero.npz

What one run measures, per source task of the pool:

* the fine-tuned encoder's own LogME on the target samples ("oracle": what a perfect map would
  give, and what the transfer file's reference measures for its own fine-tuning recipe);
* for each map fit (fitting texts: the task's own, or those plus a mix of texts from the
  pool's other tasks, never the 8 evaluation targets; ridge strength; ridge toward zero or toward
  the identity; the fine-tuned embedding as the product pools it or before normalisation):
  held-out R^2 on the task's pairs, R^2 on the target texts (how well the map predicts the
  fine-tuned model on texts unlike its task), and on every benchmark sample the product's score
  (LogME of the mapped base embeddings, AffineLogME) and the "+unit" candidate (LogME of the
  mapped embeddings scaled back to unit length, logme.unit_logme_many).

The samples are the ones ``bench/quality.py`` cuts (same shuffle, same disjoint chunks), so the
figures are comparable with a ranking of the bundled pool.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

GPU_DIR = ROOT / ".gpu"
RECIPES = {
    # Today's bundled pool: cosine head (unit embedding x learned scale), head lr 1e-3.
    "cosine": {"head": "cosine", "head_learning_rate": 1e-3},
    # A plain linear head on the mean-pooled embedding, one learning rate for everything.
    "linear": {"head": "linear", "head_learning_rate": None},
}
# (fitting texts, relative ridge, ridge toward, what the map predicts). The map's target is the
# fine-tuned model's embedding as the product pools it ("unit": normalised, for MiniLM), or its
# mean-pooled embedding before normalisation ("raw": what the transfer file's reference scores).
FITS = [
    ("task", 1e-6, "zero", "unit"),  # the first bundled pool's fit
    ("mix", 1e-2, "zero", "unit"),
    ("mix", 1e-1, "zero", "unit"),  # the second bundled pool's fit
    ("mix", 1.0, "zero", "unit"),
    ("task", 1e-6, "zero", "raw"),
    ("mix", 1e-2, "zero", "raw"),
    ("mix", 1e-1, "zero", "raw"),
    ("mix", 1.0, "zero", "raw"),
]
# Scores of each map: "" = the product's LogME of the mapped embeddings (AffineLogME); "+unit" =
# LogME of the mapped embeddings scaled back to unit length (logme.unit_logme_many).
UNIT_SCORING = "+unit"
MIX_PER_TASK = 150
ORACLE_TEXTS = 1000  # target texts embedded with every fine-tuned model


def fit_name(corpus: str, ridge: float, toward: str, target: str = "unit") -> str:
    return ("raw-" if target == "raw" else "") + f"{corpus}-r{ridge:g}-{toward}"


def map_name(variant: str) -> str:
    """The map a scored variant uses (a unit-length scoring shares its fit's map)."""
    return variant.removesuffix(UNIT_SCORING)


# --- here: compact inputs -----------------------------------------------------------------------


def prepare(args: argparse.Namespace) -> None:
    """Model (float16, unused vocabulary rows zeroed), token-truncated data, benchmark samples."""
    import pandas as pd
    import torch
    from safetensors.torch import load_file, save
    from transformers import AutoTokenizer

    from bench import quality
    from hfselect_core.embedding import BUNDLED_MODEL_ID, resolve_model_path

    out = Path(args.gpu_dir)
    data_dir = Path(args.data_dir)
    manifest = json.loads((data_dir / "manifest.json").read_text())
    transfer = json.loads((Path(args.quality_dir) / "transfer_minilm_dev.json").read_text())
    targets = list(transfer["perf"])
    model_path = Path(resolve_model_path(BUNDLED_MODEL_ID))
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    used: set[int] = set()

    def cut(texts: list[str]) -> list[str]:
        """Each text cut after its 128th token: the model never reads further."""
        enc = tokenizer(texts, truncation=True, max_length=128, return_offsets_mapping=True)
        kept = []
        for text, ids, offsets in zip(texts, enc["input_ids"], enc["offset_mapping"]):
            used.update(ids)
            end = max((e for _, e in offsets), default=0)
            kept.append(text[:end])
        return kept

    (out / "data").mkdir(parents=True, exist_ok=True)
    for task in manifest["tasks"]:
        df = pd.read_parquet(data_dir / task["files"]["train"])
        for col in task["text_columns"]:
            df[col] = cut(df[col].fillna("").astype(str).tolist())
        (out / "data" / task["name"]).mkdir(exist_ok=True)
        df.to_parquet(out / "data" / task["files"]["train"], compression="zstd", index=False)
    tasks = [
        {k: v for k, v in t.items() if k != "files"} | {"files": {"train": t["files"]["train"]}}
        for t in manifest["tasks"]
    ]
    (out / "data" / "manifest.json").write_text(json.dumps({"tasks": tasks}))

    # The benchmark's samples (the same shuffle and chunks as bench/quality.py).
    samples = {}
    for target in targets:
        task = next(t for t in manifest["tasks"] if t["name"] == target)
        full = quality.target_dataset(task, data_dir)
        order = np.random.default_rng(args.seed).permutation(len(full))
        needed = min(len(full), max(args.sizes) * args.samples)
        chosen = quality.subset(full, order[:needed])
        samples[target] = {
            "texts": cut(chosen.texts),
            "labels": chosen.labels.tolist(),
            "regression": chosen.is_regression,
        }
    # Texts from outside the evaluation targets for the "mix" map fits.
    rng = np.random.default_rng(args.seed)
    mix = []
    for task in manifest["tasks"]:
        if task["name"] in targets:
            continue
        df = pd.read_parquet(data_dir / task["files"]["train"])
        texts = df[task["text_columns"]].fillna("").astype(str).agg(" [SEP] ".join, axis=1).tolist()
        pick = rng.choice(len(texts), min(MIX_PER_TASK, len(texts)), replace=False)
        mix.extend(cut([texts[i] for i in sorted(pick)]))
    bench = {
        "sizes": args.sizes,
        "samples": args.samples,
        "seed": args.seed,
        "targets": samples,
        "mix": mix,
        "perf": transfer["perf"],
        "reference_logme": transfer["logme"],
    }
    with gzip.open(out / "bench.json.gz", "wt") as f:
        json.dump(bench, f)
    (out / "evaluate.py").write_bytes((Path(args.quality_dir) / "evaluate.py").read_bytes())

    # The base model in float16 (loaded back in float32); vocabulary rows no carried text uses are
    # zeroed, which changes nothing for these texts and lets the file compress.
    (out / "model").mkdir(exist_ok=True)
    for item in model_path.iterdir():
        if item.is_file() and item.name != "model.safetensors":
            (out / "model" / item.name).write_bytes(item.read_bytes())
        elif item.is_dir():
            (out / "model" / item.name).mkdir(exist_ok=True)
            for sub in item.iterdir():
                (out / "model" / item.name / sub.name).write_bytes(sub.read_bytes())
    tokens = tokenizer(" [SEP] ", add_special_tokens=True)["input_ids"]
    used.update(tokens)
    used.update(tokenizer.all_special_ids)
    weights = load_file(model_path / "model.safetensors")
    key = next(k for k in weights if k.endswith("word_embeddings.weight"))
    keep = torch.zeros(weights[key].shape[0], dtype=torch.bool)
    keep[sorted(used)] = True
    weights[key] = weights[key] * keep[:, None]
    blob = save({k: v.half().contiguous() for k, v in weights.items()})
    with gzip.open(out / "model" / "model.safetensors.gz", "wb", compresslevel=6) as f:
        f.write(blob)
    print(f"vocabulary rows kept: {int(keep.sum())} of {len(keep)}")
    for path in sorted(out.rglob("*")):
        if path.is_file() and path.stat().st_size > 1_000_000:
            print(f"{path.relative_to(out)}: {path.stat().st_size / 1e6:.1f} MB")


# --- the GPU machine -----------------------------------------------------------------------------


def load_bench(gpu_dir: Path, smoke: bool = False) -> dict:
    with gzip.open(gpu_dir / "bench.json.gz", "rt") as f:
        bench = json.load(f)
    if smoke:
        # A check of the whole path on a CPU in minutes: 2 targets, 500 texts each, a small mix.
        bench["targets"] = {
            t: {**d, "texts": d["texts"][:500], "labels": d["labels"][:500]}
            for t, d in list(bench["targets"].items())[:2]
        }
        bench["mix"] = bench["mix"][:200]
    return bench


def chunks(bench: dict, target: str) -> list[tuple[int, int, slice]]:
    """(size, k, rows) of every disjoint sample of a target, as bench/quality.py cuts them."""
    n = len(bench["targets"][target]["texts"])
    out = []
    for size in bench["sizes"]:
        for k in range(min(bench["samples"], n // size)):
            out.append((size, k, slice(k * size, (k + 1) * size)))
    return out


def load_model(gpu_dir: Path, device: str):
    model_dir = gpu_dir / "model"
    if not (model_dir / "model.safetensors").is_file():
        # Unpacked outside the carried folder, once per machine (later calls need not carry it).
        unpacked = Path("/tmp/recipe_quality_model")
        if not (unpacked / "model.safetensors").is_file():
            shutil.copytree(model_dir, unpacked, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.gz"))
            with gzip.open(model_dir / "model.safetensors.gz", "rb") as f:
                (unpacked / "model.safetensors.part").write_bytes(f.read())
            (unpacked / "model.safetensors.part").rename(unpacked / "model.safetensors")
        model_dir = unpacked
    from hfselect_core.embedding import BUNDLED_MODEL_ID, load_embedding_model

    model = load_embedding_model(str(model_dir), device=device)
    model.model_id = BUNDLED_MODEL_ID
    return model


def run_main(args: argparse.Namespace) -> None:
    """Embed the shared inputs once, train the tasks in parallel workers, gather the results."""
    started = time.perf_counter()
    gpu_dir = Path(args.gpu_dir)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    bench = load_bench(gpu_dir, args.smoke)
    shared_embeddings(args, bench)
    print(f"shared embeddings: {time.perf_counter() - started:.0f} s", flush=True)

    manifest = json.loads((gpu_dir / "data" / "manifest.json").read_text())
    tasks = sorted(manifest["tasks"], key=lambda t: -(t.get("rows") or {}).get("train", 0))
    names = [t["name"] for t in tasks]
    if args.tasks:
        names = [n for n in names if n in set(args.tasks)]
    procs = []
    for w in range(args.workers):
        mine = names[w :: args.workers]
        if mine:
            cmd = [sys.executable, "-m", "bench.recipe_quality", "worker", "--recipe", args.recipe, "--work", str(work)]
            cmd += ["--gpu-dir", str(gpu_dir), "--device", args.device, "--tasks", *mine]
            cmd += ["--smoke"] if args.smoke else []
            cmd += ["--fits", *args.fits] if args.fits else []
            cmd += [] if args.oracle else ["--no-oracle"]
            cmd += [] if args.unit_scoring else ["--no-unit-scoring"]
            # Several workers share the machine's cores: keep each one's math libraries to a few threads.
            env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}
            env["HFSELECT_EMBEDDING_CACHE_MB"] = "0"  # every text is embedded once per model here
            procs.append(subprocess.Popen(cmd, env=env, cwd=ROOT))
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=max(1.0, args.deadline - (time.perf_counter() - started))))
        except subprocess.TimeoutExpired:
            # Out of time: keep what finished, so the call still returns results.
            p.kill()
            codes.append("killed")
    print(f"workers done {codes}: {time.perf_counter() - started:.0f} s", flush=True)
    gather(args, bench, names, started)


def shared_embeddings(args: argparse.Namespace, bench: dict) -> None:
    """Base-model embeddings of the benchmark samples and the mix texts, once per machine."""
    import torch

    path = Path(args.work) / "shared.npz"
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    model = load_model(Path(args.gpu_dir), args.device)
    shared = {f"target_{t}": model.embed(d["texts"], 256) for t, d in bench["targets"].items()}
    shared["mix"] = model.embed(bench["mix"], 256)
    np.savez(path, **shared)
    del model
    torch.cuda.empty_cache()


def worker(args: argparse.Namespace) -> None:
    import dataclasses

    import torch

    from hfselect_core.logme import AffineLogME, logme, unit_logme_many
    from hfselect_core.pool import load_task_dataset, load_task_manifest
    from hfselect_core.training import (
        FitReport,
        TrainingSettings,
        esm_config,
        fine_tune_encoder,
        fit_esm_map,
        map_quality,
    )

    gpu_dir = Path(args.gpu_dir)
    bench = load_bench(gpu_dir, args.smoke)
    shared = dict(np.load(Path(args.work) / "shared.npz"))
    work = Path(args.work) / args.recipe
    work.mkdir(parents=True, exist_ok=True)
    base = load_model(gpu_dir, args.device)
    recipe = RECIPES[args.recipe] | ({"max_examples": 200, "lm_num_epochs": 1} if args.smoke else {})
    settings = TrainingSettings(**recipe)
    manifest = {t.name: t for t in load_task_manifest(gpu_dir / "data" / "manifest.json")}
    # One scorer per benchmark sample, built once: every map of every task is scored against it.
    scorers = {}
    for target, data in bench["targets"].items():
        labels = np.asarray(data["labels"])
        for size, k, rows in chunks(bench, target):
            x = shared[f"target_{target}"][rows]
            scorers[(target, size, k)] = (
                AffineLogME(x, labels[rows], data["regression"], device=args.device),
                (x, labels[rows], data["regression"]),
            )
    for name in args.tasks:
        t0 = time.perf_counter()
        task = manifest[name]
        dataset = load_task_dataset(task, settings.max_examples, settings.seed)
        tuned, losses = fine_tune_encoder(base, dataset, settings)
        t_tune = time.perf_counter() - t0
        base_emb = base.embed(dataset.texts, 256)
        # The fine-tuned encoder pooled without the final normalisation; "unit" = normalised here.
        tuned_raw = dataclasses.replace(tuned, pooling=tuned.pooling.removesuffix("+normalize"))
        normalises = tuned_raw.pooling != tuned.pooling

        def embed_both(texts: list[str], model=tuned_raw) -> dict[str, np.ndarray]:
            raw = model.embed(texts, 256, use_cache=False).astype(np.float32)
            unit = raw / np.linalg.norm(raw, axis=1, keepdims=True).clip(1e-12) if normalises else raw
            return {"raw": raw, "unit": unit}

        tuned_emb = embed_both(dataset.texts)
        if np.abs(tuned_emb["unit"] - base_emb).max() < 1e-6:
            raise RuntimeError(f"{name}: the fine-tuned model's embeddings equal the base model's")
        mix_tuned = embed_both(bench["mix"])
        oracle_base, oracle_tuned = [], {"raw": [], "unit": []}
        oracle = {"oracle": {}, "oracle_raw": {}}
        for target, data in bench["targets"].items():
            tuned_target = embed_both(data["texts"][:ORACLE_TEXTS])
            oracle_base.append(shared[f"target_{target}"][:ORACLE_TEXTS])
            labels = np.asarray(data["labels"])
            for kind, key in (("unit", "oracle"), ("raw", "oracle_raw")):
                oracle_tuned[kind].append(tuned_target[kind])
                oracle[key][target] = {}
                for size, k, rows in chunks(bench, target) if args.oracle else []:
                    if rows.stop <= len(tuned_target[kind]):
                        oracle[key][target].setdefault(str(size), []).append(
                            logme(tuned_target[kind][rows], labels[rows], data["regression"])
                        )
        if not args.oracle:
            oracle = {}
        del tuned, tuned_raw, embed_both
        torch.cuda.empty_cache()
        t_embed = time.perf_counter() - t0 - t_tune
        ood_base = np.concatenate(oracle_base)
        ood_tuned = {kind: np.concatenate(v) for kind, v in oracle_tuned.items()}
        fits, maps = {}, {}
        for corpus, ridge, toward, kind in FITS:
            if args.fits and fit_name(corpus, ridge, toward, kind) not in args.fits:
                continue
            fs = TrainingSettings(**recipe, ridge=ridge, ridge_toward=toward)
            extra = (shared["mix"], mix_tuned[kind]) if corpus == "mix" else None
            w, b, report = fit_esm_map(base_emb, tuned_emb[kind], fs, "cpu", extra)
            _, r2_targets = map_quality(w, b, ood_base, ood_tuned[kind])
            variant = fit_name(corpus, ridge, toward, kind)
            maps[variant] = (w.astype(np.float32), b.astype(np.float32))
            fits[variant] = {"mse": report.mse, "r2": report.r2, "r2_targets": r2_targets}
        names = list(maps)
        stack_w = np.stack([maps[v][0] for v in names])
        stack_b = np.stack([maps[v][1] for v in names])
        suffixes = ("", UNIT_SCORING) if args.unit_scoring else ("",)
        scores = {v + suffix: {} for suffix in suffixes for v in names}
        for (target, size, _k), (scorer, (x, labels, regression)) in scorers.items():
            values = scorer.score(stack_w, stack_b)
            for v, value in zip(names, values):
                scores[v].setdefault(target, {}).setdefault(str(size), []).append(float(value))
            if args.unit_scoring:
                unit = unit_logme_many(x, labels, regression, stack_w, stack_b, device=args.device)
                for v, value in zip(names, unit):
                    scores[v + UNIT_SCORING].setdefault(target, {}).setdefault(str(size), []).append(float(value))
        first = fits.get(fit_name("task", 1e-6, "zero")) or next(iter(fits.values()))
        report_stub = FitReport(first["mse"], first["r2"], float("nan"), 0, 0, "closed_form")
        config = esm_config(
            dataset,
            base.model_id,
            base,
            settings,
            report_stub,
            task_id=task.task_id,
            task_subset=task.subset,
            task_split=task.split,
            language=task.language,
            developers="hfselect",
        )
        np.savez(
            work / f"maps_{name}.npz",
            **{f"{v}__w": m[0] for v, m in maps.items()},
            **{f"{v}__b": m[1] for v, m in maps.items()},
        )
        result = {
            "task": name,
            "examples": len(dataset),
            "final_loss": float(np.mean(losses[-50:])),
            "seconds": {"fine_tune": t_tune, "embed": t_embed, "total": time.perf_counter() - t0},
            "fits": fits,
            "oracle": oracle,
            "scores": scores,
            "config": config.to_dict(),
        }
        (work / f"result_{name}.json").write_text(json.dumps(result))
        print(json.dumps({"task": name, "seconds": result["seconds"], "loss": result["final_loss"]}), flush=True)


def gather(args: argparse.Namespace, bench: dict, names: list[str], started: float) -> None:
    """One results file, the quality table of every fit, and the maps of the best fits (float16)."""
    from bench import quality

    yardstick = quality.load_yardstick(Path(args.gpu_dir))

    work = Path(args.work) / args.recipe
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {
        n: json.loads((work / f"result_{n}.json").read_text()) for n in names if (work / f"result_{n}.json").is_file()
    }
    first = next(iter(results.values()))
    variants = [*first["oracle"], *first["scores"]]
    tables = {}
    for variant in variants:
        rows, taus = [], []
        for target in bench["targets"]:
            for size, k, rows_ in chunks(bench, target):
                by_source = {}
                for n, r in results.items():
                    values = (r["oracle"].get(variant) or r["scores"][variant])[target].get(str(size), [])
                    if k < len(values):
                        by_source[n] = values[k]
                if len(by_source) == len(results):
                    row = yardstick.evaluate(by_source, bench["perf"][target], target)
                    row.update(target=target, size=size, k=k, scores=by_source)
                    rows.append(row)
            for size in bench["sizes"]:
                got = [r for r in rows if r["target"] == target and r["size"] == size]
                keep = [n for n in results if n not in (target, "base")]
                for a in range(len(got)):
                    for b in range(a + 1, len(got)):
                        va = np.array([got[a]["scores"][n] for n in keep])
                        vb = np.array([got[b]["scores"][n] for n in keep])
                        taus.append(quality.kendall_tau(va, vb))
        table = quality.summarise(rows, quality.METRICS) | {"tau": float(np.nanmean(taus)) if taus else float("nan")}
        table["samples"] = len(rows)
        tables[variant] = table
        print(
            f"{args.recipe:8s} {variant:24s} "
            + " ".join(f"{table[k]:8.2f}" for k in quality.METRICS)
            + f" {table['tau']:6.3f} ({len(rows)})",
            flush=True,
        )
    fit_summary = {
        v: {key: float(np.median([r["fits"][v][key] for r in results.values()])) for key in ("r2", "r2_targets")}
        for v in first["fits"]
    }
    (out / f"results_{args.recipe}.json").write_text(
        json.dumps(
            {
                "recipe": args.recipe,
                "tables": tables,
                "fit_medians": fit_summary,
                "tasks": results,
                "seconds": time.perf_counter() - started,
            }
        )
    )
    # Maps of the best fits by regret@5 and NDCG (over both scorings), each map once.
    ranked = sorted(first["scores"], key=lambda v: tables[v]["regret@5"] - tables[v]["ndcg"] / 10)
    keep = list(dict.fromkeys(map_name(v) for v in ranked))[: args.return_maps]
    if args.maps:
        # The same fits as an earlier run's (a pool trained over several calls).
        keep = args.maps
    for variant in keep:
        arrays = {}
        for n in results:
            m = np.load(work / f"maps_{n}.npz")
            arrays[f"{n}__w"] = m[f"{variant}__w"].astype(np.float16)
            arrays[f"{n}__b"] = m[f"{variant}__b"].astype(np.float32)
        np.savez(out / f"maps_{args.recipe}_{variant}.npz", **arrays)
    print(f"total {time.perf_counter() - started:.0f} s", flush=True)


def write_pool(args: argparse.Namespace) -> None:
    """ESM folders (config, weights, card) of one fit variant of a run, from its returned maps."""
    from hfselect_core.esm import ESM, ESMConfig
    from hfselect_core.pool import load_task_manifest, task_card_notes
    from hfselect_core.training import FitReport, save_esm_folder

    results = json.loads(Path(args.results).read_text())
    maps = np.load(args.maps)
    variant = map_name(args.variant)
    corpus, ridge, toward, kind = next(f for f in FITS if fit_name(*f) == variant)
    bench = load_bench(Path(args.gpu_dir))
    tasks = {t.name: t for t in load_task_manifest(Path(args.data_dir) / "manifest.json")}
    out = Path(args.out)
    for name, result in sorted(results["tasks"].items()):
        fit = result["fits"][variant]
        config = ESMConfig.from_dict(result["config"])
        config.extra.update(
            {
                "esm_mse": fit["mse"],
                "esm_r2": fit["r2"],
                "esm_ridge": ridge,
                "esm_ridge_toward": toward,
                "esm_num_fit_texts_outside_task": len(bench["mix"]) if corpus == "mix" else 0,
            }
        )
        if kind == "raw":
            # The map predicts the fine-tuned model's mean-pooled embedding before normalisation.
            config.extra["esm_target_pooling"] = config.pooling.removesuffix("+normalize")
        weight = maps[f"{name}__w"].astype(np.float32)
        esm = ESM.from_weights(weight, maps[f"{name}__b"].astype(np.float32), config=config, name=config.task_id)
        report = FitReport(fit["mse"], fit["r2"], float("nan"), 0, 0, "closed_form")
        save_esm_folder(esm, out / name, report, task_card_notes(tasks[name]))
    print(f"wrote {len(results['tasks'])} ESMs to {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--gpu-dir", default=str(GPU_DIR))
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "datasets"))
    p.add_argument("--quality-dir", default=str(ROOT.parent / "shared" / "quality"))
    p.add_argument("--sizes", nargs="+", type=int, default=[250, 500, 1000])
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    for name in ("setup", "run", "worker"):
        p = sub.add_parser(name)
        p.add_argument("--recipe", choices=sorted(RECIPES), default="cosine")
        p.add_argument("--gpu-dir", default=str(GPU_DIR))
        p.add_argument("--work", default="/tmp/recipe_quality")
        p.add_argument("--tasks", nargs="*")
        p.add_argument("--workers", type=int, default=7)
        p.add_argument("--out", default="/tmp/recipe_quality_out")
        p.add_argument("--return-maps", type=int, default=4)
        p.add_argument("--fits", nargs="*", help="fit only these (names as fit_name; default: all of FITS)")
        p.add_argument("--no-oracle", dest="oracle", action="store_false", help="skip the fine-tuned models' LogME")
        p.add_argument("--no-unit-scoring", dest="unit_scoring", action="store_false")
        p.add_argument("--maps", nargs="*", help="fits whose maps come back (default: the best --return-maps)")
        p.add_argument("--device", default="cuda")
        p.add_argument("--deadline", type=float, default=1e9, help="seconds before unfinished workers are stopped")
        p.add_argument("--smoke", action="store_true", help="a tiny CPU check of the whole path")
    p = sub.add_parser("write-pool")
    p.add_argument("--results", required=True, help="results_<recipe>.json of a run")
    p.add_argument("--maps", required=True, help="maps_<recipe>_<variant>.npz of that run")
    p.add_argument("--variant", required=True)
    p.add_argument("--gpu-dir", default=str(GPU_DIR))
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "datasets"))
    p.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.command == "write-pool":
        write_pool(args)
    elif args.command == "prepare":
        prepare(args)
    elif args.command == "setup":
        # Unpack the model and embed the shared inputs; a later call (without the model) runs.
        started = time.perf_counter()
        if (Path(args.gpu_dir) / "bench.json.gz").is_file():
            shared_embeddings(args, load_bench(Path(args.gpu_dir), args.smoke))
        else:
            load_model(Path(args.gpu_dir), args.device)
        import pandas
        import scipy
        import torch
        import transformers

        print(
            f"setup {time.perf_counter() - started:.0f} s; torch {torch.__version__}, transformers "
            f"{transformers.__version__}, pandas {pandas.__version__}, scipy {scipy.__version__}, "
            f"{torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}"
        )
    elif args.command == "run":
        run_main(args)
    else:
        worker(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
