"""The unit-length scoring (``logme.unit_logme_many``): LogME of ESM-mapped embeddings scaled back
to unit length, against the independent per-target reference of test_logme.py."""

from __future__ import annotations

import numpy as np
import pytest
from test_logme import _labels, _rel, reference_logme

from hfselect_core.logme import AffineLogME, unit_logme_many


def _maps(rng, k: int, d: int):
    weights = rng.standard_normal((k, d, d)) / np.sqrt(d) + np.eye(d)
    return weights, 0.1 * rng.standard_normal((k, d))


@pytest.mark.parametrize(("n", "d"), [(80, 8), (12, 20)])
@pytest.mark.parametrize("kind", ["classification", "regression1", "regression3"])
@pytest.mark.parametrize("invariant", [True, False])
def test_unit_scores_equal_reference_on_normalised_features(kind, n, d, invariant):
    rng = np.random.default_rng(3)
    labels, regression = _labels(rng, n, kind)
    x = rng.standard_normal((n, d)) + 0.5 * np.asarray(labels, dtype=np.float64).reshape(n, -1)[:, :1]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    weights, biases = _maps(rng, 5, d)
    got = unit_logme_many(x, labels, regression, weights, biases, scale_invariant=invariant, batch_size=2)
    for k in range(5):
        f = x @ weights[k].T + biases[k]
        f /= np.linalg.norm(f, axis=1, keepdims=True)
        assert _rel(got[k], reference_logme(f, labels, regression, invariant)) <= 1e-6


def test_unit_scoring_ignores_the_scale_of_a_map_and_differs_from_affine():
    rng = np.random.default_rng(4)
    labels, _ = _labels(rng, 60, "classification")
    x = rng.standard_normal((60, 6))
    weights, biases = _maps(rng, 3, 6)
    base = unit_logme_many(x, labels, False, weights, biases)
    scaled = unit_logme_many(x, labels, False, weights * 1e3, biases * 1e3)
    np.testing.assert_allclose(scaled, base, rtol=1e-9)
    # Scaling every row to unit length is not an affine map: the scores are not AffineLogME's.
    assert np.abs(AffineLogME(x, labels).score_many(weights, biases) - base).max() > 1e-4


def test_unit_scoring_shape_errors():
    x = np.ones((10, 4))
    labels = np.arange(10) % 2
    with pytest.raises(ValueError, match="labels"):
        unit_logme_many(x, labels[:5], False, np.ones((1, 4, 4)), np.ones((1, 4)))
    with pytest.raises(ValueError, match="maps"):
        unit_logme_many(x, labels, False, np.ones((1, 4, 3)), np.ones((1, 4)))
