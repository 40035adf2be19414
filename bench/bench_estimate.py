"""Benchmark: the studio's training-time estimate against real studio runs (not a test).

Each run is the real pipeline, :func:`hfselect_core.studio.iter_studio_training`, with the bundled
``sentence-transformers/all-MiniLM-L6-v2`` on the CPU, the app's defaults (3 epochs, batch 32,
128 tokens, closed-form fit, self-check against the bundled pool), on a uniform sample of a real
dataset from ``/work/shared/datasets`` (the data is read, never copied into the project).

Per run it records the wall time of every stage (from the pipeline's own timers and from the
time its progress events arrive), the process CPU time, and the load average before and after, then
prints the estimate of :mod:`hfselect_core.estimate` beside the actual time.

* ``calibrate``: runs on the calibration sets (other datasets and sizes than the validation) and
  prints the per-unit costs measured in this process (what ``estimate._CPU`` holds).
* ``validate``: runs on the validation sets and prints the table estimate vs actual (the RESULTS table).

Run: ``.venv/bin/python bench/bench_estimate.py validate`` (``--runs emotion:100,emotion:300``,
``--json out.json``). The model cache is cleared before every run, so each run pays the model
load as a fresh request would.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Threads are fixed before numpy/torch load their BLAS/OpenMP pools: with one thread per pool the
# process CPU time is the work done, however many other jobs share the cores (no spin-waiting).
THREADS = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 1
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))
if "thread-cpu" in sys.argv:
    # Idle OpenMP workers sleep instead of spinning, so each thread's CPU time is its share of the work.
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from hfselect_core import embedding, embedding_cache, estimate  # noqa: E402
from hfselect_core.data import TargetDataset  # noqa: E402
from hfselect_core.embedding import BUNDLED_MODEL_ID  # noqa: E402
from hfselect_core.sources import BundledESMSource  # noqa: E402
from hfselect_core.studio import iter_studio_training  # noqa: E402
from hfselect_core.training import TrainingSettings  # noqa: E402

DATA = Path(os.environ.get("HFSELECT_SHARED_DATASETS", "/work/shared/datasets"))
CALIBRATION = "trec_coarse:200,ag_news:600"
VALIDATION = "emotion:100,emotion:300,emotion:1000"


def load_sample(name: str, n: int, seed: int = 0) -> TargetDataset:
    manifest = json.loads((DATA / "manifest.json").read_text())
    task = next(t for t in manifest["tasks"] if t["name"] == name)
    df = pd.read_parquet(DATA / name / "train.parquet")
    df = df.sample(n=n, random_state=seed)
    return TargetDataset.from_pandas(df, task["text_columns"], task["label_column"], source=f"bench/{name}")


def _stage_spans(events: list[tuple[str, int, int, str, float, float]]) -> dict[str, dict[str, float]]:
    """Wall and CPU seconds per stage, from the arrival of the pipeline's progress events.

    The first fine-tuning event arrives after ``k`` steps: the span before it holds the model load,
    the tokenisation and those k steps, which are moved to fine-tuning at the measured rate per step.
    """
    first: dict[str, int] = {}
    for i, (key, *_rest) in enumerate(events):
        first.setdefault(key, i)
    order = sorted(first, key=first.get)
    spans: dict[str, dict[str, float]] = {}
    for key, nxt in zip(order, order[1:] + [None]):
        i = first[key]
        j = first[nxt] if nxt else len(events) - 1
        spans[key] = {"wall": events[j][4] - events[i][4], "cpu": events[j][5] - events[i][5]}
    ft = [e for e in events if e[0] == "Fine-tuning"]
    if ft and "Loading base model" in spans:
        k, total = ft[0][1], ft[0][2]
        if total > k:
            for unit in ("wall", "cpu"):
                per_step = spans["Fine-tuning"][unit] / (total - k)
                spans["Fine-tuning"][unit] += per_step * k
                spans["Loading base model"][unit] -= per_step * k
    return spans


def timed_run(dataset: TargetDataset, settings: TrainingSettings) -> dict:
    """One studio run with a fresh model cache: wall and CPU seconds per stage, load average."""
    embedding._model_cache.clear()
    embedding_cache.default_cache().clear()
    load_before = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    events = []
    result = None
    with tempfile.TemporaryDirectory() as tmp:
        for event in iter_studio_training(dataset, BUNDLED_MODEL_ID, settings, device="cpu", workdir=tmp):
            key = f"Self-check/{event.message}" if event.stage == "Self-check" else event.stage
            events.append(
                (key, event.done, event.total, event.message, time.perf_counter() - t0, time.process_time() - c0)
            )
            if event.result is not None:
                result = event.result
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert result is not None
    return {
        "n": len(dataset),
        "wall": wall,
        "cpu": cpu,
        "seconds": dict(result.seconds),  # the pipeline's own wall timers
        "stages": _stage_spans(events),
        "steps": next((e[2] for e in events if e[0] == "Fine-tuning"), 0),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "threads": torch.get_num_threads(),
    }


def profile(dataset: TargetDataset, settings: TrainingSettings) -> estimate.TextProfile:
    return estimate.text_profile(dataset.texts, settings.lm_batch_size, settings.max_length)


def run_set(spec: str, settings: TrainingSettings, pool_size: int) -> list[dict]:
    rows = []
    for item in spec.split(","):
        name, n = item.split(":")
        dataset = load_sample(name, int(n))
        prof = profile(dataset, settings)
        est = estimate.estimate_studio_seconds(
            len(dataset),
            settings.lm_num_epochs,
            "cpu",
            profile=prof,
            batch_size=settings.lm_batch_size,
            pool_size=pool_size,
            threads=THREADS,
        )
        run = timed_run(dataset, settings)
        run.update(dataset=name, profile=prof.__dict__, estimate=est.total, estimate_parts=est.parts)
        rows.append(run)
        print(json.dumps(run), flush=True)
    return rows


def calibrate(rows: list[dict], settings: TrainingSettings) -> dict:
    """Per-unit single-thread CPU costs from two calibration runs of different text lengths.

    Fine-tuning = step_fixed x steps + per_token x padded tokens seen; embedding = embed_fixed +
    embed_per_token x tokens (both models): two runs, two unknowns each.
    """
    ft, emb, other = [], [], {"load": [], "fit": [], "self_check": []}
    for r in rows[:2]:
        dataset = load_sample(r["dataset"], r["n"])
        prof = profile(dataset, settings)
        st = r["stages"]
        steps = r["steps"]
        per_epoch = -(-r["n"] // settings.lm_batch_size)
        ft.append((steps, r["n"] * steps / per_epoch * prof.padded_tokens, st["Fine-tuning"]["cpu"]))
        emb.append((2 * r["n"] * prof.mean_tokens, st["Embedding"]["cpu"]))
        other["load"].append(st["Loading base model"]["cpu"])
        other["fit"].append(st["Fitting the map"]["cpu"] + st["Saving"]["cpu"])
        other["self_check"].append(sum(v["cpu"] for k, v in st.items() if k.startswith("Self-check")))
    (s1, t1, y1), (s2, t2, y2) = ft
    det = s1 * t2 - s2 * t1
    (e1, z1), (e2, z2) = emb
    per_token_embed = (z2 - z1) / (e2 - e1)
    return {
        "step_fixed": (y1 * t2 - y2 * t1) / det,
        "per_token": (s1 * y2 - s2 * y1) / det,
        "per_token_if_no_fixed_part": [y / tok for _, tok, y in ft],
        "embed_per_token": per_token_embed,
        "embed_fixed": z1 - per_token_embed * e1,
        **{k: v for k, v in other.items()},
    }


def speedup(spec: str, settings: TrainingSettings, wait_quiet: float) -> dict:
    """Wall time with 2 threads vs 1, per stage, alternating (1, 2, 1, 2) on one dataset; best of two each.

    Only meaningful on a quiet machine: waits up to ``wait_quiet`` seconds for a 1-minute load average below 1.2.
    """
    from threadpoolctl import threadpool_limits

    deadline = time.time() + wait_quiet
    while os.getloadavg()[0] >= 1.2 and time.time() < deadline:
        time.sleep(15)
    name, n = spec.split(":")
    dataset = load_sample(name, int(n))
    best: dict[int, dict] = {}
    for threads in (1, 2, 1, 2):
        torch.set_num_threads(threads)
        with threadpool_limits(limits=threads):
            run = timed_run(dataset, settings)
        print(json.dumps({"threads": threads, **run}), flush=True)
        if threads not in best or run["wall"] < best[threads]["wall"]:
            best[threads] = run
    stages = {
        k: best[1]["stages"][k]["wall"] / v["wall"]
        for k, v in best[2]["stages"].items()
        if k in best[1]["stages"] and v["wall"] > 0.5
    }
    return {"total": best[1]["wall"] / best[2]["wall"], "stages": stages}


def summarise(rows: list[dict], settings: TrainingSettings, pool_size: int) -> list[dict]:
    """Per run: the profile of its texts, the shipped estimate (one thread, and two) and what was measured."""
    out = []
    for r in rows:
        dataset = load_sample(r["dataset"], r["n"])
        prof = profile(dataset, settings)
        kw = dict(profile=prof, batch_size=settings.lm_batch_size, pool_size=pool_size)
        one = estimate.estimate_studio_seconds(r["n"], settings.lm_num_epochs, "cpu", threads=1, **kw)
        two = estimate.estimate_studio_seconds(r["n"], settings.lm_num_epochs, "cpu", threads=2, **kw)
        st = r["stages"]
        out.append(
            {
                "dataset": r["dataset"],
                "n": r["n"],
                "epochs": settings.lm_num_epochs,
                "pool_size": pool_size,
                "profile": {"mean_tokens": prof.mean_tokens, "padded_tokens": prof.padded_tokens},
                "threads": r["threads"],
                "actual_seconds": r["cpu"],  # process CPU time of the whole run, one thread
                "actual_parts": {
                    "load": st["Loading base model"]["cpu"],
                    "fine_tune": st["Fine-tuning"]["cpu"],
                    "embed": st["Embedding"]["cpu"],
                    "fit": st["Fitting the map"]["cpu"] + st["Saving"]["cpu"],
                    "self_check": sum(v["cpu"] for k, v in st.items() if k.startswith("Self-check")),
                },
                "estimate_one_thread": one.total,
                "estimate_parts_one_thread": one.parts,
                "estimate_two_threads": two.total,
                "wall": r["wall"],
                "load_average": [r["load_before"][0], r["load_after"][0]],
            }
        )
    return out


def _thread_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of every thread of this process, by thread id (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def thread_cpu_speedup(spec: str, settings: TrainingSettings) -> dict:
    """The two-thread speedup from CPU time alone, so a loaded machine does not distort it.

    With idle OpenMP workers sleeping (OMP_WAIT_POLICY=PASSIVE), the main thread runs the serial
    parts and its half of every parallel part: on a machine with two free cores the wall time is
    about the main thread's CPU time. Speedup = one-thread CPU time / that, per run (1, 2, 1, 2).
    """
    from threadpoolctl import threadpool_limits

    name, n = spec.split(":")
    dataset = load_sample(name, int(n))
    main = threading.get_native_id()
    result: dict[int, list] = {1: [], 2: []}
    for threads in (1, 2, 1, 2):
        torch.set_num_threads(threads)
        with threadpool_limits(limits=threads):
            before = _thread_cpu()
            run = timed_run(dataset, settings)
            after = _thread_cpu()
        main_cpu = after[main] - before.get(main, 0.0)
        others = sum(v - before.get(k, 0.0) for k, v in after.items() if k != main)
        row = {"threads": threads, "cpu": run["cpu"], "main_thread_cpu": main_cpu, "other_threads_cpu": others}
        row.update(wall=run["wall"], load=[run["load_before"][0], run["load_after"][0]])
        print(json.dumps(row), flush=True)
        result[threads].append(row)
    one = min(r["cpu"] for r in result[1])
    two_main = min(r["main_thread_cpu"] for r in result[2])
    return {"one_thread_cpu": one, "two_threads_main_cpu": two_main, "speedup": one / two_main}


def table(rows: list[dict]) -> str:
    lines = [
        "| data | rows | tokens: mean / padded | estimate (1 thread) | actual CPU time (1 thread) | error "
        "| fine-tuning est. / actual | wall under load (load avg) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        err = (r["estimate_one_thread"] - r["actual_seconds"]) / r["actual_seconds"]
        lines.append(
            f"| {r['dataset']} | {r['n']} | {r['profile']['mean_tokens']:.1f} / {r['profile']['padded_tokens']:.1f} "
            f"| {r['estimate_one_thread']:.0f} s | {r['actual_seconds']:.0f} s | {err:+.0%} "
            f"| {r['estimate_parts_one_thread']['fine_tune']:.0f} / {r['actual_parts']['fine_tune']:.0f} s "
            f"| {r['wall']:.0f} s ({r['load_average'][0]:.1f}-{r['load_average'][1]:.1f}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["calibrate", "validate", "speedup", "thread-cpu", "report"])
    parser.add_argument("--calibration-json", help="report: raw runs of calibrate --json")
    parser.add_argument("--validation-json", help="report: raw runs of validate --json")
    parser.add_argument("--out", help="report: write the summary (bench/estimate_runs.json) here")
    parser.add_argument("--wait-quiet", type=float, default=0, help="speedup: seconds to wait for a quiet machine")
    parser.add_argument("--runs", help=f"name:rows,... (defaults: calibrate {CALIBRATION}; validate {VALIDATION})")
    parser.add_argument("--json", help="write the raw runs here")
    parser.add_argument("--epochs", type=float, help="fine-tuning epochs (default: the app's)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: CPU time is the work, whatever the load)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    assert args.threads == THREADS
    settings = TrainingSettings()  # the app's defaults: 3 epochs, batch 32, 128 tokens
    if args.epochs:
        settings = dataclasses.replace(settings, lm_num_epochs=args.epochs)
    pool_size = len(BundledESMSource(BUNDLED_MODEL_ID).load(BUNDLED_MODEL_ID).esms)
    if args.mode == "thread-cpu":
        print(json.dumps(thread_cpu_speedup(args.runs or "trec_coarse:100", settings), indent=1))
        return
    if args.mode == "speedup":
        print(json.dumps(speedup(args.runs or "trec_coarse:100", settings, args.wait_quiet), indent=1))
        return
    if args.mode == "report":
        summary = {
            kind: summarise(json.loads(Path(path).read_text()), settings, pool_size)
            for kind, path in (("calibration", args.calibration_json), ("validation", args.validation_json))
        }
        for kind, rows in summary.items():
            print(f"\n{kind}:\n{table(rows)}")
        if args.out:
            Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
        return
    spec = args.runs or (CALIBRATION if args.mode == "calibrate" else VALIDATION)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, pool {pool_size} ESMs")
    rows = run_set(spec, settings, pool_size)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    if args.mode == "calibrate":
        print(json.dumps(calibrate(rows, settings), indent=1))
    print(table(summarise(rows, settings, pool_size)))


if __name__ == "__main__":
    main()
