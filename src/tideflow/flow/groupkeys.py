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

A group merges key values that are equal without being the same (``0.0`` and ``-0.0``, ``1.0`` and
``1.00``), so a key's own value may differ between the rows of one group: it is *loose*. A value read
from the one row a lookup join matches, or from one row of a nested group, is the same on every row of
the group: *exact*. An expression is only determined when every column it reads is exact
(``CAST(x AS VARCHAR)`` tells ``0.0`` from ``-0.0`` where ``GROUP BY x`` does not), and a join
condition may read a loose column only through a bare ``=`` (which cannot tell them apart either).

Anything else (a set operation, a RIGHT or FULL join, ``*``, an unqualified column where two relations
could hold it, a nested WITH) ends the trace there: a key nothing proves determined stays a key. A
unique key is never taken as determining its own table's rows: NULL keys may repeat there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlglot import exp

from tideflow.flow.joins import UniqueKeys, keyed_join
from tideflow.flow.pruning import renames
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
    """The output columns of a relation determined by some of its columns; ``every`` = all of them;
    ``exact`` = those of ``names`` that are the same on every row where the givens are equal (``every``:
    all but the loose givens; see the module docstring)."""

    names: frozenset[str]
    every: bool = False
    exact: frozenset[str] = frozenset()

    def __contains__(self, name: str) -> bool:
        return self.every or name in self.names


def reduce_group_keys(query: exp.Query, unique: UniqueKeys, types: Mapping[str, ColumnType]) -> list[str]:
    """Drop from ``query``'s own GROUP BY (changed in place) the keys its other keys determine (see the
    module docstring); return the dropped keys' names. ``types`` are the logical types of the columns of
    the group's input. A key is only dropped when the SELECT reads it nowhere but as a bare projection."""
    if not isinstance(query, exp.Select) or not plain_group(query):
        return []
    source = query.args["from_"].this
    group = query.args["group"]
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
        if key.name in tracer.closure(source, others, frozenset()):
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
                name = projection.args.get("alias") or column.this  # as written: quoted or not
                projection.replace(exp.Alias(this=one(this=column.copy()), alias=name.copy()))
    return [k.name for k in reversed(dropped)]


def plain_group(select: exp.Select) -> bool:
    """``select`` groups one relation (no join, no DISTINCT) by a plain list of keys (no ROLLUP, CUBE,
    GROUPING SETS or GROUP BY ALL), in a query that is not WITH RECURSIVE."""
    group = select.args.get("group")
    with_ = select.args.get("with_")
    return (isinstance(group, exp.Group) and isinstance(select.args.get("from_"), exp.From)
            and not select.args.get("joins") and not select.args.get("distinct") and not _grouping_sets(group)
            and not (isinstance(with_, exp.With) and with_.args.get("recursive")))


def _grouping_sets(group: exp.Group) -> bool:
    return any(group.args.get(k) for k in ("rollup", "cube", "grouping_sets", "all"))


