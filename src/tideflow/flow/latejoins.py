"""Join a table's attributes after the group, not before it: the keys ``flow.groupkeys`` dropped.

``flow.groupkeys`` groups ``card_id, card_type, is_fraud`` on ``card_id`` alone when the card's type and
label were joined from ``cards`` on its verified unique key, and reads them with ``MIN``. They still
travel the whole fused CTE chain on every payment row: through the window's sort, into the group's
hash table. ``join_after_group`` goes one step further for each dropped key that is a bare column of
such a join: the group leaves it out, the chain no longer carries it (``flow.pruning`` drops it, and
``flow.joins`` the join when nothing else reads the table), and one LEFT JOIN of the grouped rows to
the table reads it back, once per group instead of once per row::

    SELECT "_grouped"."card_id", "_late0"."card_type" AS "card_type", "_grouped"."tx_count", ...
    FROM (SELECT "card_id", COUNT(*) AS "tx_count", ... GROUP BY "card_id") AS "_grouped"
    LEFT JOIN "main"."cards" AS "_late0" ON "_grouped"."card_id" = "_late0"."card_id"

Why the rows are the same. In the CTE where the table was joined (LEFT or INNER, its ON condition
equating a verified unique key, and reading nothing on the other side but columns that reach the group
unchanged as its kept keys), every row carries the table's one matching row, or NULLs when none
matches. The dropped key and the kept keys then reach the group as bare columns through the same
relations (renamed, filtered, windowed: never recomputed). So in each group the dropped key is the
column of the one row the same ON condition matches for the group's keys, or NULL: exactly what the
LEFT JOIN after the group reads. A NULL key matches no row in either place.

Anything the trace cannot follow (an expression, a set operation, a nested WITH, a join condition that
reads more than the kept keys, a table that is a CTE) leaves the key read with ``MIN``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from tideflow.flow.groupkeys import lookup_join, relations
from tideflow.flow.joins import UniqueKeys

GROUPED = "_grouped"
LATE = "_late"


@dataclass(frozen=True)
class _Step:
    """Where a column of the group's input is, one SELECT down: ``select`` reads it as ``alias.column``."""

    select: exp.Select
    alias: str
    column: str

    def same(self, other: _Step) -> bool:
        return self.select is other.select and self.alias == other.alias and self.column == other.column


@dataclass
class _Late:
    """One join to re-run after the group, as ``alias``: the moved keys it gives, output name -> column."""

    join: exp.Join
    alias: str
    on: exp.Expr  # the ON condition, over the grouped rows and the late table
    keys: dict[str, str]


def join_after_group(query: exp.Query, dropped: list[str], unique: UniqueKeys,
                     retidy: Callable[[exp.Query], object]) -> tuple[exp.Query, dict[str, str]]:
    """``query`` (a grouped SELECT whose ``dropped`` keys ``flow.groupkeys`` reads with MIN) with each of
    those keys it can, joined from its table after the group (see the module docstring); ``retidy``
    prunes the CTE chain once the group reads less. Returns the new query and the keys moved, by output
    name -> the table they are joined from (empty, and ``query`` unchanged, when none can be)."""
    if not dropped or not isinstance(query, exp.Select) or not _plain_group(query):
        return query, {}
    with_ = query.args.get("with_")
    ctes = {cte.alias: cte.this for cte in with_.expressions} if isinstance(with_, exp.With) else {}
    source = query.args["from_"].this
    kept: dict[str, list[_Step]] = {}  # a kept key's output name -> its path down the chain
    for projection in query.expressions:
        value = projection.this if isinstance(projection, exp.Alias) else projection
        if isinstance(value, exp.Column) and any(k.name == value.name for k in query.args["group"].expressions):
            kept[projection.alias_or_name] = _descend(source, value.name, ctes)
    lates: list[_Late] = []
    moved: dict[str, str] = {}
    for projection in query.expressions:
        value = projection.this if isinstance(projection, exp.Alias) else None
        if isinstance(value, exp.Min | exp.LogicalAnd) and isinstance(value.this, exp.Column) \
                and value.this.name in dropped:
            table = _late_key(projection.alias_or_name, _descend(source, value.this.name, ctes), kept, ctes,
                              unique, lates)
            if table is not None:
                moved[projection.alias_or_name] = table
    if not moved:
        return query, {}
    return _rewrite(query, lates, retidy), moved


def _plain_group(query: exp.Select) -> bool:
    """A SELECT .. FROM one relation GROUP BY columns, and nothing after the group that could read a key."""
    group = query.args.get("group")
    from_ = query.args.get("from_")
    return (isinstance(group, exp.Group) and isinstance(from_, exp.From) and not query.args.get("joins")
            and not any(query.args.get(k) for k in ("distinct", "having", "qualify", "order", "limit", "offset",
                                                    "windows"))
            and not any(group.args.get(k) for k in ("rollup", "cube", "grouping_sets"))
            and all(isinstance(k, exp.Column) for k in group.expressions))


