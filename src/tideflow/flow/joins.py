"""Drop the LEFT JOINs a query does not need: to a table with a verified unique key, read by no column.

A LEFT JOIN keeps every row of its left side and adds the right side's columns. When the ON condition
equates every column of a unique key of the right table (``t.card_id = c.card_id``, ``card_id`` unique
in ``cards``), each left row matches at most one right row, so the join changes no row: only columns.
Once ``flow.pruning`` has removed the projections nobody reads, a join whose right side no other part
of its SELECT mentions adds nothing and costs a hash table over the whole right table and a probe per
row. ``drop_unused_joins`` removes such joins.

It only ever drops a LEFT join (never INNER, RIGHT, FULL, CROSS, SEMI or ANTI: those can remove or
add rows), only one whose right side is a table (not a subquery), only when every column the SELECT
reads is qualified (so none can come from the right side unseen), and only for keys ``unique`` says
were verified. NULL keys match nothing, so duplicates among them do not matter.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

# The unique keys of a table, by the table node as the query names it; None when none is verified.
UniqueKeys = Callable[[exp.Table], list[frozenset[str]] | None]


def drop_unused_joins(query: exp.Query, unique: UniqueKeys, dropped: list[tuple[str, str]] | None = None) -> exp.Query:
    """``query``, changed in place: every SELECT in it loses its LEFT JOINs that change no row and
    whose right side it does not read (see the module docstring). Each dropped join is appended to
    ``dropped`` as (the CTE it was in, or "" for the query's own SELECT; the table's name)."""
    for select in list(query.find_all(exp.Select)):
        joins = list(select.args.get("joins") or [])
        kept = [join for join in joins if not _droppable(select, join, unique)]
        if len(kept) != len(joins):
            select.set("joins", kept)
            if dropped is not None:
                cte = select.find_ancestor(exp.CTE)
                dropped += [(cte.alias if cte is not None else "", j.this.name) for j in joins if j not in kept]
    return query


def keyed_join(join: exp.Join, unique: UniqueKeys) -> bool:
    """The join is to a table (not a subquery) whose verified unique key its ON condition equates, every
    column of it, to columns of other relations: each row of the other side matches at most one row."""
    table = join.this
    on = join.args.get("on")
    if not isinstance(table, exp.Table) or on is None or join.args.get("using") or not table.alias_or_name:
        return False
    keys = unique(table)
    if not keys:
        return False
    matched = _equated_columns(on, table.alias_or_name)
    return any(key <= matched for key in keys)


def _droppable(select: exp.Select, join: exp.Join, unique: UniqueKeys) -> bool:
    if (join.side or "").upper() != "LEFT" or join.kind or not keyed_join(join, unique):
        return False
    on = join.args["on"]
    name = join.this.alias_or_name
    for node in select.walk():
        if node is on or _inside(node, on):
            continue
        if isinstance(node, exp.Star) or (isinstance(node, exp.Column) and isinstance(node.this, exp.Star)):
            return False  # SELECT * or x.* may read the right side
        if isinstance(node, exp.Column) and (not node.table or node.table == name):
            return False  # read (or unqualified: it might be)
    return True


def _inside(node: exp.Expr, ancestor: exp.Expr) -> bool:
    parent = node.parent
    while parent is not None:
        if parent is ancestor:
            return True
        parent = parent.parent
    return False


def _equated_columns(on: exp.Expr, right: str) -> set[str]:
    """Columns of ``right`` that a conjunct of ``on`` equates to a column of another relation."""
    conjuncts = list(on.flatten()) if isinstance(on, exp.And) else [on]
    out: set[str] = set()
    for conjunct in conjuncts:
        while isinstance(conjunct, exp.Paren):
            conjunct = conjunct.this
        if not isinstance(conjunct, exp.EQ):
            continue
        left, other = conjunct.this, conjunct.expression
        for mine, theirs in ((left, other), (other, left)):
            if (isinstance(mine, exp.Column) and mine.table == right and isinstance(theirs, exp.Column)
                    and theirs.table and theirs.table != right):
                out.add(mine.name)
    return out
