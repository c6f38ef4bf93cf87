"""The join recipe: ``inputs[0]`` joined with each clause in order.

Inputs are aliased ``_j0`` (the first) and ``_j1``, ``_j2``... (one per clause). ``semi`` and
``left_anti`` clauses become [NOT] EXISTS filters on the running result; when a right or full
join follows such a filter, the running result is first wrapped in a subquery so that the filter
applies before that join (clause order is the order of evaluation).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from tideflow.engines.sql.build import Ctx, SqlInput, alias, and_all, col, from_item, input_rel, select
from tideflow.errors import did_you_mean
from tideflow.recipes import visual as v
from tideflow.recipes.types import ColumnType, Schema, common_type

_SIDES = {
    "inner": (None, "INNER"),
    "left": ("LEFT", None),
    "right": ("RIGHT", None),
    "full": ("FULL", None),
    "cross": (None, "CROSS"),
}


class _Running:
    """Where each (input, column) of the running result is read from."""

    def __init__(self) -> None:
        self.refs: dict[tuple[str, str], exp.Expr] = {}
        self.types: dict[tuple[str, str], ColumnType] = {}

    def add(self, input_name: str, table_alias: str, schema: Schema) -> None:
        for column, typ in schema.items():
            self.refs[(input_name, column)] = col(column, table_alias)
            self.types[(input_name, column)] = typ


def _on(
    clause: v.JoinClause,
    right_alias: str,
    right: SqlInput,
    running: _Running,
    joined: list[str],
    ctx: Ctx,
    kp: str,
) -> exp.Expr:
    conditions: list[exp.Expr] = []
    for i, key in enumerate(clause.on):
        left_input = key.left_input or joined[0]
        if left_input not in joined:
            raise ctx.error(
                f"{kp}.on[{i}].left_input",
                f"input {left_input!r} is not joined yet"
                f"{did_you_mean(left_input, joined)} (joined so far: {', '.join(joined)})",
            )
        left_schema = {c: t for (n, c), t in running.types.items() if n == left_input}
        left_type = ctx.check_column(key.left, left_schema, f"{kp}.on[{i}].left")
        right_type = ctx.check_column(key.right, right.schema, f"{kp}.on[{i}].right")
        if common_type(left_type, right_type) is None:
            raise ctx.error(
                f"{kp}.on[{i}]",
                f"cannot compare {key.left!r} ({left_type.value}) with "
                f"{key.right!r} ({right_type.value}): cast one of them first",
            )
        conditions.append(
            exp.EQ(this=running.refs[(left_input, key.left)].copy(), expression=col(key.right, right_alias))
        )
    return and_all(conditions)


def _selected(
    name: str, schema: Schema, dropped: set[str], select_spec: Mapping[str, v.JoinSelect], ctx: Ctx
) -> list[tuple[str, str, ColumnType]]:
    spec = select_spec.get(name, v.JoinSelect())
    columns = spec.columns if spec.columns is not None else [c for c in schema if c not in dropped]
    for c in columns:
        ctx.check_name_length(spec.prefix + c, f"select.{name}.prefix" if spec.prefix else f"select.{name}.columns")
    return [
        (spec.prefix + c, c, ctx.check_column(c, schema, f"select.{name}.columns[{i}]")) for i, c in enumerate(columns)
    ]


def compile_join(
    recipe: v.JoinRecipe, sources: Mapping[str, SqlInput], ctx: Ctx
) -> dict[str, tuple[exp.Query, Schema]]:
    first = recipe.inputs[0]
    for name in recipe.select:
        if name not in recipe.inputs:
            raise ctx.error(f"select.{name}", f"unknown input {name!r}{did_you_mean(name, recipe.inputs)}")
    running = _Running()
    running.add(first, "_j0", sources[first].schema)
    joined = [first]
    query = exp.Select().from_(from_item(sources[first].relation, "_j0"), copy=False)
    pending: list[exp.Expr] = []
    outputs: list[tuple[str, str, str, ColumnType]] = [
        (out, first, c, t) for out, c, t in _selected(first, sources[first].schema, set(), recipe.select, ctx)
    ]
    for i, clause in enumerate(recipe.joins):
        kp = f"joins[{i}]"
        name = clause.with_
        if name not in sources or name not in recipe.inputs:
            raise ctx.error(
                f"{kp}.with",
                f"unknown input {name!r}{did_you_mean(name, recipe.inputs)} (inputs: {', '.join(recipe.inputs)})",
            )
        if name in joined:
            raise ctx.error(f"{kp}.with", f"input {name!r} is already joined; list a dataset once per recipe")
        right, right_alias = sources[name], f"_j{i + 1}"
        on = _on(clause, right_alias, right, running, joined, ctx, kp)
        if clause.type in ("semi", "left_anti"):
            if name in recipe.select:
                raise ctx.error(
                    f"select.{name}", f"input {name!r} is {clause.type} joined: it adds no columns to select"
                )
            exists: exp.Expr = exp.Exists(
                this=exp.Select(expressions=[exp.Literal.number(1)])
                .from_(from_item(right.relation, right_alias), copy=False)
                .where(on, copy=False)
            )
            pending.append(exists if clause.type == "semi" else exp.Not(this=exists))
            continue
        if pending and clause.type in ("right", "full"):
            query = _wrap(query, pending, running, f"_r{i}")
            pending = []
            on = _on(clause, right_alias, right, running, joined, ctx, kp)
        side, kind = _SIDES[clause.type]
        query = query.join(
            exp.Join(
                this=from_item(right.relation, right_alias),
                side=side,
                kind=kind,
                on=None if clause.type == "cross" else on,
            ),
            copy=False,
        )
        running.add(name, right_alias, right.schema)
        joined.append(name)
        right_keys = {k.right for k in clause.on}
        outputs += [(out, name, c, t) for out, c, t in _selected(name, right.schema, right_keys, recipe.select, ctx)]
    ctx.check_new_names([o[0] for o in outputs], "select")
    query.set("expressions", [_project(running.refs[(n, c)], out) for out, n, c, _ in outputs])
    if pending:
        query = query.where(and_all(pending), copy=False)
    result: dict[str, tuple[exp.Query, Schema]] = {
        _main_output(recipe, ctx): (query, {out: t for out, _, _, t in outputs})
    }
    if recipe.unmatched_output is not None:
        result[recipe.unmatched_output] = _unmatched(recipe, sources, ctx)
    return result


def _project(ref: exp.Expr, name: str) -> exp.Expr:
    return ref.copy() if ref.name == name else alias(ref.copy(), name)


def _wrap(query: exp.Select, pending: list[exp.Expr], running: _Running, name: str) -> exp.Select:
    """Apply the pending semi/anti filters now: the running result becomes a subquery."""
    keys = list(running.refs)
    inner = query.select(*(alias(running.refs[k].copy(), f"c{j}") for j, k in enumerate(keys)), copy=False)
    inner = inner.where(and_all(pending), copy=False)
    for j, key in enumerate(keys):
        running.refs[key] = col(f"c{j}", name)
    return exp.Select().from_(from_item(inner, name, copy=False), copy=False)


def _main_output(recipe: v.JoinRecipe, ctx: Ctx) -> str:
    mains = [o for o in recipe.outputs if o != recipe.unmatched_output]
    if len(mains) != 1:
        raise ctx.error("outputs", f"a join writes one output (plus 'unmatched_output'), got {recipe.outputs}")
    return mains[0]


def _unmatched(recipe: v.JoinRecipe, sources: Mapping[str, SqlInput], ctx: Ctx) -> tuple[exp.Query, Schema]:
    """Rows of the first input with no match in the first clause, with the first input's columns."""
    clause = recipe.joins[0]
    if clause.type not in ("inner", "left"):
        raise ctx.error("unmatched_output", f"expected the first join to be inner or left, got {clause.type!r}")
    if recipe.unmatched_output not in recipe.outputs:
        raise ctx.error("unmatched_output", f"{recipe.unmatched_output!r} is not one of the outputs {recipe.outputs}")
    first = recipe.inputs[0]
    running = _Running()
    running.add(first, "_j0", sources[first].schema)
    right = sources[clause.with_]
    on = _on(clause, "_j1", right, running, [first], ctx, "joins[0]")
    exists = exp.Exists(
        this=exp.Select(expressions=[exp.Literal.number(1)])
        .from_(from_item(right.relation, "_j1"), copy=False)
        .where(on, copy=False)
    )
    schema = dict(sources[first].schema)
    query = select([col(c, "_j0") for c in schema], input_rel(sources[first], "_j0"))
    return query.where(exp.Not(this=exists), copy=False), schema
