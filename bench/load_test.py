"""Load test of the Gradio app (not a unit test): concurrent /rank calls on 127.0.0.1 only.

Starts ``app.demo`` in this process (HF_HUB_OFFLINE=1, bundled model and pool), then

1. one single-user /rank call (reference result, also warms the model cache);
2. ``--requests`` concurrent /rank calls (default 20): each result must equal the reference;
   records throughput, p50/p95 latency and peak RSS;
3. a burst of ``queue max_size + --excess`` calls with a small sample, to see how the queue limit
   rejects the excess.

Prints a Markdown table for bench/RESULTS.md. Usage::

    HF_HUB_OFFLINE=1 python -m bench.load_test [--requests 20] [--excess 10] [--queue-size 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def rss_kb(field: str = "VmRSS") -> int:
    """Resident memory of this process (server and clients live here); VmHWM is the peak."""
    try:
        import psutil  # type: ignore[import-not-found]

        if field == "VmRSS":
            return psutil.Process().memory_info().rss // 1024
    except ImportError:
        pass
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def rank_args(example: str, num_examples: int, pool: str, base_model: str) -> dict:
    """/rank inputs by API parameter name (the rank field table's names); the rest keep their defaults."""
    return {
        "source": "example",
        "example": example,
        "num_examples": num_examples,
        "pool": pool,
        "base_model": base_model,
    }


def table_of(result) -> list[tuple]:
    """(ESM, Score) rows of the ranking table in a /rank result."""
    table = result[2]
    if isinstance(table, dict):
        headers, rows = table.get("headers", []), table.get("data", [])
    else:  # a DataFrame, depending on the client version
        headers, rows = list(table.columns), table.values.tolist()
    esm, score = headers.index("ESM"), headers.index("Score")
    return [(row[esm], round(float(row[score]), 6)) for row in rows]


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def timed_call(client, args: dict) -> tuple[float, object, str | None]:
    started = time.perf_counter()
    try:
        result = client.predict(**args, api_name="/rank")
        return time.perf_counter() - started, result, None
    except Exception as e:  # noqa: BLE001 - rejections are what phase 3 measures
        return time.perf_counter() - started, None, f"{type(e).__name__}: {str(e)[:160]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--excess", type=int, default=10, help="calls beyond the queue size in the burst")
    parser.add_argument("--queue-size", type=int, default=20, help="HFSELECT_QUEUE_SIZE for the app")
    parser.add_argument("--example", default="product_reviews")
    parser.add_argument("--num-examples", type=int, default=1000)
    parser.add_argument("--burst-examples", type=int, default=20)
    parser.add_argument("--pool", default="bundled")
    parser.add_argument("--timeout", type=float, default=420.0, help="overall wall-clock bound in seconds")
    args = parser.parse_args()
    args.requests = max(1, min(args.requests, 100))
    args.excess = max(0, min(args.excess, 50))

    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HFSELECT_QUEUE_SIZE"] = str(args.queue_size)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    deadline = time.monotonic() + args.timeout

    t0 = time.perf_counter()
    from gradio_client import Client

    import app  # noqa: E402 - after the environment is set
    from hfselect_app.context import default_base_model
    from hfselect_core.hub import hub_reachable

    # No server_port: gradio takes the first free port from 7860 on.
    app.demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    startup_s = time.perf_counter() - t0
    client = Client(app.demo.local_url, verbose=False)
    queue_size = getattr(getattr(app.demo, "_queue", None), "max_size", None) or args.queue_size
    base_model = default_base_model(hub_reachable())
    rss_idle = rss_kb()

    # 1. single-user reference
    ref_s, ref, err = timed_call(client, rank_args(args.example, args.num_examples, args.pool, base_model))
    if err:
        print(f"single-user run failed: {err}")
        app.demo.close()
        return 1
    reference = table_of(ref)
    single_s, _, _ = timed_call(client, rank_args(args.example, args.num_examples, args.pool, base_model))

    # 2. concurrent requests
    call = rank_args(args.example, args.num_examples, args.pool, base_model)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.requests) as pool:
        results = list(pool.map(lambda _: timed_call(client, call), range(args.requests)))
    wall = time.perf_counter() - started
    latencies = [r[0] for r in results if r[2] is None]
    failures = [r[2] for r in results if r[2] is not None]
    mismatches = sum(1 for r in results if r[2] is None and table_of(r[1]) != reference)
    rss_after = rss_kb()

    # 3. burst over the queue limit
    burst_n = (queue_size or args.requests) + args.excess
    burst_rows: list[tuple[float, object, str | None]] = []
    if time.monotonic() < deadline:
        small = rank_args(args.example, args.burst_examples, args.pool, base_model)
        b_started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=burst_n) as pool:
            burst_rows = list(pool.map(lambda _: timed_call(client, small), range(burst_n)))
        burst_wall = time.perf_counter() - b_started
    else:
        burst_wall = float("nan")
    rejected = [r[2] for r in burst_rows if r[2] is not None]
    rejected_fast = [r[0] for r in burst_rows if r[2] is not None]
    peak = rss_kb("VmHWM")
    app.demo.close()

    ok = len(latencies)
    rows = [
        ("Machine", f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"),
        ("Setup", f"example `{args.example}`, {len(reference)} ESMs ({args.pool} pool), `{base_model}`"),
        ("Queue", f"max_size={queue_size} (HFSELECT_QUEUE_SIZE), concurrency_limit=2 (/rank)"),
        ("App start-up (import + launch)", f"{startup_s:.1f} s"),
        ("Single-user latency (cold / warm)", f"{ref_s:.2f} s / {single_s:.2f} s"),
        (f"{args.requests} concurrent requests: succeeded", f"{ok}/{args.requests}"),
        ("  results equal to the single-user run", f"{ok - mismatches}/{ok}"),
        ("  wall time", f"{wall:.1f} s"),
        ("  throughput", f"{ok / wall:.2f} rankings/s ({60 * ok / wall:.1f}/min)"),
        (
            "  latency p50 / p95 / max",
            f"{percentile(latencies, 0.5):.2f} / {percentile(latencies, 0.95):.2f} / "
            f"{max(latencies, default=float('nan')):.2f} s",
        ),
        ("RSS idle / after / peak (VmHWM)", f"{rss_idle / 1024:.0f} / {rss_after / 1024:.0f} / {peak / 1024:.0f} MiB"),
        (
            f"Burst of {burst_n} ({args.burst_examples} examples each)",
            f"{burst_n - len(rejected)} served, {len(rejected)} rejected, wall {burst_wall:.1f} s",
        ),
    ]
    if rejected:
        rows.append(("  rejection", f"{rejected[0]} (after {max(rejected_fast):.2f} s at most)"))
    if failures:
        rows.append(("  failures in the concurrent run", "; ".join(sorted(set(failures)))[:300]))
    print("\n| Measure | Value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0 if ok == args.requests and mismatches == 0 else 2


if __name__ == "__main__":
    sys.exit(main())
