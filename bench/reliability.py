"""Reliability figures for bench/RESULTS.md (issue 10): peak memory per resource bomb, load held.

    PYTHONPATH=tests .venv/bin/python -m bench.reliability            # both parts, Markdown tables on stdout
    PYTHONPATH=tests .venv/bin/python -m bench.reliability --bombs    # only the bombs
    PYTHONPATH=tests .venv/bin/python -m bench.reliability --load     # only the simultaneous-arrival test

(from the repository root; tests/ on the path for the tests' helpers that this reuses). Bombs run
in a subprocess with the real bundled MiniLM under RLIMIT_AS = 6 GiB
(tests/core/resource_bomb_driver.py); peak memory is the growth of VmHWM over the RSS before each
bomb. The load part launches the app and sends N /rank joins at the same instant (a barrier),
from distinct sessions and then from one session, and counts what was admitted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

BOMBS = [
    "control_ranking",
    "parquet_3gb",
    "parquet_10gb",
    "studio_batch_1e9",
    "studio_batch_max",
    "labels_10000",
    "csv_300k_columns",
    "special_file_esms",
]


def _test_module(relative: str):
    """A test module of tests/ loaded from its file (the tests are not a package)."""
    import importlib.util

    path = ROOT / "tests" / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_bombs() -> list[dict]:
    t = _test_module("core/test_resource_bombs.py")

    work = Path(tempfile.mkdtemp(prefix="hfselect_bombs_"))
    try:
        t._dictionary_parquet(work / "dict_3gb.parquet", 1_000_000, 3_000)
        t._dictionary_parquet(work / "dict_10gb.parquet", 1_000_000, 10_000)
        (work / "wide.csv").write_text(",".join(f"c{i}" for i in range(300_000)) + "\n" + "1," * 299_999 + "1\n")
        t._special_pool(work / "special_pool")
        (work / "real_pool").mkdir()
        for source in sorted(t.POOL.iterdir())[:3]:
            shutil.copytree(source, work / "real_pool" / source.name)
        sizes = {p.name: p.stat().st_size for p in work.iterdir() if p.is_file()}
        driver = ROOT / "tests" / "core" / "resource_bomb_driver.py"
        done = subprocess.run(
            [sys.executable, str(driver), str(work), *BOMBS],
            capture_output=True,
            text=True,
            timeout=900,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        for row in rows:
            row["file_bytes"] = {
                "parquet_3gb": sizes.get("dict_3gb.parquet"),
                "parquet_10gb": sizes.get("dict_10gb.parquet"),
                "csv_300k_columns": sizes.get("wide.csv"),
            }.get(row["bomb"])
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_load(arrivals: int = 50, greedy: int = 8) -> dict:
    import socket

    tf = _test_module("e2e/test_faults.py")

    import app
    from hfselect_app.admission import JOBS

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app.demo.launch(prevent_thread_lock=True, server_port=port, quiet=True)
    peak = [0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], JOBS.counts()[0])
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        started = time.monotonic()
        crowd = tf._arrive_together(app, [f"bench-{i}" for i in range(arrivals)])
        answered = time.monotonic() - started
        tf._wait(lambda: JOBS.counts()[0] == 0, 600, "the admitted rankings")
        drained = time.monotonic() - started
        one = tf._arrive_together(app, ["bench-greedy"] * greedy, ["10.8.0.1"] * greedy)
        tf._wait(lambda: JOBS.counts()[0] == 0, 600, "the greedy client's rankings")
    finally:
        stop.set()
        app.demo.close()
    return {
        "arrivals": arrivals,
        "admitted": sum(1 for code, _ in crowd if code == 200),
        "refused_busy": sum(1 for code, body in crowd if code == 422 and "The app is busy" in body),
        "answered_s": round(answered, 2),
        "drained_s": round(drained, 1),
        "peak_tickets": peak[0],
        "greedy_arrivals": greedy,
        "greedy_admitted": sum(1 for code, _ in one if code == 200),
        "greedy_refused": sum(1 for code, body in one if code == 422 and "You already have" in body),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bombs", action="store_true")
    parser.add_argument("--load", action="store_true")
    args = parser.parse_args()
    both = not (args.bombs or args.load)
    if args.bombs or both:
        print("| bomb | file | outcome | seconds | peak memory (MB) |\n| --- | --- | --- | --- | --- |")
        for row in run_bombs():
            size = f"{row['file_bytes'] / 1e3:,.0f} KB" if row.get("file_bytes") else ""
            outcome = row["outcome"].replace("|", "/")[:140]
            print(f"| {row['bomb']} | {size} | {outcome} | {row['seconds']} | {row['peak_mb']:,.0f} |")
    if args.load or both:
        print(json.dumps(run_load(), indent=2))


if __name__ == "__main__":
    main()
