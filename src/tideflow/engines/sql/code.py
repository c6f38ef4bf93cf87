"""SQL code recipes: one SELECT (or set operation) parsed in its dialect, inputs bound by name."""

from __future__ import annotations

from collections.abc import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, SqlglotError, TokenError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from tideflow.engines.sql.build import Ctx, SqlInput, from_item
from tideflow.engines.sql.dialects import TRAITS, DialectTraits, generate, logical_type
from tideflow.errors import ProjectError, UnsupportedPushdown, a, did_you_mean
from tideflow.recipes.code import SqlRecipe
from tideflow.recipes.expressions import syntax_problem
from tideflow.recipes.types import ColumnType, Schema

# Table functions a SQL recipe may call in FROM (the others read files or other databases).
ALLOWED_TABLE_FUNCTIONS = ("generate_series", "range", "unnest")
_FORBIDDEN = (
    exp.DDL,
    exp.DML,
    exp.Command,
    exp.Into,
    exp.Set,
    exp.Use,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Copy,
    exp.Pragma,
)
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
    if sqlglot.Dialect.get(recipe.dialect) is None:
        raise ctx.error("dialect", f"unknown SQL dialect {recipe.dialect!r}{did_you_mean(recipe.dialect, TRAITS)}")
    try:
        statements = [s for s in sqlglot.parse(recipe.sql, read=recipe.dialect) if s is not None]
    except (ParseError, TokenError) as err:  # TokenError: an unclosed quote or comment
        raise ctx.error("sql", syntax_problem(err, recipe.sql, what=f"{recipe.dialect} query")[0]) from None
    if len(statements) != 1:
        raise ctx.error("sql", f"expected exactly one SELECT query, got {len(statements)} statements")
    tree = statements[0]
    offending = next((node for node in tree.walk() if isinstance(node, _FORBIDDEN)), None)
    if offending is not None or not isinstance(tree, exp.Query):
        kind = type(offending if offending is not None else tree).__name__.upper()
        raise ctx.error(
            "sql",
            f"expected one SELECT query, got {a(str(kind))} statement: a SQL recipe only reads "
            "its inputs; Tideflow writes the output",
        )
    return tree


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
    for projection in typed.selects:
        name = projection.alias_or_name
        typ = logical_type(projection.type) if projection.type is not None else None
        if typ is None:
            raise ctx.error(
                "sql",
                f"cannot infer the type of output column {name!r} "
                f"(got {projection.type.sql() if projection.type else 'unknown'}): add a CAST",
            )
        schema[name] = typ
    return schema
