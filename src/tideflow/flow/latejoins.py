"""Join a table's attributes after the group, not before it: the keys ``flow.groupkeys`` dropped.

``flow.groupkeys`` groups ``card_id, card_type, is_fraud`` on ``card_id`` alone when the card's type and
label were joined from ``cards`` on its verified unique key, and reads them with ``MIN``. They still
travel the whole fused CTE chain on every payment row: through the window's sort, into the group's
hash table. ``join_after_group`` goes one step further for each dropped key that is a bare column of
such a join: the group leaves it out, the chain no longer carries it (``flow.pruning`` drops it, and
``flow.joins`` the join when nothing else reads the table), and one LEFT JOIN of the grouped rows to
the table reads it back, once per group instead of once per row::

    SELECT "_grouped"."card_id" AS "card_id", "_late0"."card_type" AS "card_type",
           "_grouped"."tx_count" AS "tx_count", ...
    FROM (SELECT "card_id", COUNT(*) AS "tx_count", ... GROUP BY "card_id") AS "_grouped"
    LEFT JOIN "main"."cards" AS "_late0" ON "_grouped"."card_id" = "_late0"."card_id"

Why the rows are the same. In the CTE where the table was joined (LEFT or INNER, its ON condition
equating a verified unique key; each conjunct either reads the table alone, or equates a column of the
table to a column of the other side that reaches the group unchanged as one of its kept keys), every row
carries the table's one matching row, or NULLs when none matches. The dropped key and the kept keys then
reach the group as bare columns through the same relations (renamed, filtered, windowed: never
recomputed). So in each group the dropped key is the column of the one row the same ON condition matches
for the group's keys, or NULL: exactly what the LEFT JOIN after the group reads. A NULL key matches no
row in either place. Only bare ``=`` between columns may read the other side: the group merges values
that are equal (``0.0`` and ``-0.0``, ``1.0`` and ``1.00``), and ``=`` cannot tell them apart either,
where a computed condition could.

Anything the trace cannot follow (an expression, a set operation, a nested WITH, a column list on an
alias, a join condition that reads more than the kept keys, a sampled table, a CTE's name) leaves the
key read with ``MIN``. Identifiers are copied, never rebuilt from their names, so an unquoted
``Card_Type`` stays unquoted (PostgreSQL folds it to lower case on both sides).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

from tideflow.flow.groupkeys import bare_equality, cte_body, lookup_join, plain_group, relations
from tideflow.flow.joins import UniqueKeys
from tideflow.flow.pruning import renames

_GROUPED = "_grouped"
_LATE = "_late"
# What a joined table may carry besides its name and alias: a TABLESAMPLE, hints, a FOR SYSTEM_TIME
# would be applied a second time by the late join, differently.
_PLAIN_TABLE = frozenset({"this", "db", "catalog", "alias"})
_PROBE = "tide_late_join"  # marks an original join in the copy ``_narrowing`` prunes


@dataclass(frozen=True, eq=False)
class _Step:
    """Where a column of the group's input is, one SELECT down: ``select`` reads it as ``alias``.``ident``."""

    select: exp.Select
    alias: str
    ident: exp.Identifier

    def same(self, other: _Step) -> bool:
        return self.select is other.select and self.alias == other.alias and self.ident.name == other.ident.name


@dataclass(eq=False)
class _Late:
    """One join to run again after the group, as ``alias``: the keys it gives (output name -> column)."""

    join: exp.Join
    alias: str
    on: exp.Expr  # the ON condition, over the grouped rows and the late table
    keys: dict[str, exp.Identifier] = field(default_factory=dict)


# Prunes a query's CTE chain (``flow.sqlgen.tidy``), saying in the list, when one is given, which joins it
# left out.
Retidy = Callable[[exp.Query, list[str] | None], object]


