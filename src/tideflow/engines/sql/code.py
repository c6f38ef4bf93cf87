"""SQL code recipes: one SELECT (or set operation) parsed in its dialect, inputs bound by name."""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlglot import exp
from sqlglot.errors import OptimizeError, SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from tideflow.engines.sql.build import Ctx, SqlInput, from_item
from tideflow.engines.sql.dialects import TRAITS, DialectTraits, generate, logical_type
from tideflow.errors import ProjectError, UnsupportedPushdown, did_you_mean
from tideflow.project.sqlcheck import SqlProblem, one_query, unknown_dialect
from tideflow.recipes.code import SqlRecipe
from tideflow.recipes.types import ColumnType, Schema

# Table functions a SQL recipe may call in FROM (the others read files or other databases).
ALLOWED_TABLE_FUNCTIONS = ("generate_series", "range", "unnest")
_TYPE_NAMES = {
    ColumnType.BOOLEAN: "BOOLEAN",
    ColumnType.INTEGER: "BIGINT",
    ColumnType.DOUBLE: "DOUBLE",
    ColumnType.STRING: "VARCHAR",
    ColumnType.DATE: "DATE",
    ColumnType.TIMESTAMP: "TIMESTAMP",
}


def parse_sql_recipe(recipe: SqlRecipe, ctx: Ctx) -> exp.Query:
    """Parse and check the recipe's query: exactly one SELECT/UNION, nothing that writes."""
    if recipe.sql is None:
        raise ctx.error("file", f"the SQL of {recipe.file!r} was not loaded: the project loader reads it into 'sql'")
    unknown = unknown_dialect(recipe.dialect, TRAITS)
    if unknown is not None:
        raise ctx.error("dialect", unknown)
    try:
        tree = one_query(recipe.sql, recipe.dialect)
    except SqlProblem as problem:  # the loader's words for the same problems
        raise ctx.error("sql", problem.message) from None
    _check_shape(tree, ctx)
    return tree


def _width(query: exp.Expr) -> int | None:
    """How many columns ``query`` gives, when that is plain (no ``*``)."""
    while isinstance(query, exp.Subquery | exp.Paren):
        query = query.this
    if isinstance(query, exp.SetOperation):
        return _width(query.this)
    if not isinstance(query, exp.Select):
        return None
    if any(isinstance(s, exp.Star) or (isinstance(s, exp.Column) and isinstance(s.this, exp.Star))
           for s in query.expressions):
        return None
    return len(query.expressions)


def _check_shape(tree: exp.Query, ctx: Ctx) -> None:
    """What every database refuses whatever the inputs: a SELECT without columns, a set operation
    (UNION, EXCEPT, INTERSECT) of queries with different numbers of columns, a negative LIMIT or OFFSET."""
    for node in tree.walk():
        if isinstance(node, exp.Select) and not node.expressions:
            raise ctx.error("sql", "a SELECT without columns: expected at least one column after SELECT")
        if isinstance(node, exp.SetOperation):
            left, right = _width(node.this), _width(node.expression)
            if left is not None and right is not None and left != right:
                kind = type(node).__name__.upper()
                raise ctx.error("sql", f"the two sides of a {kind} give {left} and {right} columns: expected the "
                                       "same number of columns on both sides")
        if isinstance(node, exp.Limit | exp.Offset) and isinstance(node.expression, exp.Neg):
            kind = type(node).__name__.upper()
            raise ctx.error("sql", f"{kind} {node.expression.sql()}: expected a number >= 0")


def _cte_names(tree: exp.Expr) -> set[str]:
    return {cte.alias_or_name for cte in tree.find_all(exp.CTE)}


def _matching_input(table: exp.Table, inputs: Mapping[str, SqlInput]) -> str | None:
    identifier = table.this
    if table.name in inputs:
        return table.name
    if isinstance(identifier, exp.Identifier) and not identifier.quoted:
        lowered = {name.lower(): name for name in inputs}
        return lowered.get(table.name.lower())
    return None


