"""A ``ModelPlan`` as SQL: one sqlglot expression per output, for DuckDB and PostgreSQL.

Numbers are ``CAST('<repr>' AS DOUBLE)`` (a string parsed with correct rounding by both
databases, folded to a constant at plan time), so no literal is read as DECIMAL/NUMERIC.
Trees are nested CASE expressions; ensembles are sums of per-tree CASE expressions. NULL is the
missing value: each split sends it where the model sends NaN.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ErrorLevel
from sqlglot.generators.duckdb import DuckDBGenerator

from tideflow.errors import UnsupportedPushdown
from tideflow.models.sql._splits import Splitter, make_splitters
from tideflow.models.sql._sqlnum import column, feature_sql, literal, num, num32, paren, to_double, to_real
from tideflow.models.sql.plan import LinearPlan, ModelPlan, Tree, TreesPlan, plan_model

DIALECTS = ("duckdb", "postgres")
_EXP_CLAMP = 700.0  # exp(700) is finite; PostgreSQL raises on overflow instead of returning inf
_EXP_CLAMP_F32 = 88.0  # expf stays finite up to ~88.7
_CHUNK = 64  # float64 sums: left-deep chunks of this many trees keep nesting shallow


def _sum(terms: Sequence[exp.Expression], chunked: bool) -> exp.Expression:
    if not chunked or len(terms) <= _CHUNK:
        out = terms[0]
        for t in terms[1:]:
            out = exp.Add(this=out, expression=t)
        return out
    chunks = [exp.Paren(this=_sum(terms[i : i + _CHUNK], False)) for i in range(0, len(terms), _CHUNK)]
    return _sum(chunks, False)


def tree_sql(tree: Tree, column: int, splits: Sequence[Splitter], float32: bool) -> exp.Expression:
    leaf = num32 if float32 else num

    def node(i: int) -> exp.Expression:
        if tree.feature[i] < 0:
            return leaf(float(tree.values[i, column]))
        decision = splits[int(tree.feature[i])].decide(tree, i)
        if decision is True:
            return node(int(tree.left[i]))
        if decision is False:
            return node(int(tree.right[i]))
        cond, cond_means_left = decision
        left, right = node(int(tree.left[i])), node(int(tree.right[i]))
        then, other = (left, right) if cond_means_left else (right, left)
        return exp.Case(ifs=[exp.If(this=cond, true=then)], default=other)

    return node(0)


def margins_sql(plan: ModelPlan) -> list[exp.Expression]:
    model = plan.model
    feats = [feature_sql(f) for f in plan.features]
    if isinstance(model, LinearPlan):
        out = []
        for k in range(plan.n_margins):
            terms: list[exp.Expression] = []
            for j, w in enumerate(model.coef[k]):
                if w != 0.0:
                    terms.append(exp.Mul(this=paren(feats[j]), expression=num(float(w))))
            terms.append(num(float(model.intercept[k])))
            out.append(_sum(terms, True))
        return out
    assert isinstance(model, TreesPlan)
    per_margin: list[list[exp.Expression]] = [[] for _ in range(plan.n_margins)]
    splits = make_splitters(plan.features, model.trees)
    for tree in model.trees:
        for c in range(tree.values.shape[1]):
            per_margin[tree.offset + c].append(tree_sql(tree, c, splits, model.float32))
    margins = []
    for k, terms in enumerate(per_margin):
        base = float(model.base[k])
        if model.float32:
            terms = [num32(base), *terms]
        elif base != 0.0 or not terms:
            terms = [num(base), *terms]
        total = _sum(terms, not model.float32)
        if model.divisor is not None:
            total = exp.Div(this=exp.Paren(this=total), expression=num(model.divisor))
        margins.append(total)
    return margins


def _logistic(z: exp.Expression, scale: float = 1.0) -> exp.Expression:
    neg = exp.Neg(this=exp.Paren(this=z)) if scale == 1.0 else exp.Mul(this=num(-scale), expression=exp.Paren(this=z))
    e = exp.Exp(this=exp.Least(this=neg, expressions=[num(_EXP_CLAMP)], ignore_nulls=True))
    return exp.Div(this=num(1.0), expression=exp.Paren(this=exp.Add(this=num(1.0), expression=e)))


def _logistic32(z: exp.Expression) -> exp.Expression:
    # XGBoost: 1.0f / (expf(-x) + 1.0f), every step in float32
    neg = to_double(exp.Neg(this=exp.Paren(this=z)))
    e = to_real(exp.Exp(this=exp.Least(this=neg, expressions=[num(_EXP_CLAMP_F32)], ignore_nulls=True)))
    return exp.Div(this=num32(1.0), expression=exp.Paren(this=exp.Add(this=e, expression=num32(1.0))))


def _softmax(margins: Sequence[exp.Expression], k: int) -> exp.Expression:
    terms: list[exp.Expression] = [num(1.0)]
    for j, zj in enumerate(margins):
        if j == k:
            continue
        diff = exp.Sub(this=exp.Paren(this=zj), expression=exp.Paren(this=margins[k]))
        terms.append(exp.Exp(this=exp.Least(this=diff, expressions=[num(_EXP_CLAMP)], ignore_nulls=True)))
    return exp.Div(this=num(1.0), expression=exp.Paren(this=_sum(terms, False)))


def _argmax_label(values: Sequence[exp.Expression], classes: Sequence[Any]) -> exp.Case:
    """First index of the maximum, as numpy.argmax."""
    ifs = []
    for i in range(len(values) - 1):
        conds = [exp.GTE(this=paren(values[i]), expression=paren(values[j])) for j in range(i + 1, len(values))]
        ifs.append(exp.If(this=exp.and_(*conds), true=literal(classes[i])))
    return exp.Case(ifs=ifs, default=literal(classes[-1]))


@dataclass(frozen=True)
class ModelSQL:
    """The outputs of a model as sqlglot expressions over its input columns."""

    plan: ModelPlan
    outputs: dict[str, exp.Expression]
    # the model's margins, and the outputs written over margin columns: the form select() uses,
    # so each tree appears once in the query whatever the number of outputs
    margins: tuple[exp.Expression, ...] = ()
    over_margins: dict[str, exp.Expression] = field(default_factory=dict)
    _cache: dict[str, dict[str, str]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def splits(self) -> int:
        """Decision nodes of the model's trees (0 for a linear model): what its SQL costs per row."""
        model = self.plan.model
        if not isinstance(model, TreesPlan):
            return 0
        return int(sum(int((tree.feature >= 0).sum()) for tree in model.trees))

    def sql(self, dialect: str) -> dict[str, str]:
        """Each output's SQL text for ``dialect`` (``duckdb`` or ``postgres``); cached."""
        _check_dialect(dialect)
        if dialect not in self._cache:
            gen = _generator(dialect)
            with deep_recursion():
                self._cache[dialect] = {name: gen(e) for name, e in self.outputs.items()}
        return dict(self._cache[dialect])

    def select(
        self, table: str, dialect: str, *, keep: Sequence[str] = (), outputs: Sequence[str] | None = None,
        schema: str | None = None,
    ) -> str:
        """``SELECT <keep columns>, <outputs> FROM <table>`` for ``dialect``; every name quoted."""
        _check_dialect(dialect)
        names = list(outputs) if outputs is not None else list(self.outputs)
        unknown = [n for n in names if n not in self.outputs]
        if unknown:
            raise UnsupportedPushdown("model to SQL", f"unknown outputs {unknown}; the model has {list(self.outputs)}")

        def ident(name: str) -> str:
            return exp.to_identifier(name, quoted=True).sql(dialect=dialect)

        source = f"{ident(schema)}.{ident(table)}" if schema else ident(table)
        gen = _generator(dialect)
        with deep_recursion():
            margin_sql = [gen(m) for m in self.margins]
            outer = [gen(self.over_margins[n]) for n in names]
        inner = [ident(k) for k in keep] + [f"{m} AS {ident(f'__margin_{i}')}" for i, m in enumerate(margin_sql)]
        parts = [ident(k) for k in keep] + [f"{o} AS {ident(n)}" for o, n in zip(outer, names, strict=True)]
        return f"SELECT {', '.join(parts)} FROM (SELECT {', '.join(inner)} FROM {source}) AS {ident('__scored')}"