def _descend(relation: exp.Expr, name: str, ctes: dict[str, exp.Expr]) -> list[_Step]:
    """The SELECTs column ``name`` of ``relation`` passes through unchanged, top down, each with where it
    reads it from; the path ends where it is read from a stored table (not a CTE, not a subquery), or
    early where it is computed or cannot be placed."""
    path: list[_Step] = []
    while True:
        if isinstance(relation, exp.Table) and not relation.db and not relation.catalog \
                and relation.name in ctes:
            relation = ctes[relation.name]
            continue
        if isinstance(relation, exp.Subquery):
            relation = relation.this
            continue
        if not isinstance(relation, exp.Select) or relation.args.get("with_"):
            return path
        sources = relations(relation)
        matches = [p for p in relation.expressions if p.alias_or_name == name]
        if sources is None or len(matches) != 1 or any(p.is_star for p in relation.expressions):
            return path
        value = matches[0].this if isinstance(matches[0], exp.Alias) else matches[0]
        if not isinstance(value, exp.Column) or isinstance(value.this, exp.Star):
            return path
        alias = value.table or (next(iter(sources)) if len(sources) == 1 else "")
        if alias not in sources:
            return path
        path.append(_Step(relation, alias, value.name))
        relation, name = sources[alias], value.name
        if isinstance(relation, exp.Table) and (relation.db or relation.catalog or relation.name not in ctes):
            return path


def _late_key(output: str, path: list[_Step], kept: dict[str, list[_Step]], ctes: dict[str, exp.Expr],
              unique: UniqueKeys, lates: list[_Late]) -> str | None:
    """Record in ``lates`` the join that gives the dropped key read as ``output``, whose ``path`` leads to
    it (one late join per original join); return the table's name, or None when it cannot be moved."""
    if not path:
        return None
    last, depth = path[-1], len(path) - 1
    join = next((j for j in last.select.args.get("joins") or [] if j.this.alias_or_name == last.alias), None)
    if join is None or not lookup_join(join, ctes, unique):
        return None
    late = next((x for x in lates if x.join is join), None)
    if late is None:
        on = join.args["on"]
        grouped: dict[tuple[str, str], str] = {}
        for ref in on.find_all(exp.Column):
            if ref.table == last.alias:
                continue
            here = _Step(last.select, ref.table, ref.name)
            key = next((out for out, steps in kept.items() if len(steps) > depth and steps[depth].same(here)
                        and _same_route(steps, path, depth)), None)
            if key is None or not ref.table:
                return None  # the condition reads a column the group's keys do not carry unchanged
            grouped[(ref.table, ref.name)] = key
        alias = f"{LATE}{len(lates)}"

        def rebind(node: exp.Expr) -> exp.Expr:
            if not isinstance(node, exp.Column):
                return node
            if node.table == last.alias:
                return exp.column(node.name, table=alias, quoted=True)
            return exp.column(grouped[(node.table, node.name)], table=GROUPED, quoted=True)

        late = _Late(join=join, alias=alias, on=on.transform(rebind), keys={})
        lates.append(late)
    late.keys[output] = last.column
    return str(join.this.name)


def _same_route(steps: list[_Step], path: list[_Step], depth: int) -> bool:
    """A kept key reaches the join's SELECT through the same relations as the dropped key: at every
    SELECT above it both are read from the same alias (so an outer join there nulls both or neither)."""
    return all(a.select is b.select and a.alias == b.alias for a, b in zip(steps[:depth], path[:depth], strict=True))


def _rewrite(query: exp.Select, lates: list[_Late], retidy: Callable[[exp.Query], object]) -> exp.Query:
    by_output = {name: (late.alias, column) for late in lates for name, column in late.keys.items()}
    order = [p.alias_or_name for p in query.expressions]
    query.set("expressions", [p for p in query.expressions if p.alias_or_name not in by_output])
    retidy(query)  # the chain drops what only the moved keys read, and the joins nothing reads then
    with_ = query.args.get("with_")
    query.set("with_", None)
    projections = []
    for name in order:
        table, column = by_output.get(name, (GROUPED, name))
        projections.append(exp.alias_(exp.column(column, table=table, quoted=True), name, quoted=True))
    outer = exp.select(*projections).from_(
        exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier(GROUPED, quoted=True))))
    for late in lates:
        table = late.join.this.copy()
        table.set("alias", exp.TableAlias(this=exp.to_identifier(late.alias, quoted=True)))
        outer = outer.join(table, on=late.on, join_type="LEFT")
    if isinstance(with_, exp.With):
        outer.set("with_", with_)
    return outer