def join_after_group(query: exp.Query, dropped: list[str], unique: UniqueKeys, retidy: Retidy,
                     notes: list[str] | None = None) -> tuple[exp.Query, list[tuple[str, list[str]]]]:
    """``query`` (a grouped SELECT whose ``dropped`` keys ``flow.groupkeys`` reads with MIN or BOOL_AND)
    with each of those keys it can, joined from its table after the group (see the module docstring);
    ``retidy`` prunes the CTE chain once the group reads less (the joins it leaves out said in ``notes``).
    Returns the new query and, per late join, its table's name and the keys it gives (none, and ``query``
    unchanged, when no key can move)."""
    if not dropped or not isinstance(query, exp.Select) or not plain_group(query) \
            or any(query.args.get(k) for k in ("having", "qualify", "order", "limit", "offset", "windows")):
        return query, []
    with_ = query.args.get("with_")
    ctes = {cte.alias: cte.this for cte in with_.expressions} if isinstance(with_, exp.With) else {}
    source = query.args["from_"].this
    keys = {k.name for k in query.args["group"].expressions if isinstance(k, exp.Column)}
    kept: dict[str, tuple[exp.Identifier, list[_Step]]] = {}  # a kept key's output -> its name, its path
    lates: list[_Late] = []
    for projection in query.expressions:
        value = projection.this if isinstance(projection, exp.Alias) else projection
        if isinstance(value, exp.Column) and value.name in keys:
            kept[projection.alias_or_name] = (_output(projection), _descend(source, value.name, ctes))
    for projection in query.expressions:
        value = projection.this if isinstance(projection, exp.Alias) else None
        # the projections groupkeys rewrote: MIN(kind) AS kind (not a user's MIN(kind) AS kind_min)
        if isinstance(value, exp.Min | exp.LogicalAnd) and isinstance(value.this, exp.Column) \
                and value.this.name in dropped and projection.alias_or_name == value.this.name:
            path = _descend(source, value.this.name, ctes)
            late = _late_join(path, kept, ctes, unique, lates)
            if late is not None:
                late.keys[projection.alias_or_name] = path[-1].ident
    lates = _narrowing(query, [late for late in lates if late.keys], retidy)
    if not lates:
        return query, []
    return _rewrite(query, lates, retidy, notes), [(str(late.join.this.name), list(late.keys)) for late in lates]


def _narrowing(query: exp.Select, lates: list[_Late], retidy: Retidy) -> list[_Late]:
    """The late joins worth making: those of which some column then leaves the rows below the group. On a
    copy of ``query`` without the moved keys, pruned: where the original join still hands every column
    it would give on (an aggregate still reads it, a DISTINCT keeps it), a late join adds work and saves
    none, and its keys stay read with MIN."""
    for i, late in enumerate(lates):
        late.join.meta[_PROBE] = i
    try:
        probe = query.copy()
    finally:
        for late in lates:
            late.join.meta.pop(_PROBE, None)
    moved = {name for late in lates for name in late.keys}
    probe.set("expressions", [p for p in probe.expressions if p.alias_or_name not in moved])
    retidy(probe, None)
    still: dict[int, exp.Select | None] = {}  # late join -> its SELECT in the probe (None: the join is gone)
    for join in probe.find_all(exp.Join):
        if _PROBE in join.meta:
            still[join.meta[_PROBE]] = join.parent_select
    worth = []
    for i, late in enumerate(lates):
        select = still.get(i)
        alias = late.join.this.alias_or_name
        columns = {ident.name for ident in late.keys.values()}
        carried = {c.name for p in (select.expressions if select is not None else [])
                   for c in p.find_all(exp.Column) if c.table == alias}
        if not columns <= carried:
            worth.append(late)
    return worth


def _output(projection: exp.Expr) -> exp.Identifier:
    """The identifier a projection names its output with (copied as written: quoted or not)."""
    alias = projection.args.get("alias") if isinstance(projection, exp.Alias) else None
    ident = alias if isinstance(alias, exp.Identifier) else projection.this if isinstance(projection, exp.Column) \
        else None
    return ident.copy() if isinstance(ident, exp.Identifier) else exp.to_identifier(projection.alias_or_name,
                                                                                       quoted=True)


def _descend(relation: exp.Expr, name: str, ctes: dict[str, exp.Expr]) -> list[_Step]:
    """The SELECTs column ``name`` of ``relation`` passes through unchanged, top down, each with where it
    reads it from; the path ends where it is read from a stored table (not a CTE, not a subquery), or
    early where it is computed or cannot be placed. It always ends: a CTE only sees the CTEs before it."""
    path: list[_Step] = []
    while True:
        if isinstance(relation, exp.Table | exp.Subquery) and renames(relation):
            return path
        if isinstance(relation, exp.Table) and (body := cte_body(relation, ctes)) is not None:
            relation = body
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
        if not isinstance(value, exp.Column) or not isinstance(value.this, exp.Identifier):
            return path
        alias = value.table or (next(iter(sources)) if len(sources) == 1 else "")
        if alias not in sources:
            return path
        path.append(_Step(relation, alias, value.this))
        relation, name = sources[alias], value.name
        if isinstance(relation, exp.Table) and cte_body(relation, ctes) is None:
            return path


