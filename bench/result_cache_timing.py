"""How long the app takes to answer a repeated ranking request and to open a stored result by id.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.result_cache_timing

Runs the app's rank handler in-process (an example dataset, the bundled pool): once computed, then
the same form again (served from the result cache), then ``?result=<id>`` (show_stored_result).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HFSELECT_RESULT_CACHE_DIR", tempfile.mkdtemp(prefix="hfselect-results-"))

from hfselect_app import rank_tab  # noqa: E402


def main() -> None:
    form = dict(example="news_headlines", num_examples=1000, base_model="sentence-transformers/all-MiniLM-L6-v2")
    form["pool"] = "bundled"
    t0 = time.perf_counter()
    first = list(rank_tab.rank(**form))[-1]
    computed = time.perf_counter() - t0
    t0 = time.perf_counter()
    second = list(rank_tab.rank(**form))[-1]
    repeated = time.perf_counter() - t0
    t0 = time.perf_counter()
    shown = rank_tab.show_stored_result(first[-1])
    by_id = time.perf_counter() - t0
    assert "From the result cache" in second[0] and second[2].equals(first[2]) and shown[2].equals(first[2])
    size = sum(p.stat().st_size for p in Path(os.environ["HFSELECT_RESULT_CACHE_DIR"]).glob("*.json"))
    print(
        json.dumps(
            {
                "computed_s": round(computed, 2),
                "repeated_s": round(repeated, 3),
                "by_id_s": round(by_id, 3),
                "entry_kb": round(size / 1e3, 1),
                "esms": len(first[2]),
            }
        )
    )


if __name__ == "__main__":
    main()