class _DuckDBNumbers(DuckDB):
    """DuckDB reads ``1.5e-3`` as an exact DOUBLE; it plans ~40% faster than ``CAST('0.0015' AS DOUBLE)``."""

    class Generator(DuckDBGenerator):
        def cast_sql(self, expression: exp.Cast, safe_prefix: str | None = None) -> str:
            this, to = expression.this, expression.to
            if isinstance(this, exp.Literal) and this.is_string and to.this == exp.DataType.Type.DOUBLE:
                text = this.this
                if text not in ("Infinity", "-Infinity"):
                    sci = text if ("e" in text or "E" in text) else f"{text}e0"
                    return f"({sci})" if sci.startswith("-") else sci
            return str(super().cast_sql(expression, safe_prefix))


def _generator(dialect: str) -> Callable[[exp.Expression], str]:
    _check_dialect(dialect)
    target = _DuckDBNumbers() if dialect == "duckdb" else sqlglot.Dialect.get_or_raise(dialect)

    def generate(e: exp.Expression) -> str:
        # copy=False: the trees are large and shared; generation does not modify them
        return target.generate(e, copy=False, identify=True, unsupported_level=ErrorLevel.RAISE)

    return generate


def _check_dialect(dialect: str) -> None:
    if dialect not in DIALECTS:
        raise UnsupportedPushdown("model to SQL", f"dialect {dialect!r} is not supported; use one of {DIALECTS}")


