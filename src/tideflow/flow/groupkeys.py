"""Drop the GROUP BY keys that the other keys determine, through a join to a verified unique key.

A group recipe often keys on an id and on attributes that came with it from a joined table (``card_id,
card_type, card_country``: the card's type and country were joined from ``cards`` on ``card_id``). When
``card_id`` is a verified unique key of ``cards`` (``unique:`` on the source), every row of one
``card_id`` carries the same type and country, so grouping on ``card_id`` alone makes the same groups.
The other keys then cost a wider hash key or sort key for nothing: on PostgreSQL a ``COUNT(DISTINCT ..)``
makes the group sort on every key, and a window below the group has often sorted by the id already.
``reduce_group_keys`` keeps the determining keys in ``GROUP BY`` and reads each dropped one with
``MIN`` (``BOOL_AND`` for a boolean): one value per group, so the same rows come out.

What determines what (functional dependencies) is traced from the group's input down the fused CTE
chain, conservatively:

- a LEFT or INNER join to a table whose verified unique key the ON condition equates to columns of the
  other side makes every column of that table a function of the columns of the other side the ON
  condition reads (a value there matches at most one row; no match gives NULLs, a NULL matches none);
- a projection keeps a column (renamed or not), or computes it from columns by a row-wise expression
  without aggregates, windows, subqueries or randomness; a WHERE, a window or a DISTINCT keeps rows or
  drops some, never changing a column's value;
- a GROUP BY keeps what holds among its keys, and its keys determine all of its output.

Anything else (a set operation, a RIGHT or FULL join, ``*``, an unqualified column where two relations
could hold it, a nested WITH) ends the trace there: a key nothing proves determined stays a key. A
unique key is never taken as determining its own table's rows: NULL keys may repeat there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlglot import exp

from tideflow.flow.joins import UniqueKeys, keyed_join
from tideflow.recipes.types import ColumnType

# Functions whose value is not a function of their arguments: a column they compute determines nothing.
_RANDOM = (exp.Rand, exp.Randn, exp.Randstr, exp.Uuid)
_RANDOM_NAMES = frozenset({"RANDOM", "RAND", "UUID", "GEN_RANDOM_UUID", "UUIDV4", "UUIDV7", "NEWID", "SETSEED",
                           "NEXTVAL", "CURRVAL", "RANDOM_NORMAL", "RANDN"})
# Nodes that compute a value from more than the row (or from no row): never row-wise.
_NOT_ROWWISE = (exp.AggFunc, exp.Window, exp.Query, exp.Subquery, exp.Exists, exp.Explode, exp.Unnest,
                exp.Posexplode, *_RANDOM)


@dataclass(frozen=True)
class Determined:
    """The output columns of a relation determined by some of its columns; ``every`` = all of them."""

    names: frozenset[str]
    every: bool = False

    def __contains__(self, name: str) -> bool:
        return self.every or name in self.names


def reduce_group_keys(query: exp.Query, unique: UniqueKeys, types: Mapping[str, ColumnType]) -> list[str]:
    """Drop from ``query``'s own GROUP BY (changed in place) the keys its other keys determine (see the
    module docstring); return the dropped keys' names. ``types`` are the logical types of the columns of
    the group's input. A key is only dropped when the SELECT reads it nowhere but as a bare projection."""
    if not isinstance(query, exp.Select):
        return []
    group = query.args.get("group")
    from_ = query.args.get("from_")
    if (not isinstance(group, exp.Group) or not isinstance(from_, exp.From) or query.args.get("joins")
            or query.args.get("distinct") or any(group.args.get(k) for k in ("rollup", "cube", "grouping_sets"))):
        return []
    source = from_.this
    keys = list(group.expressions)
    if len(keys) < 2 or not all(isinstance(k, exp.Column) and k.table in ("", source.alias_or_name) for k in keys):
        return []
    tracer = _Tracer(query, unique)
    kept = list(keys)
    dropped: list[exp.Column] = []
    for key in reversed(keys):  # the first keys stay: ``card_id, card_type`` keeps card_id
        others = frozenset(k.name for k in kept if k is not key)
        if key.name in others or types.get(key.name) is None or not _only_projected(query, key.name):
            continue
        if key.name in tracer.closure(source, others):
            kept.remove(key)
            dropped.append(key)
    if not dropped:
        return []
    group.set("expressions", kept)
    for key in dropped:
        for projection in list(query.expressions):
            column = projection.this if isinstance(projection, exp.Alias) else projection
            if isinstance(column, exp.Column) and column.name == key.name:
                one = exp.LogicalAnd if types[key.name] == ColumnType.BOOLEAN else exp.Min
                name = projection.args.get("alias") or exp.to_identifier(key.name, quoted=True)
                projection.replace(exp.Alias(this=one(this=column.copy()), alias=name.copy()))
    return [k.name for k in reversed(dropped)]


