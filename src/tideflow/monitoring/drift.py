"""Per-feature data drift, pure: PSI and Kolmogorov-Smirnov for numbers, chi-square for categories.

Each function takes plain arrays (numbers as float64 with NaN for missing, categories as ``str``
or ``None``) and returns a ``FeatureDrift``: the statistics, the binned distributions (for plots)
and whether the feature drifts. A feature drifts when its change is both *significant* (test
p-value below the per-test level) and *large enough to matter* (PSI at or above
``psi_threshold``): significance alone flags negligible shifts on big samples, PSI alone flags
noise on small ones. See docs/monitoring.md for the defaults and why.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import numpy as np

from tideflow.errors import MissingExtraError

MISSING = "(missing)"
OTHER = "(other)"
UNSEEN = "(unseen)"

FeatureKind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class DriftThresholds:
    """When a statistic means drift. Every default is explained in docs/monitoring.md."""

    psi_bins: int = 10  # reference-quantile bins for numbers (deciles)
    psi_eps: float = 1e-4  # empty-bin share floor: keeps log(q/p) finite
    psi_threshold: float = 0.1  # effect gate: PSI >= 0.1 is a "moderate" shift (0.25: "major")
    psi_major: float = 0.25
    alpha: float = 0.05  # family-wise false-alarm level, Bonferroni-split over the tests of one evaluation
    max_categories: int = 20  # the most frequent reference categories kept; the rest pool into (other)
    min_expected: int = 5  # chi-square cells expected below this pool into (other)
    domain_auc_threshold: float = 0.55  # domain classifier AUC at or above which the data drifts...
    domain_z: float = 3.0  # ...and at least 0.5 + z·sigma of the null AUC (small samples)
    domain_max_rows: int = 5000  # rows per side fed to the domain classifier
    domain_folds: int = 5
    domain_trees: int = 50
    seed: int = 0
    auc_drop: float = 0.05  # performance: absolute drop of AUC / accuracy that alarms
    relative_increase: float = 0.2  # performance: relative increase of logloss / RMSE / MAE / Brier that alarms

    def __post_init__(self) -> None:
        checks = [("psi_bins", self.psi_bins >= 2), ("psi_eps", 0 < self.psi_eps < 0.01),
                  ("psi_threshold", self.psi_threshold > 0), ("alpha", 0 < self.alpha < 1),
                  ("max_categories", self.max_categories >= 1), ("domain_folds", self.domain_folds >= 2),
                  ("domain_auc_threshold", 0.5 <= self.domain_auc_threshold <= 1),
                  ("domain_max_rows", self.domain_max_rows >= 20)]
        for name, ok in checks:
            if not ok:
                raise ValueError(f"drift threshold {name}={getattr(self, name)!r} is out of range")

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FeatureDrift:
    """The drift of one feature (or of the predictions). ``bins`` label the plotted distribution."""

    feature: str
    kind: FeatureKind
    test: Literal["ks", "chi2", "none"]
    statistic: float
    p_value: float
    psi: float
    drifting: bool
    ref_rows: int
    cur_rows: int
    ref_missing: float  # share of missing values
    cur_missing: float
    bins: list[str] = field(default_factory=list)
    ref_share: list[float] = field(default_factory=list)
    cur_share: list[float] = field(default_factory=list)
    unseen: list[str] = field(default_factory=list)  # categories of the current data never seen in the reference
    ref_mean: float | None = None
    cur_mean: float | None = None

    @property
    def level(self) -> str:
        """``stable``, ``moderate`` or ``major`` by PSI (the usual 0.1 / 0.25 cut points)."""
        return "major" if self.psi >= 0.25 else "moderate" if self.psi >= 0.1 else "stable"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureDrift:
        return cls(**data)


def _stats() -> Any:
    try:
        from scipy import stats
    except ImportError:  # pragma: no cover
        raise MissingExtraError("scipy", "lab") from None
    return stats


# ------------------------------------------------------------------ PSI


def quantile_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Inner bin edges at the reference's quantiles (ties collapse: fewer, never empty-by-design, bins)."""
    finite = reference[np.isfinite(reference)]
    if finite.size == 0:
        return np.array([], dtype="float64")
    return np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin ``(-inf, e0), [e0, e1), ..., [ek, inf)`` then one last bin of missing values."""
    finite = np.isfinite(values)
    index = np.searchsorted(edges, values[finite], side="right")
    counts = np.bincount(index, minlength=len(edges) + 1)
    return np.append(counts, int((~finite).sum())).astype("float64")


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray, eps: float = 1e-4) -> float:
    """Population stability index: sum over bins of (q - p) * ln(q / p), shares floored at ``eps``."""
    ref_total, cur_total = float(ref_counts.sum()), float(cur_counts.sum())
    if ref_total == 0 or cur_total == 0:
        return 0.0
    p = np.clip(ref_counts / ref_total, eps, None)
    q = np.clip(cur_counts / cur_total, eps, None)
    return float(np.sum((q - p) * np.log(q / p)))


# ------------------------------------------------------------------ numbers


def _missing_p_value(ref_missing: int, ref_n: int, cur_missing: int, cur_n: int) -> float:
    """Two-proportion test of the missing share (chi-square on the 2x2 table); 1.0 when neither misses."""
    if ref_missing + cur_missing == 0 or ref_missing + cur_missing == ref_n + cur_n:
        return 1.0
    table = np.array([[ref_missing, ref_n - ref_missing], [cur_missing, cur_n - cur_missing]], dtype="float64")
    return float(_stats().chi2_contingency(table, correction=True).pvalue)


def numeric_drift(name: str, reference: np.ndarray, current: np.ndarray, *, level: float,
                  thresholds: DriftThresholds) -> FeatureDrift:
    """KS on the non-missing values (with a missing-share test when values are missing) and PSI on
    reference-decile bins plus a missing bin. ``level`` is the per-test significance level."""
    ref = np.asarray(reference, dtype="float64")
    cur = np.asarray(current, dtype="float64")
    ref_ok, cur_ok = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    edges = quantile_edges(ref, thresholds.psi_bins)
    ref_counts, cur_counts = bin_counts(ref, edges), bin_counts(cur, edges)
    value = psi(ref_counts, cur_counts, thresholds.psi_eps)
    if ref_ok.size and cur_ok.size:
        exact = ref_ok.size * cur_ok.size <= 10_000  # the exact distribution is slow on large samples
        result = _stats().ks_2samp(ref_ok, cur_ok, method="exact" if exact else "asymp")
        statistic, p_value, test = float(result.statistic), float(result.pvalue), "ks"
    else:
        statistic, p_value, test = 0.0, 1.0, "none"
    ref_miss, cur_miss = ref.size - ref_ok.size, cur.size - cur_ok.size
    if ref_miss or cur_miss:  # a change of the missing share is drift too (KS does not see it)
        p_value = min(1.0, 2 * min(p_value, _missing_p_value(ref_miss, ref.size, cur_miss, cur.size)))
    labels = _edge_labels(edges)
    keep = len(labels) if ref_counts[-1] == 0 and cur_counts[-1] == 0 else len(labels) + 1
    labels = [*labels, MISSING][:keep]
    return FeatureDrift(
        feature=name, kind="numeric", test=test, statistic=statistic, p_value=p_value, psi=value,  # type: ignore[arg-type]
        drifting=bool(p_value < level and value >= thresholds.psi_threshold),
        ref_rows=int(ref.size), cur_rows=int(cur.size),
        ref_missing=_share(ref_miss, ref.size), cur_missing=_share(cur_miss, cur.size),
        bins=labels, ref_share=_shares(ref_counts[:keep]), cur_share=_shares(cur_counts[:keep]),
        ref_mean=float(ref_ok.mean()) if ref_ok.size else None, cur_mean=float(cur_ok.mean()) if cur_ok.size else None,
    )


def _edge_labels(edges: np.ndarray) -> list[str]:
    if edges.size == 0:
        return ["all"]
    shown = [f"{e:.4g}" for e in edges]
    return [f"< {shown[0]}"] + [f"{a} – {b}" for a, b in itertools.pairwise(shown)] + [f">= {shown[-1]}"]


def _share(part: int, total: int) -> float:
    return float(part) / total if total else 0.0


def _shares(counts: np.ndarray) -> list[float]:
    total = float(counts.sum())
    return [round(float(c) / total, 6) if total else 0.0 for c in counts]


# ------------------------------------------------------------------ categories


def categorical_drift(name: str, reference: Sequence[str | None], current: Sequence[str | None], *, level: float,
                      thresholds: DriftThresholds) -> FeatureDrift:
    """Chi-square test of homogeneity on the 2 x categories table, and PSI on the same buckets.

    Buckets: the ``max_categories`` most frequent reference categories, ``(other)`` for the rest of
    the reference's, ``(unseen)`` for categories the reference never had, ``(missing)``. Buckets
    expected to hold fewer than ``min_expected`` rows on either side pool into ``(other)`` so the
    chi-square approximation holds.
    """
    ref_counter = Counter(MISSING if v is None else str(v) for v in reference)
    cur_counter = Counter(MISSING if v is None else str(v) for v in current)
    ref_n, cur_n = sum(ref_counter.values()), sum(cur_counter.values())
    top = [c for c, _ in sorted(ref_counter.items(), key=lambda kv: (-kv[1], kv[0])) if c != MISSING]
    kept = set(top[: thresholds.max_categories])
    unseen = sorted(c for c in cur_counter if c not in ref_counter)

    def bucket(category: str) -> str:
        if category == MISSING or category in kept:
            return category
        return OTHER if category in ref_counter else UNSEEN

    ref_b: Counter[str] = Counter()
    cur_b: Counter[str] = Counter()
    for c, n in ref_counter.items():
        ref_b[bucket(c)] += n
    for c, n in cur_counter.items():
        cur_b[bucket(c)] += n
    order = [c for c in top if c in kept] + [b for b in (OTHER, UNSEEN, MISSING) if ref_b[b] or cur_b[b]]
    ref_counts = np.array([ref_b[b] for b in order], dtype="float64")
    cur_counts = np.array([cur_b[b] for b in order], dtype="float64")
    value = psi(ref_counts, cur_counts, thresholds.psi_eps)
    statistic, p_value, test = _chi_square(order, ref_counts, cur_counts, thresholds.min_expected)
    return FeatureDrift(
        feature=name, kind="categorical", test=test, statistic=statistic, p_value=p_value, psi=value,  # type: ignore[arg-type]
        drifting=bool(p_value < level and value >= thresholds.psi_threshold),
        ref_rows=ref_n, cur_rows=cur_n,
        ref_missing=_share(ref_counter[MISSING], ref_n), cur_missing=_share(cur_counter[MISSING], cur_n),
        bins=order, ref_share=_shares(ref_counts), cur_share=_shares(cur_counts), unseen=unseen[:50],
    )


def _chi_square(order: list[str], ref: np.ndarray, cur: np.ndarray, min_expected: int) -> tuple[float, float, str]:
    """Chi-square statistic and p-value after pooling sparse buckets; (0, 1) when under 2 buckets remain."""
    total = ref.sum() + cur.sum()
    if ref.sum() == 0 or cur.sum() == 0:
        return 0.0, 1.0, "none"
    expected_min = np.minimum(ref.sum(), cur.sum()) * (ref + cur) / total
    sparse = expected_min < min_expected
    if sparse.any():
        pooled_ref, pooled_cur = ref[sparse].sum(), cur[sparse].sum()
        ref, cur = ref[~sparse], cur[~sparse]
        if pooled_ref + pooled_cur > 0:
            ref, cur = np.append(ref, pooled_ref), np.append(cur, pooled_cur)
    table = np.vstack([ref, cur])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0, "none"
    result = _stats().chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue), "chi2"


# ------------------------------------------------------------------ a whole batch


@dataclass(frozen=True)
class DataDrift:
    """Drift of every feature. ``level`` is the per-test significance level used (alpha / tests)."""

    features: list[FeatureDrift]
    level: float

    @property
    def drifting(self) -> list[str]:
        """Names of the drifting features, most shifted (by PSI) first."""
        return [f.feature for f in sorted(self.features, key=lambda f: -f.psi) if f.drifting]

    def feature(self, name: str) -> FeatureDrift:
        for f in self.features:
            if f.feature == name:
                return f
        raise KeyError(name)


def feature_kind(logical_type: str) -> FeatureKind:
    """Numbers, dates and timestamps are numeric; strings and booleans are categorical."""
    return "numeric" if logical_type in ("double", "integer", "date", "timestamp") else "categorical"


def data_drift(reference: dict[str, Any], current: dict[str, Any], kinds: dict[str, FeatureKind], *,
               thresholds: DriftThresholds | None = None, extra_tests: int = 0) -> DataDrift:
    """Drift of each feature in ``kinds``; ``reference`` / ``current`` map a feature to its values.

    The significance level per test is ``alpha / (features + extra_tests)`` (Bonferroni), so the
    chance of any false alarm on same-distribution data stays at or under ``alpha``.
    """
    th = thresholds or DriftThresholds()
    level = th.alpha / max(1, len(kinds) + extra_tests)
    out = []
    for name, kind in kinds.items():
        if kind == "numeric":
            out.append(numeric_drift(name, reference[name], current[name], level=level, thresholds=th))
        else:
            out.append(categorical_drift(name, reference[name], current[name], level=level, thresholds=th))
    return DataDrift(out, level)


def finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value