def _late_join(path: list[_Step], kept: dict[str, tuple[exp.Identifier, list[_Step]]], ctes: dict[str, exp.Expr],
               unique: UniqueKeys, lates: list[_Late]) -> _Late | None:
    """The late join (in ``lates``, added there the first time: one per original join) that gives the
    dropped key whose ``path`` leads to a joined table; None when it cannot be joined after the group."""
    if not path:
        return None
    last, depth = path[-1], len(path) - 1
    join = next((j for j in last.select.args.get("joins") or [] if j.this.alias_or_name == last.alias), None)
    if join is None or not lookup_join(join, ctes, unique) \
            or any(v for k, v in join.this.args.items() if k not in _PLAIN_TABLE):
        return None
    late = next((x for x in lates if x.join is join), None)
    if late is not None:
        return late
    on = join.args["on"]
    grouped: dict[tuple[str, str], exp.Identifier] = {}  # other side's column -> the kept key's output
    for conjunct in on.flatten() if isinstance(on, exp.And) else [on]:
        others = [c for c in conjunct.find_all(exp.Column) if c.table != last.alias]
        if not others:
            continue  # reads the table alone
        if not bare_equality(conjunct) or len(others) != 1 or not others[0].table:
            return None  # only a bare column = a bare column of the table may read the other side
        ref = others[0]
        here = _Step(last.select, ref.table, ref.this)
        key = next((out for out, (_, steps) in kept.items() if len(steps) > depth and steps[depth].same(here)
                    and _same_route(steps, path, depth)), None)
        if key is None:
            return None  # a column the group's keys do not carry unchanged
        grouped[(ref.table, ref.name)] = kept[key][0]
    alias = f"{_LATE}{len(lates)}"

    def rebind(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Column):
            return node
        if node.table == last.alias:
            return exp.Column(this=node.this.copy(), table=exp.to_identifier(alias, quoted=True))
        return exp.Column(this=grouped[(node.table, node.name)].copy(), table=exp.to_identifier(_GROUPED, quoted=True))

    late = _Late(join=join, alias=alias, on=on.transform(rebind))
    lates.append(late)
    return late


def _same_route(steps: list[_Step], path: list[_Step], depth: int) -> bool:
    """A kept key reaches the join's SELECT through the same relations as the dropped key: at every
    SELECT above it both are read from the same alias (so an outer join there nulls both or neither)."""
    return all(a.select is b.select and a.alias == b.alias for a, b in zip(steps[:depth], path[:depth], strict=True))


def _rewrite(query: exp.Select, lates: list[_Late], retidy: Retidy, notes: list[str] | None) -> exp.Query:
    late_of = {name: late for late in lates for name in late.keys}
    outputs = [(p.alias_or_name, _output(p)) for p in query.expressions]
    query.set("expressions", [p for p in query.expressions if p.alias_or_name not in late_of])
    retidy(query, notes)  # the chain drops what only the moved keys read, and the joins nothing reads then
    with_ = query.args.get("with_")
    query.set("with_", None)
    projections = []
    for name, ident in outputs:
        late = late_of.get(name)
        column = late.keys[name] if late is not None else ident
        table = late.alias if late is not None else _GROUPED
        projections.append(exp.Alias(this=exp.Column(this=column.copy(), table=exp.to_identifier(table, quoted=True)),
                                     alias=ident.copy()))
    outer = exp.select(*projections).from_(
        exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier(_GROUPED, quoted=True))))
    for late in lates:
        table = late.join.this.copy()
        table.set("alias", exp.TableAlias(this=exp.to_identifier(late.alias, quoted=True)))
        outer = outer.join(table, on=late.on, join_type="LEFT")
    if isinstance(with_, exp.With):
        outer.set("with_", with_)
    return outer