def bind_inputs(tree: exp.Query, recipe: SqlRecipe, inputs: Mapping[str, SqlInput], ctx: Ctx) -> exp.Query:
    """Replace each table named after an input dataset with that input's relation."""
    tree = tree.copy()
    ctes = _cte_names(tree)
    for table in list(tree.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier):
            name = table.this.sql_name().lower() if isinstance(table.this, exp.Func) else ""
            if isinstance(table.this, exp.Anonymous):
                name = str(table.this.name).lower()
            if name not in ALLOWED_TABLE_FUNCTIONS:
                raise ctx.error(
                    "sql",
                    f"table function {name or table.this.sql()!r} is not allowed in a SQL "
                    "recipe: declare the data as a dataset and use it as an input",
                )
            continue
        if not table.args.get("db") and table.name in ctes:
            continue
        match = None if table.args.get("db") else _matching_input(table, inputs)
        if match is None or match not in recipe.inputs:
            raise ctx.error(
                "sql",
                f"unknown table {table.sql()!r}{did_you_mean(table.name, recipe.inputs)}: a SQL "
                f"recipe reads only its inputs ({', '.join(recipe.inputs)})",
            )
        bound = from_item(inputs[match].relation, "_")
        bound.set("alias", table.args.get("alias") or exp.TableAlias(this=table.this.copy()))
        table.replace(bound)
    return tree


def check_transpile(tree: exp.Query, recipe: SqlRecipe, traits: DialectTraits, step: str) -> None:
    """Refuse what would change meaning in the target dialect instead of emitting approximate SQL."""
    if recipe.dialect != traits.name:
        for node in tree.walk():
            if isinstance(node, traits.risky_foreign_nodes):
                raise UnsupportedPushdown(
                    step,
                    f"{type(node).__name__.upper()} written in {recipe.dialect} has no "
                    f"equivalent with the same meaning in {traits.name}",
                )
    try:
        generate(tree, traits.name, pretty=False)
    except SqlglotError as err:
        raise UnsupportedPushdown(step, f"cannot write this query in {traits.name}: {err}") from None


def sql_output_schema(recipe: SqlRecipe, inputs: Mapping[str, SqlInput], ctx: Ctx) -> Schema:
    """Column names and logical types of the query's result, inferred from the input schemas."""
    tree = parse_sql_recipe(recipe, ctx)
    bind_inputs(tree, recipe, inputs, ctx)  # validates table references
    mapping: dict[str, object] = {
        name: {c: _TYPE_NAMES[t] for c, t in inputs[name].schema.items()} for name in recipe.inputs
    }
    try:
        qualified = qualify(
            tree.copy(),
            dialect=recipe.dialect,
            schema=mapping,
            quote_identifiers=False,
            identify=False,
            validate_qualify_columns=True,
        )
        typed = annotate_types(qualified, schema=mapping, dialect=recipe.dialect)
    except (OptimizeError, SqlglotError) as err:
        raise ctx.error("sql", f"cannot resolve the query's columns: {err}") from None
    if not isinstance(typed, exp.Query):
        raise ProjectError("expected a query")
    schema: Schema = {}
    for projection, name in zip(typed.selects, _output_names(tree, typed, inputs), strict=True):
        typ = logical_type(projection.type) if projection.type is not None else None
        if typ is None:
            raise ctx.error(
                "sql",
                f"cannot infer the type of output column {name!r} "
                f"(got {projection.type.sql() if projection.type else 'unknown'}): add a CAST",
            )
        if name in schema:
            raise ctx.error("sql", f"the query returns two columns named {name!r}: expected unique output "
                                   "names, give one an alias")
        schema[name] = typ
    return schema