@contextmanager
def deep_recursion() -> Iterator[None]:
    """Model expressions nest deeply (a tree is nested CASEs): room for sqlglot's recursion."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 50_000))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def compile_plan(plan: ModelPlan) -> ModelSQL:
    """One expression per output of ``plan``: ``prediction`` and ``proba_<class>`` per class."""
    with deep_recursion():
        margins = margins_sql(plan)
        outputs = _outputs(plan, margins)
        refs: list[exp.Expression] = [column(f"__margin_{i}") for i in range(len(margins))]
        over = _outputs(plan, refs)
    return ModelSQL(plan, outputs, tuple(margins), over)


def compile_model(model: Any, *, input_columns: Sequence[str] | None = None) -> ModelSQL:
    """Compile a fitted pipeline / estimator / LightGBM Booster to SQL expressions.

    Raises ``UnsupportedPushdown(step, reason)`` when any step cannot be expressed exactly.
    """
    return compile_plan(plan_model(model, input_columns=input_columns))


def _outputs(plan: ModelPlan, margins: list[exp.Expression]) -> dict[str, exp.Expression]:
    model = plan.model
    f32 = isinstance(model, TreesPlan) and model.float32
    scale = model.sigmoid_scale if isinstance(model, TreesPlan) else 1.0
    names = plan.output_names
    link = plan.link
    probas: list[exp.Expression] = []
    if link == "logistic":
        p1 = _logistic32(margins[0]) if f32 else _logistic(margins[0], scale)
        if plan.is_classifier:
            one = num32(1.0) if f32 else num(1.0)
            probas = [exp.Sub(this=one, expression=exp.Paren(this=p1)), p1]
            value = None
        else:
            value = p1
    elif link == "softmax":
        probas = [_softmax(margins, k) for k in range(len(margins))]
        value = None
    elif link == "exp":
        value = (
            to_real(exp.Exp(this=to_double(margins[0]))) if f32 else exp.Exp(this=margins[0])
        )
    elif link == "none":
        probas = list(margins)
        value = None
    elif link == "proba1":
        probas = [exp.Sub(this=num(1.0), expression=paren(margins[0])), margins[0]]
        value = None
    else:
        value = margins[0]
    out: dict[str, exp.Expression] = {}
    if plan.is_classifier:
        classes = list(plan.classes or ())
        if len(probas) != len(classes):
            raise UnsupportedPushdown(plan.estimator, f"{len(probas)} probabilities for {len(classes)} classes")
        rule = plan.label_rule
        label: exp.Expression
        if rule == "margin_gt0":
            label = exp.Case(ifs=[exp.If(this=exp.GT(this=paren(margins[0]), expression=num(0.0)),
                                         true=literal(classes[1]))], default=literal(classes[0]))
        elif rule == "margin_ge0":
            label = exp.Case(ifs=[exp.If(this=exp.GTE(this=paren(margins[0]), expression=num(0.0)),
                                         true=literal(classes[1]))], default=literal(classes[0]))
        elif rule == "proba_gt_half":
            label = exp.Case(ifs=[exp.If(this=exp.GT(this=paren(probas[1]), expression=num(0.5)),
                                         true=literal(classes[1]))], default=literal(classes[0]))
        elif rule == "argmax_margin":
            label = _argmax_label(margins, classes)
        else:
            label = _argmax_label(probas, classes)
        out[names[0]] = label
        for name, p in zip(names[1:], probas, strict=True):
            out[name] = to_double(p)
    else:
        assert value is not None
        out[names[0]] = to_double(value)
    return out