def _only_projected(select: exp.Select, name: str) -> bool:
    """``name`` is read by ``select``'s projections, HAVING, QUALIFY and ORDER BY only as a whole
    projection or inside an aggregate (its WHERE and FROM read rows before they are grouped)."""
    parts = [*select.expressions, *(select.args.get(k) for k in ("having", "qualify", "order"))]
    for part in parts:
        if part is None:
            continue
        if any(isinstance(n, exp.Query) for n in part.walk()):
            return False
        for column in part.find_all(exp.Column):
            if column.name != name or column is part or (isinstance(part, exp.Alias) and column is part.this):
                continue
            if not _under(column, exp.AggFunc, stop=part):
                return False
    return True


def _under(node: exp.Expr, kind: type[exp.Expr], stop: exp.Expr) -> bool:
    parent = node.parent
    while parent is not None:
        if isinstance(parent, kind):
            return True
        if parent is stop:
            return False
        parent = parent.parent
    return False


def rowwise(expression: exp.Expr) -> bool:
    for node in expression.walk():
        if isinstance(node, _NOT_ROWWISE):
            return False
        if isinstance(node, exp.Anonymous) and str(node.this).upper() in _RANDOM_NAMES:
            return False
    return True


class _Tracer:
    """Functional dependencies of the relations of one query, from its CTEs down to its tables."""

    def __init__(self, query: exp.Query, unique: UniqueKeys) -> None:
        with_ = query.args.get("with_")
        self.ctes = {cte.alias: cte.this for cte in with_.expressions} if isinstance(with_, exp.With) else {}
        self.unique = unique
        self.memo: dict[tuple[int, frozenset[str]], Determined] = {}

    def closure(self, relation: exp.Expr, given: frozenset[str]) -> Determined:
        """The output columns of ``relation`` that its columns ``given`` determine."""
        memo_key = (id(relation), given)
        if memo_key not in self.memo:
            self.memo[memo_key] = Determined(given)  # a cycle (none in SQL) would find nothing new
            self.memo[memo_key] = self._closure(relation, given)
        return self.memo[memo_key]

    def _closure(self, relation: exp.Expr, given: frozenset[str]) -> Determined:
        if isinstance(relation, exp.Table):
            body = self.ctes.get(relation.name) if not relation.db and not relation.catalog else None
            return self.closure(body, given) if body is not None else Determined(given)
        if isinstance(relation, exp.Subquery):
            return self.closure(relation.this, given)
        if isinstance(relation, exp.Select):
            return self._select(relation, given)
        return Determined(given)

    def _select(self, select: exp.Select, given: frozenset[str]) -> Determined:
        sources = relations(select)
        if sources is None or select.args.get("with_") or any(p.is_star for p in select.expressions):
            return Determined(given)
        only = next(iter(sources)) if len(sources) == 1 else None
        outputs: dict[str, tuple[exp.Expr, set[tuple[str, str]] | None]] = {}
        for projection in select.expressions:
            value = projection.this if isinstance(projection, exp.Alias) else projection
            outputs[projection.alias_or_name] = (value, _refs(value, sources, only))
        known: set[tuple[str, str]] = set()
        for name in given:
            value, refs = outputs.get(name, (None, None))
            if isinstance(value, exp.Column) and refs:
                known |= refs
        whole: set[str] = set()  # the sources every column of which is determined
        transfers = [t for t in (self._transfer(select, join, sources) for join in select.args.get("joins") or [])
                     if t is not None]
        changed = True
        while changed:
            changed = False
            for alias, relation in sources.items():
                if alias in whole:
                    continue
                found = self.closure(relation, frozenset(c for a, c in known if a == alias))
                if found.every:
                    whole.add(alias)
                    changed = True
                new = {(alias, c) for c in found.names} - known
                if new:
                    known |= new
                    changed = True
            for needs, right in transfers:
                if right not in whole and all(a in whole or (a, c) in known for a, c in needs):
                    whole.add(right)
                    changed = True

        def holds(ref: tuple[str, str]) -> bool:
            return ref[0] in whole or ref in known

        group = select.args.get("group")
        if isinstance(group, exp.Group):
            if any(group.args.get(k) for k in ("rollup", "cube", "grouping_sets")):
                return Determined(given)
            key_refs = [_refs(k, sources, only) if isinstance(k, exp.Column) else None for k in group.expressions]
            if all(r is not None and all(holds(x) for x in r) for r in key_refs):
                return Determined(given, every=True)
        names = set(given)
        for name, (value, refs) in outputs.items():
            if refs is not None and rowwise(value) and all(holds(r) for r in refs):
                names.add(name)
        return Determined(frozenset(names))

    def _transfer(self, select: exp.Select, join: exp.Join,
                  sources: dict[str, exp.Expr]) -> tuple[set[tuple[str, str]], str] | None:
        """(columns of the other relations the ON condition reads, the joined table's alias) when the join
        is to a table on a verified unique key: those columns then determine every column of the table."""
        if not lookup_join(join, self.ctes, self.unique):
            return None
        on = join.args["on"]
        right = join.this.alias_or_name
        needs: set[tuple[str, str]] = set()
        for column in on.find_all(exp.Column):
            if not column.table or column.table not in sources:
                return None
            if column.table != right:
                needs.add((column.table, column.name))
        return needs, right


