"""Tree splits as conditions on the raw input columns.

A split tests ``g(x) < b`` or ``g(x) <= b`` where ``g`` is the feature's preprocessing (impute,
scale, ...). When ``g`` is monotone increasing — rounding keeps every ``x - m``, ``x / s`` (s > 0),
``x * s + m`` and clip monotone — the set of raw values going left is ``x <= X*`` for the largest
float64 ``X*`` with ``g(X*)`` on the left, found by bisection over the ordered doubles with the
same float64 operations scikit-learn runs. The split then reads the raw column (``"a" <= X*``) and
the missing value goes where the imputed constant goes. One-hot indicators become ``col = 'cat'``.
Anything else falls back to the transformed expression compared with the bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sqlglot import exp

from tideflow.models.sql._sqlnum import column, is_category_sql, num, paren, value_sql
from tideflow.models.sql.plan import Feature, Tree

ZERO_THRESHOLD = 1.0000000180025095e-35  # LightGBM's kZeroThreshold (1e-35f)
_SIGN = np.int64(-0x8000000000000000)
_MAG = np.int64(0x7FFFFFFFFFFFFFFF)

Decision = bool | tuple[exp.Expression, bool]  # constant direction, or (condition, condition means left)


def _to_key(x: np.ndarray) -> np.ndarray:
    bits = x.astype(np.float64).view(np.int64)
    return np.where(bits >= 0, bits, -(bits & _MAG))


def _from_key(k: np.ndarray) -> np.ndarray:
    bits = np.where(k >= 0, k, (-k) | _SIGN).astype(np.int64)
    return bits.view(np.float64)


def goes_left(v: float, tree: Tree, i: int) -> bool:
    """The model's own decision for the model-input value ``v`` at node ``i``."""
    if math.isnan(v) or (tree.zero_missing[i] and abs(v) <= ZERO_THRESHOLD):
        return bool(tree.missing_left[i])
    return bool(v < tree.bound[i]) if tree.strict[i] else bool(v <= tree.bound[i])


def _monotone(feature: Feature) -> bool:
    return feature.category is None and all(
        op[0] in ("fill", "sub", "add", "clip") or (op[0] in ("mul", "div") and float(op[1]) > 0) for op in feature.ops
    )


def _apply(feature: Feature, x: np.ndarray) -> np.ndarray:
    """The preprocessing of non-missing values, in float64 as scikit-learn runs it."""
    out = np.array(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        for op in feature.ops:
            if op[0] == "sub":
                out = out - op[1]
            elif op[0] == "div":
                out = out / op[1]
            elif op[0] == "mul":
                out = out * op[1]
            elif op[0] == "add":
                out = out + op[1]
            elif op[0] == "clip":
                out = np.clip(out, op[1], op[2])
    return out


def missing_value(feature: Feature) -> float:
    """What a missing input becomes after the ops (NaN when nothing imputes it)."""
    value = math.nan
    with np.errstate(all="ignore"):
        for op in feature.ops:
            if op[0] == "fill":
                if math.isnan(value):
                    value = float(op[1])
            else:
                value = float(_apply(Feature(feature.column, (op,)), np.array([value]))[0])
    return value


class Splitter:
    """Decisions of every split on one feature."""

    def __init__(self, feature: Feature) -> None:
        self.feature = feature
        self.monotone = _monotone(feature)
        self.raw_bounds: dict[tuple[int, int], float] = {}
        self._value: exp.Expression | None = None
        # what a NULL input becomes after the ops (indicators are never missing)
        self.missing = math.nan if feature.is_indicator else missing_value(feature)

    def prepare(self, nodes: Sequence[tuple[Tree, int]]) -> None:
        """Find ``X*`` for every monotone split on this feature at once (64 bisection steps)."""
        nodes = [(t, i) for t, i in nodes if not t.zero_missing[i]]
        if not self.monotone or not nodes:
            return
        bound = np.array([t.bound[i] for t, i in nodes])
        strict = np.array([bool(t.strict[i]) for t, i in nodes])

        def left(keys: np.ndarray) -> np.ndarray:
            v = _apply(self.feature, _from_key(keys))
            return np.where(strict, v < bound, v <= bound)

        lo = np.full(len(nodes), _to_key(np.array([-np.inf]))[0], dtype=np.int64)
        hi = np.full(len(nodes), _to_key(np.array([np.inf]))[0], dtype=np.int64)
        none_left = ~left(lo)
        all_left = left(hi)
        # invariant: left(lo) true, left(hi) false
        for _ in range(66):
            mid = (lo & hi) + ((lo ^ hi) >> 1)  # floor average without overflow
            ok = left(mid)
            lo = np.where(ok, mid, lo)
            hi = np.where(ok, hi, mid)
        result = _from_key(lo)
        result = np.where(none_left, -np.inf, np.where(all_left, np.inf, result))
        for (t, i), x_star, nl, al in zip(nodes, result, none_left, all_left, strict=True):
            key = (id(t), i)
            self.raw_bounds[key] = math.nan if nl else (math.inf if al else float(x_star))

    def value(self) -> exp.Expression:
        if self._value is None:
            self._value = paren(value_sql(self.feature))
        return self._value

    def decide(self, tree: Tree, i: int) -> Decision:
        f = self.feature
        if f.category is not None:
            left0, left1 = goes_left(0.0, tree, i), goes_left(1.0, tree, i)
            if left0 == left1:
                return left0
            return is_category_sql(f), left1
        key = (id(tree), i)
        if key in self.raw_bounds:
            x_star = self.raw_bounds[key]
            null_left = goes_left(self.missing, tree, i)
            col = column(f.column)
            if math.isnan(x_star) or x_star == math.inf:  # no / every present value goes left
                present_left = x_star == math.inf
                if present_left == null_left:
                    return present_left
                return exp.Is(this=col, expression=exp.null()), null_left
            if null_left:  # NULL fails the test and falls to ELSE (left)
                return exp.GT(this=col, expression=num(x_star)), False
            return exp.LTE(this=col, expression=num(x_star)), True
        return self._generic(tree, i)

    def _generic(self, tree: Tree, i: int) -> Decision:
        x = self.value()
        b = num(float(tree.bound[i]))
        test = exp.LT(this=x, expression=b) if tree.strict[i] else exp.LTE(this=x, expression=b)
        if tree.zero_missing[i]:
            missing = exp.Paren(this=exp.or_(
                exp.Is(this=x, expression=exp.null()),
                exp.Between(this=x, low=num(-ZERO_THRESHOLD), high=num(ZERO_THRESHOLD)),
            ))
            default_left = bool(tree.missing_left[i])
            # missing -> default; otherwise the test
            cond = exp.and_(exp.not_(missing), test) if not default_left else exp.or_(missing, test)
            return exp.Paren(this=cond), True
        null_left = goes_left(self.missing, tree, i)
        if null_left:
            neg = exp.GTE(this=x, expression=b) if tree.strict[i] else exp.GT(this=x, expression=b)
            return neg, False
        return test, True


def make_splitters(features: Sequence[Feature], trees: Sequence[Tree]) -> list[Splitter]:
    splitters = [Splitter(f) for f in features]
    nodes: list[list[tuple[Tree, int]]] = [[] for _ in features]
    for tree in trees:
        for i in np.flatnonzero(tree.feature >= 0):
            nodes[int(tree.feature[i])].append((tree, int(i)))
    for splitter, own in zip(splitters, nodes, strict=True):
        splitter.prepare(own)
    return splitters