def cte_body(table: exp.Table, ctes: Mapping[str, exp.Expr]) -> exp.Expr | None:
    """The body of the CTE ``table`` names, where that CTE is visible: from a CTE, only the CTEs before
    it (without RECURSIVE, its own name or a later one is a stored table); from the query, every one.
    None for a stored table, and for a CTE with a column list (``e(a, b)`` renames its columns)."""
    if table.db or table.catalog or table.name not in ctes:
        return None
    owner = table.find_ancestor(exp.CTE)
    names = list(ctes)
    if owner is not None and (owner.alias not in ctes or names.index(table.name) >= names.index(owner.alias)):
        return None
    body = ctes[table.name]
    if isinstance(body.parent, exp.CTE) and renames(body.parent):
        return None
    return body


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
    """``expression`` computes its value from the columns of one row alone: no aggregate, window,
    subquery or random value."""
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
        self.memo: dict[tuple[int, frozenset[str], frozenset[str]], Determined] = {}

    def closure(self, relation: exp.Expr, given: frozenset[str], exact: frozenset[str]) -> Determined:
        """The output columns of ``relation`` that its columns ``given`` determine; ``exact`` are those
        of ``given`` that are exact (the others are loose: see the module docstring)."""
        memo_key = (id(relation), given, exact)
        if memo_key not in self.memo:
            self.memo[memo_key] = Determined(given, exact=exact)  # a cycle (none in SQL) finds nothing new
            self.memo[memo_key] = self._closure(relation, given, exact)
        return self.memo[memo_key]

    def _closure(self, relation: exp.Expr, given: frozenset[str], exact: frozenset[str]) -> Determined:
        if isinstance(relation, exp.Table | exp.Subquery) and renames(relation):
            return Determined(given, exact=exact)  # columns renamed by position: names below are not its names
        if isinstance(relation, exp.Table):
            body = cte_body(relation, self.ctes)
            return self.closure(body, given, exact) if body is not None else Determined(given, exact=exact)
        if isinstance(relation, exp.Subquery):
            return self.closure(relation.this, given, exact)
        if isinstance(relation, exp.Select):
            return self._select(relation, given, exact)
        return Determined(given, exact=exact)

    def _select(self, select: exp.Select, given: frozenset[str], exact: frozenset[str]) -> Determined:
        sources = relations(select)
        if sources is None or select.args.get("with_") or any(p.is_star for p in select.expressions):
            return Determined(given, exact=exact)
        only = next(iter(sources)) if len(sources) == 1 else None
        outputs: dict[str, tuple[exp.Expr, set[tuple[str, str]] | None]] = {}
        for projection in select.expressions:
            value = projection.this if isinstance(projection, exp.Alias) else projection
            outputs[projection.alias_or_name] = (value, _refs(value, sources, only))
        known: set[tuple[str, str]] = set()
        exact_refs: set[tuple[str, str]] = set()
        for name in given:
            value, refs = outputs.get(name, (None, None))
            if isinstance(value, exp.Column) and refs:
                known |= refs
                if name in exact:
                    exact_refs |= refs
        whole: set[str] = set()  # the sources every column of which is determined, and exact
        transfers = [t for t in (self._transfer(select, join, sources) for join in select.args.get("joins") or [])
                     if t is not None]

        def holds(ref: tuple[str, str]) -> bool:
            return ref[0] in whole or ref in known

        def is_exact(ref: tuple[str, str]) -> bool:
            return ref[0] in whole or ref in exact_refs

        changed = True
        while changed:
            changed = False
            for alias, relation in sources.items():
                if alias in whole:
                    continue
                found = self.closure(relation, frozenset(c for a, c in known if a == alias),
                                     frozenset(c for a, c in exact_refs if a == alias))
                if found.every:
                    whole.add(alias)
                    changed = True
                new = {(alias, c) for c in found.names} - known
                new_exact = {(alias, c) for c in found.exact} - exact_refs
                if new or new_exact:
                    known |= new
                    exact_refs |= new_exact
                    changed = True
            for equated, computed, right in transfers:
                if right not in whole and all(holds(r) for r in equated) and all(is_exact(r) for r in computed):
                    whole.add(right)
                    changed = True

        group = select.args.get("group")
        if isinstance(group, exp.Group):
            if _grouping_sets(group):
                return Determined(given)
            key_refs = [_refs(k, sources, only) if isinstance(k, exp.Column) else None for k in group.expressions]
            if all(r is not None and all(holds(x) for x in r) for r in key_refs):
                # one row per group: every output is the same wherever the keys are equal
                return Determined(given, every=True, exact=frozenset(outputs))
        names, exacts = set(given), set(exact)
        for name, (value, refs) in outputs.items():
            if refs is None or not rowwise(value):
                continue
            if isinstance(value, exp.Column) and all(holds(r) for r in refs):
                names.add(name)
                if all(is_exact(r) for r in refs):
                    exacts.add(name)
            elif all(is_exact(r) for r in refs):  # computed: only from exact columns
                names.add(name)
                exacts.add(name)
        return Determined(frozenset(names), exact=frozenset(exacts))

    def _transfer(self, select: exp.Select, join: exp.Join, sources: dict[str, exp.Expr]) -> tuple[
            set[tuple[str, str]], set[tuple[str, str]], str] | None:
        """When the join is to a table on a verified unique key: (the columns of the other relations its ON
        condition compares with a bare ``=``, those it reads otherwise, the table's alias). When the first
        hold and the second are exact, they determine every column of the table."""
        if not lookup_join(join, self.ctes, self.unique):
            return None
        on = join.args["on"]
        right = join.this.alias_or_name
        equated: set[tuple[str, str]] = set()
        computed: set[tuple[str, str]] = set()
        for conjunct in on.flatten() if isinstance(on, exp.And) else [on]:
            bare = bare_equality(conjunct)
            for column in conjunct.find_all(exp.Column):
                if not column.table or column.table not in sources:
                    return None
                if column.table != right:
                    (equated if bare else computed).add((column.table, column.name))
        return equated, computed, right


def bare_equality(conjunct: exp.Expr) -> bool:
    """``a.x = b.y``, column against column: equal values compare equal however they are written (``0.0``
    and ``-0.0``), where an expression could tell them apart."""
    pair = conjunct.unnest()
    return isinstance(pair, exp.EQ) and isinstance(pair.this, exp.Column) and isinstance(pair.expression, exp.Column)


def lookup_join(join: exp.Join, ctes: Mapping[str, exp.Expr], unique: UniqueKeys) -> bool:
    """A LEFT or INNER join to a stored table (not one of ``ctes``) whose row-wise ON condition equates a
    verified unique key: each row of the other side gets the table's one matching row, or none."""
    table = join.this
    side, kind = (join.side or "").upper(), (join.kind or "").upper()
    if not isinstance(table, exp.Table) or (side, kind) not in (("", ""), ("", "INNER"), ("LEFT", ""),
                                                                 ("LEFT", "OUTER")):
        return False
    if renames(table) or (not table.db and not table.catalog and table.name in ctes):
        return False  # a CTE's name, even where it means the stored table: too close to call
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
