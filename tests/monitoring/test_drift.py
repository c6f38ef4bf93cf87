"""Per-feature drift on synthetic data with known shift: false-alarm rate, the right feature, categories."""

from __future__ import annotations

import numpy as np
import pytest

from tideflow.monitoring import DriftThresholds, categorical_drift, data_drift, numeric_drift, psi
from tideflow.monitoring.drift import MISSING, UNSEEN, bin_counts, quantile_edges

KINDS = {"normal": "numeric", "lognormal": "numeric", "count": "numeric", "category": "categorical",
         "flag": "categorical"}
LETTERS = ["a", "b", "c", "d", "e"]
LETTER_P = [0.4, 0.25, 0.2, 0.1, 0.05]


def draw(rng: np.random.Generator, n: int, *, shift: float = 0.0, letter_p: list[float] | None = None) -> dict:
    count = rng.poisson(3.0, n).astype("float64")
    count[rng.random(n) < 0.05] = np.nan  # some missing values
    return {
        "normal": rng.normal(0.0, 1.0, n),
        "lognormal": np.exp(rng.normal(3.0 + shift, 1.0, n)),
        "count": count,
        "category": rng.choice(LETTERS, n, p=letter_p or LETTER_P).tolist(),
        "flag": [str(b) for b in rng.random(n) < 0.3],
    }


def test_false_alarm_rate_is_under_5_percent_over_100_seeded_draws() -> None:
    """Same distribution on both sides, 100 independent draws: the batch alarms (any feature drifting)
    in under 5% of them; per-test levels are Bonferroni-split so this holds for the whole batch."""
    alarms, feature_alarms = 0, 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        result = data_drift(draw(rng, 800), draw(rng, 800), KINDS, extra_tests=1)  # type: ignore[arg-type]
        alarms += bool(result.drifting)
        feature_alarms += len(result.drifting)
    assert alarms / 100 < 0.05, f"false-alarm rate {alarms}%"
    assert feature_alarms <= alarms * len(KINDS)


def test_false_alarm_rate_of_the_raw_tests_matches_their_level() -> None:
    """Without the PSI gate the p-values alone alarm at about the per-test level (the tests are calibrated)."""
    th = DriftThresholds(psi_threshold=1e-9)
    rejections = 0
    for seed in range(100):
        rng = np.random.default_rng(1000 + seed)
        a, b = draw(rng, 500), draw(rng, 500)
        rejections += numeric_drift("normal", a["normal"], b["normal"], level=0.05, thresholds=th).drifting
    assert 0 <= rejections <= 12  # ~5 expected; binomial(100, 0.05) stays under 12 with p > 0.999


def test_a_shifted_feature_alarms_and_is_named() -> None:
    for seed in range(10):
        rng = np.random.default_rng(seed)
        result = data_drift(draw(rng, 800), draw(rng, 800, shift=0.5), KINDS)  # type: ignore[arg-type]
        assert result.drifting == ["lognormal"], (seed, [(f.feature, f.psi, f.p_value) for f in result.features])
        shifted = result.feature("lognormal")
        assert shifted.test == "ks" and shifted.p_value < 1e-6 and shifted.psi >= 0.1
        assert shifted.cur_mean is not None and shifted.ref_mean is not None and shifted.cur_mean > shifted.ref_mean


def test_categorical_shift_is_found_by_chi_square() -> None:
    rng = np.random.default_rng(5)
    result = data_drift(draw(rng, 800), draw(rng, 800, letter_p=[0.15, 0.25, 0.2, 0.2, 0.2]), KINDS)  # type: ignore[arg-type]
    assert result.drifting == ["category"]
    found = result.feature("category")
    assert found.test == "chi2" and found.p_value < 1e-6
    assert found.bins[:5] == LETTERS and abs(sum(found.cur_share) - 1) < 1e-6


def test_unseen_categories_are_their_own_bucket() -> None:
    th = DriftThresholds()
    ref = ["a"] * 500 + ["b"] * 500
    cur = ["a"] * 400 + ["b"] * 400 + ["z"] * 150 + ["y"] * 50
    found = categorical_drift("c", ref, cur, level=0.01, thresholds=th)
    assert found.unseen == ["y", "z"]
    assert UNSEEN in found.bins and found.cur_share[found.bins.index(UNSEEN)] == pytest.approx(0.2)
    assert found.drifting and np.isfinite(found.psi)
    # A few unseen values (sparse bucket) are pooled, not a crash nor an alarm on their own.
    few = categorical_drift("c", ref, ["a"] * 498 + ["b"] * 500 + ["q", "r"], level=0.01, thresholds=th)
    assert few.unseen == ["q", "r"] and not few.drifting


def test_missing_share_change_is_drift_even_when_values_do_not_move() -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(size=2000)
    cur = rng.normal(size=2000)
    cur[:600] = np.nan
    found = numeric_drift("x", ref, cur, level=0.01, thresholds=DriftThresholds())
    assert found.drifting and found.cur_missing == pytest.approx(0.3) and found.bins[-1] == MISSING


def test_psi_bins_and_epsilon() -> None:
    ref = np.arange(1000, dtype="float64")
    edges = quantile_edges(ref, 10)
    assert len(edges) == 9
    counts = bin_counts(ref, edges)
    assert counts[:-1].tolist() == [100.0] * 10 and counts[-1] == 0
    assert psi(counts, counts) == 0.0
    # An empty current bin does not make PSI infinite: shares are floored at eps.
    cur = counts.copy()
    cur[0] = 0
    assert np.isfinite(psi(counts, cur, 1e-4)) and psi(counts, cur, 1e-4) > 0.1
    # Ties collapse bins instead of making empty ones.
    assert len(quantile_edges(np.array([1.0] * 90 + [2.0] * 10), 10)) <= 2


def test_thresholds_are_validated() -> None:
    with pytest.raises(ValueError, match=r"alpha=1\.5 is out of range"):
        DriftThresholds(alpha=1.5)
