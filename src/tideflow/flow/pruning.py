"""Drop the columns nobody reads from the fused CTE chain of a query.

A virtual dataset is fused into its reader as a CTE that keeps every column of its producer. A
window or a join further down the chain then carries the unused columns through its sort or hash
table: a wider sort, and on PostgreSQL a larger spill to disk once it outgrows ``work_mem``.
``prune_projections`` removes, from each fused CTE and from each nested ``FROM (SELECT ..)``, the
projections whose names no later part of the query mentions.

It only ever drops, and only where dropping cannot change a row: never from the query's own
output, never from a ``SELECT DISTINCT`` or a set operation (their rows depend on every column),
never below a ``*``, never where GROUP BY or ORDER BY names a position, never where an alias renames
the columns by position (``AS q(a, b)``), and never the last projection of a SELECT. A name counts
as read when it appears as any identifier downstream (a column, a ``USING`` key, even an alias), so a
name two relations share keeps both: conservative, never wrong.
"""

from __future__ import annotations

from sqlglot import exp


def prune_projections(query: exp.Query, ctes: set[str]) -> exp.Query:
    """``query``, changed in place: its CTEs named in ``ctes`` (and every nested FROM subquery of
    the query and of its CTEs) keep only the columns the rest of the query reads."""
    with_ = query.args.get("with_")
    if not isinstance(with_, exp.With):
        return query
    _prune_from_chain(query, with_)  # first: what the body's subqueries drop, its CTEs need not keep
    entries = list(with_.expressions)
    body_reads = _reads(query, with_)
    for i in range(len(entries) - 1, -1, -1):  # readers come after what they read
        cte = entries[i]
        if cte.alias in ctes and not renames(cte):
            reads = [body_reads, *(_reads(e.this) for e in entries[i + 1:])]
            if all(r is not None for r in reads):
                _keep_only(cte.this, set().union(*reads))  # type: ignore[arg-type]
        _prune_from_chain(cte.this)
    return query


def _reads(node: exp.Expr, *skip: exp.Expr) -> set[str] | None:
    """Every identifier under ``node`` (outside ``skip``); None when a ``*`` reads every column."""
    names = set()
    for part in node.walk(prune=lambda n: any(n is s for s in skip)):
        if any(part is s for s in skip):
            continue
        if isinstance(part, exp.Star) and not isinstance(part.parent, exp.Count):  # COUNT(*) reads none
            return None
        if isinstance(part, exp.Identifier):
            names.add(part.name)
    return names


def _keep_only(select: exp.Expr, names: set[str]) -> None:
    """Drop the projections of ``select`` that ``names`` does not mention, where that changes no row."""
    if not isinstance(select, exp.Select) or select.args.get("distinct"):
        return
    if any(p.is_star for p in select.expressions) or _by_position(select):
        return
    kept = [p for p in select.expressions if p.alias_or_name in names]
    if kept and len(kept) < len(select.expressions):
        select.set("expressions", kept)


def renames(node: exp.Expr) -> bool:
    """A CTE ``e(a, b)`` or a subquery ``AS q(a, b)``: its columns go by position, not by name."""
    alias = node.args.get("alias")
    return isinstance(alias, exp.TableAlias) and bool(alias.columns)


def _by_position(select: exp.Select) -> bool:
    """GROUP BY 1 or ORDER BY 2: dropping a projection would shift what the number means."""
    keys = [*(select.args["group"].expressions if select.args.get("group") else []),
            *(o.this for o in (select.args["order"].expressions if select.args.get("order") else []))]
    return any(isinstance(k, exp.Literal) and not k.is_string for k in keys)


def _prune_from_chain(node: exp.Expr, with_: exp.With | None = None) -> None:
    """Down a chain of ``SELECT .. FROM (SELECT ..) AS s``: each inner SELECT keeps what its outer one
    reads (``with_``, the query's own CTEs, read nothing of it)."""
    select = node
    while isinstance(select, exp.Select) and not select.args.get("joins"):
        from_ = select.args.get("from_")
        source = from_.this if isinstance(from_, exp.From) else None
        if not isinstance(source, exp.Subquery) or not isinstance(source.this, exp.Select) \
                or renames(source):
            return
        reads = _reads(select, source.this, *([with_] if with_ is not None else []))
        if reads is None:
            return
        _keep_only(source.this, reads)
        select = source.this