def lookup_join(join: exp.Join, ctes: Mapping[str, exp.Expr], unique: UniqueKeys) -> bool:
    """A LEFT or INNER join to a stored table (not one of ``ctes``) whose row-wise ON condition equates a
    verified unique key: each row of the other side gets the table's one matching row, or none."""
    table = join.this
    side, kind = (join.side or "").upper(), (join.kind or "").upper()
    if not isinstance(table, exp.Table) or (side, kind) not in (("", ""), ("", "INNER"), ("LEFT", ""),
                                                                 ("LEFT", "OUTER")):
        return False
    if not table.db and not table.catalog and table.name in ctes:
        return False
    on = join.args.get("on")
    return on is not None and rowwise(on) and keyed_join(join, unique)


def relations(select: exp.Select) -> dict[str, exp.Expr] | None:
    """The relations of ``select`` by alias; None when a join could add rows of NULLs on the left (RIGHT,
    FULL) or names columns by USING."""
    from_ = select.args.get("from_")
    if not isinstance(from_, exp.From):
        return None
    sources = {from_.this.alias_or_name: from_.this}
    for join in select.args.get("joins") or []:
        if (join.side or "").upper() in ("RIGHT", "FULL") or join.args.get("using"):
            return None
        if (join.kind or "").upper() in ("SEMI", "ANTI"):
            continue  # keeps some left rows; adds no column
        sources[join.this.alias_or_name] = join.this
    return sources


def _refs(value: exp.Expr, sources: Mapping[str, exp.Expr], only: str | None) -> set[tuple[str, str]] | None:
    """The (relation alias, column) pairs ``value`` reads; None when one cannot be placed."""
    refs: set[tuple[str, str]] = set()
    for column in value.find_all(exp.Column):
        if isinstance(column.this, exp.Star):
            return None
        alias = column.table or only
        if alias is None or alias not in sources:
            return None
        refs.add((alias, column.name))
    return refs