def _output_names(tree: exp.Query, typed: exp.Query, inputs: Mapping[str, SqlInput]) -> list[str]:
    """The names the database gives the query's columns. The qualifier folds every name to lower case
    in a case-insensitive dialect (DuckDB); the database keeps a quoted alias or column as written
    (``AS "TotalAmount"``), and a column a star expands as its input has it. An unquoted name stays
    folded: PostgreSQL folds it, DuckDB compares it without case."""
    names = [projection.alias_or_name for projection in typed.selects]
    written = tree.selects
    if len(written) == len(names) and not any(isinstance(w, exp.Star) or w.is_star for w in written):
        for i, projection in enumerate(written):
            ident = projection.args.get("alias") if isinstance(projection, exp.Alias) else projection.this
            if isinstance(ident, exp.TableAlias):
                ident = ident.this
            if isinstance(ident, exp.Identifier) and ident.quoted and ident.name.lower() == names[i].lower():
                names[i] = ident.name
        return names
    by_folded: dict[str, set[str]] = {}
    quoted = [w.args["alias"].this for w in written
              if isinstance(w, exp.Alias) and w.args["alias"].quoted]
    for column in [*(c for source in inputs.values() for c in source.schema), *quoted]:
        by_folded.setdefault(column.lower(), set()).add(column)
    for i, name in enumerate(names):
        found = by_folded.get(name.lower(), set())
        if len(found) == 1 and name not in found:
            names[i] = next(iter(found))
    return names


_UNRESOLVED = (
    re.compile(r"Column '(?P<name>[^']+)' could not be resolved(?: for table: '(?P<table>[^']+)')?"
               r"(?:\. Line: (?P<line>\d+), Col: (?P<col>\d+))?"),
    re.compile(r"Unknown column: (?P<name>.+)$"),
)


def check_sql_columns(tree: exp.Query, recipe: SqlRecipe, inputs: Mapping[str, SqlInput], ctx: Ctx) -> None:
    """Refuse a query that reads a column none of its inputs has, when sqlglot's qualifier says so
    clearly (``Column 'x' could not be resolved``). Conservative: any other qualifier problem (a
    construct it does not know) is left to the database, and so is a name that matches an input column
    in another letter case (the dialects fold case differently)."""
    mapping: dict[str, object] = {
        name: {c: _TYPE_NAMES[t] for c, t in inputs[name].schema.items()} for name in recipe.inputs
    }
    try:
        qualify(tree.copy(), dialect=recipe.dialect, schema=mapping, quote_identifiers=False, identify=False,
                validate_qualify_columns=True)
    except (OptimizeError, SqlglotError) as err:
        message = str(err)
    except Exception:  # the qualifier's own bugs must not refuse a query
        return
    else:
        return
    match = next((m for m in (p.search(message) for p in _UNRESOLVED) if m is not None), None)
    if match is None:
        return
    name = match.group("name").strip()
    columns = list(dict.fromkeys(c for n in recipe.inputs for c in inputs[n].schema))
    table = match.groupdict().get("table")
    known_tables = {t.alias_or_name.lower() for t in tree.find_all(exp.Table, exp.Subquery, exp.CTE)}
    if table is not None and table.lower() not in known_tables:
        what = f"unknown table or alias {table!r} (in {table!r}.{name!r})"
    elif name.lower() in {c.lower() for c in columns} or name.lower() == "all":
        return
    else:
        what = f"unknown column {name!r}{did_you_mean(name, columns)}"
    line, col = match.groupdict().get("line"), match.groupdict().get("col")
    # sqlglot points at the last character of the name
    at = f" at line {line}, column {max(1, int(col) - len(name) + 1)}" if line and col else ""
    source = f" of {recipe.file}" if recipe.file else ""
    inputs_text = "; ".join(f"{n}: {', '.join(inputs[n].schema) or 'none'}" for n in recipe.inputs)
    raise ctx.error("sql", f"{what} in the query{source}{at} (columns of the inputs: {inputs_text})")
