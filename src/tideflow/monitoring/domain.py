"""The overall drift score: how well a classifier tells current rows from reference rows.

A random forest is trained to predict "is this row from the current batch?" and
scored by cross-validated ROC AUC (out-of-fold, fixed seed). 0.5 means the two batches cannot be
told apart; 1.0 means they do not overlap. Unlike per-feature tests it sees joint shifts
(correlations that changed while each marginal stayed put).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tideflow.errors import MissingExtraError
from tideflow.monitoring.drift import DriftThresholds, FeatureKind

_MAX_CODES = 250  # categories beyond the 249 most frequent share one code


@dataclass(frozen=True)
class DomainDrift:
    """``auc`` of the domain classifier and the bar it had to clear (``required``) to mean drift."""

    auc: float
    required: float
    drifting: bool
    ref_rows: int
    cur_rows: int
    folds: int
    seed: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DomainDrift:
        return cls(**data)


def null_auc_sigma(n_ref: int, n_cur: int) -> float:
    """Standard deviation of the AUC of an uninformative score (Mann-Whitney under H0)."""
    if n_ref == 0 or n_cur == 0:
        return 0.5
    return math.sqrt((n_ref + n_cur + 1) / (12.0 * n_ref * n_cur))


def encode(reference: dict[str, Any], current: dict[str, Any],
           kinds: dict[str, FeatureKind]) -> tuple[np.ndarray, np.ndarray, list[bool]]:
    """Both batches as float matrices (NaN for missing); categories as shared codes by reference frequency."""
    ref_cols, cur_cols, categorical = [], [], []
    for name, kind in kinds.items():
        if kind == "numeric":
            ref_cols.append(np.asarray(reference[name], dtype="float64"))
            cur_cols.append(np.asarray(current[name], dtype="float64"))
            categorical.append(False)
            continue
        counts: dict[str, int] = {}
        for v in list(reference[name]) + list(current[name]):
            if v is not None:
                counts[str(v)] = counts.get(str(v), 0) + 1
        ranked = sorted(counts, key=lambda c: (-counts[c], c))
        codes = {c: float(min(i, _MAX_CODES - 1)) for i, c in enumerate(ranked)}
        ref_cols.append(np.array([np.nan if v is None else codes[str(v)] for v in reference[name]], dtype="float64"))
        cur_cols.append(np.array([np.nan if v is None else codes[str(v)] for v in current[name]], dtype="float64"))
        categorical.append(True)
    n_ref = len(ref_cols[0]) if ref_cols else 0
    n_cur = len(cur_cols[0]) if cur_cols else 0
    ref = np.column_stack(ref_cols) if ref_cols else np.zeros((n_ref, 0))
    cur = np.column_stack(cur_cols) if cur_cols else np.zeros((n_cur, 0))
    return ref, cur, categorical


def domain_drift(reference: dict[str, Any], current: dict[str, Any], kinds: dict[str, FeatureKind], *,
                 thresholds: DriftThresholds | None = None) -> DomainDrift:
    """Cross-validated AUC of reference-vs-current; drifting when it reaches ``domain_auc_threshold``
    and ``0.5 + domain_z * sigma`` (sigma of the null AUC at these sample sizes)."""
    try:
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import StratifiedKFold
    except ImportError:  # pragma: no cover
        raise MissingExtraError("scikit-learn", "lab") from None

    th = thresholds or DriftThresholds()
    ref, cur, _ = encode(reference, current, kinds)
    rng = np.random.default_rng(th.seed)
    if len(ref) > th.domain_max_rows:
        ref = ref[np.sort(rng.choice(len(ref), th.domain_max_rows, replace=False))]
    if len(cur) > th.domain_max_rows:
        cur = cur[np.sort(rng.choice(len(cur), th.domain_max_rows, replace=False))]
    n_ref, n_cur = len(ref), len(cur)
    required = max(th.domain_auc_threshold, 0.5 + th.domain_z * null_auc_sigma(n_ref, n_cur))
    folds = min(th.domain_folds, n_ref, n_cur)
    if folds < 2 or ref.shape[1] == 0:
        return DomainDrift(0.5, required, False, n_ref, n_cur, folds, th.seed)
    x = np.vstack([ref, cur])
    y = np.concatenate([np.zeros(n_ref, dtype="int64"), np.ones(n_cur, dtype="int64")])
    scores = np.zeros(len(y), dtype="float64")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=th.seed)
    for train, test in splitter.split(x, y):
        model = RandomForestClassifier(n_estimators=th.domain_trees, max_depth=8, min_samples_leaf=5,
                                       n_jobs=1, random_state=th.seed)
        model.fit(x[train], y[train])
        scores[test] = model.predict_proba(x[test])[:, 1]
    auc = float(roc_auc_score(y, scores))
    return DomainDrift(round(auc, 6), round(required, 6), bool(auc >= required), n_ref, n_cur, folds, th.seed)
