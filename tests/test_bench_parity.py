"""The ranking benchmark's own helpers: deterministic inputs and a parity check that bites.

Needs neither the reference venv nor any model: bench/bench_ranking.py is imported as a file.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_ranking.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_ranking", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_texts_and_labels_are_deterministic(bench):
    a, b = bench.make_texts(50, seed=3), bench.make_texts(50, seed=3)
    assert a == b
    assert bench.make_texts(50, seed=4) != a
    lengths = [len(t.split()) - 1 for t in bench.make_texts(500)]  # the final "." is a token of its own
    assert min(lengths) >= 5 and max(lengths) <= 120
    assert max(lengths) - min(lengths) > 80  # a realistic spread, not one length
    np.testing.assert_array_equal(bench.make_labels(40), bench.make_labels(40))


def test_maps_and_features_are_deterministic(bench):
    w1, b1 = bench.make_map(7, 16)
    w2, b2 = bench.make_map(7, 16)
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(b1, b2)
    assert w1.dtype == np.float32 and w1.shape == (16, 16) and b1.shape == (16,)
    assert not np.array_equal(bench.make_map(8, 16)[0], w1)
    assert np.abs(w1 - np.eye(16)).max() < 1.0  # near identity
    labels = bench.make_labels(30)
    np.testing.assert_array_equal(bench.make_features(30, 8, labels), bench.make_features(30, 8, labels))


def test_parity_flags_1e3_and_passes_1e9(bench):
    ref = np.array([-0.71, -0.52, -1.3, 0.2])
    rel, ok = bench.parity(ref * (1 + 1e-9), ref)
    assert ok and rel < 1e-8
    rel, ok = bench.parity(ref * (1 + 1e-3), ref)
    assert not ok and rel == pytest.approx(1e-3, rel=1e-6)
    assert bench.parity(ref[:3], ref) == (float("inf"), False)
    assert not bench.parity(np.array([np.nan, 1, 1, 1]), ref)[1]


def test_results_section_is_replaced_not_duplicated(bench, tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmarks\n\n## Pool build\n\nkeep me\n")
    bench.write_results(bench.SECTION + "\n\nfirst\n", path)
    bench.write_results(bench.SECTION + "\n\nsecond\n", path)
    text = path.read_text()
    assert text.count(bench.SECTION) == 1 and "second" in text and "first" not in text
    assert "keep me" in text
