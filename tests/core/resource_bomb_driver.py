"""Runs resource bombs against the real bundled MiniLM in this process and reports peak memory per bomb.

Usage: ``python tests/core/resource_bomb_driver.py <workdir> <bomb> [<bomb> ...]`` with hfselect_core
importable (installed, or the checkout on PYTHONPATH); prints one JSON line
per bomb: its outcome (the error class and message, or "ok"), seconds, and ``peak_mb``, the
growth of the resident-set high-water mark over the RSS before the bomb (VmHWM is reset through
/proc/self/clear_refs before each one, so bombs do not hide behind each other). The address
space is capped with RLIMIT_AS, so a bomb that got through would fail here instead of taking the
machine. Used by tests/core/test_resource_bombs.py and bench/reliability.py.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hfselect_core import limits  # noqa: E402
from hfselect_core.data import TargetDataset, read_table  # noqa: E402
from hfselect_core.embedding import BUNDLED_MODEL_ID, load_embedding_model  # noqa: E402
from hfselect_core.errors import HFSelectError  # noqa: E402
from hfselect_core.ranking import compute_task_ranking  # noqa: E402
from hfselect_core.resources import examples_dir  # noqa: E402
from hfselect_core.studio import iter_studio_training  # noqa: E402
from hfselect_core.training import TrainingSettings  # noqa: E402

ADDRESS_SPACE_LIMIT = 6 * 1024**3
EXAMPLE = examples_dir() / "product_reviews.csv"


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def long_texts(n: int) -> list[str]:
    words = pd.read_csv(EXAMPLE)["review"].str.cat(sep=" ").split()
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(words, size=400)) for _ in range(n)]  # far beyond 128 tokens


def bomb_parquet(work: Path, name: str) -> object:
    return TargetDataset.from_file(work / name, "text", "label")


def bomb_studio_batch(work: Path, batch: int, n: int) -> object:
    dataset = TargetDataset.from_pandas(
        pd.DataFrame({"text": long_texts(n), "label": [i % 2 for i in range(n)]}), "text", "label"
    )
    settings = TrainingSettings(lm_num_epochs=1, lm_batch_size=batch, max_examples=n)
    result = None
    for event in iter_studio_training(
        dataset, BUNDLED_MODEL_ID, settings, device="cpu", workdir=work, self_check=False
    ):
        result = event.result or result
    return f"trained on {n} texts, batch {batch}, held-out R2 {result.fit.r2:.2f}"


def bomb_many_labels(work: Path) -> object:
    texts = [f"review number {i}" for i in range(10_000)]
    return TargetDataset.from_pandas(pd.DataFrame({"text": texts, "label": texts}), "text", "label")


def bomb_wide_csv(work: Path) -> object:
    return read_table(work / "wide.csv")


def bomb_special_esms(work: Path) -> object:
    dataset = TargetDataset.from_file(EXAMPLE, "review", "sentiment", num_examples=40)
    ranking = compute_task_ranking(
        dataset, base_model=BUNDLED_MODEL_ID, source=str(work / "special_pool"), device="cpu"
    )
    return f"{len(ranking)} ranked, skipped: " + "; ".join(f"{s.name}: {s.reason}" for s in ranking.skipped)


def control_ranking(work: Path) -> object:
    dataset = TargetDataset.from_file(EXAMPLE, "review", "sentiment", num_examples=200)
    ranking = compute_task_ranking(dataset, base_model=BUNDLED_MODEL_ID, source=str(work / "real_pool"), device="cpu")
    return f"{len(ranking)} ESMs ranked on 200 examples"


BOMBS = {
    "parquet_3gb": lambda w: bomb_parquet(w, "dict_3gb.parquet"),
    "parquet_10gb": lambda w: bomb_parquet(w, "dict_10gb.parquet"),
    "studio_batch_1e9": lambda w: bomb_studio_batch(w, 10**9, 300),
    "studio_batch_max": lambda w: bomb_studio_batch(w, 64, 64),
    "labels_10000": bomb_many_labels,
    "csv_300k_columns": bomb_wide_csv,
    "special_file_esms": bomb_special_esms,
    "control_ranking": control_ranking,
}


def main() -> None:
    work = Path(sys.argv[1])
    model = load_embedding_model(BUNDLED_MODEL_ID, device="cpu")
    model.embed(["warm up the tokenizer and the kernels"] * 8)
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    for name in sys.argv[2:]:
        Path("/proc/self/clear_refs").write_text("5")
        before = _status("VmRSS")
        started = time.perf_counter()
        try:
            outcome = f"ok: {BOMBS[name](work)}"
        except HFSelectError as e:
            outcome = f"{type(e).__name__}: {e}"
        except MemoryError:
            outcome = "MemoryError"
        seconds = time.perf_counter() - started
        peak_mb = (_status("VmHWM") - before) / 1024
        row = {"bomb": name, "outcome": limits.bounded(outcome, 600), "seconds": round(seconds, 2)}
        print(json.dumps({**row, "peak_mb": round(peak_mb, 1), "message_chars": len(outcome)}), flush=True)


if __name__ == "__main__":
    main()
