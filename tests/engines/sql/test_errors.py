"""Error text is part of the contract: what, where, expected, got, nearest name."""

from __future__ import annotations

import pytest

from tideflow.engines.sql import compile_recipe, output_schema
from tideflow.errors import ExpressionError, ProjectError, UnsupportedPushdown
from tideflow.recipes import ColumnType

from .cases import TABLES, recipe
from .harness import inputs_for

T = ColumnType
INPUTS = inputs_for(TABLES)


def compile_duck(**spec: object) -> object:
    return compile_recipe(recipe(**spec), INPUTS, "duckdb", where="recipes/r.yaml")


def test_unknown_column_in_expression_suggests_the_nearest() -> None:
    with pytest.raises(
        ExpressionError,
        match=r"recipes/r.yaml at steps\[0\].expr: unknown column 'amout': "
        r"did you mean 'amount'\?",
    ):
        compile_duck(type="prepare", steps=[{"op": "formula", "column": "x", "expr": "amout * 2"}])


def test_unknown_column_in_a_field_names_the_key_path() -> None:
    with pytest.raises(
        ProjectError,
        match=r"recipes/r.yaml at keys\[0\]: unknown column 'custmer': "
        r"did you mean 'customer'\?",
    ):
        compile_duck(type="group", keys=["custmer"], aggregations=[{"fn": "count"}])


def test_unknown_function() -> None:
    with pytest.raises(ExpressionError, match=r"unknown or disallowed function 'uper': did you mean 'upper'\?"):
        compile_duck(type="prepare", steps=[{"op": "formula", "column": "x", "expr": "uper(customer)"}])


def test_subquery_in_expression() -> None:
    with pytest.raises(ExpressionError, match="subqueries are not allowed"):
        compile_duck(type="prepare", steps=[{"op": "filter", "expr": "id IN (SELECT id FROM customers)"}])


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE orders",
        "INSERT INTO orders SELECT * FROM orders",
        "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d",
        "SELECT * INTO copy FROM orders",
        "SELECT 1; SELECT 2",
    ],
)
def test_sql_recipe_rejects_anything_but_one_select(sql: str) -> None:
    with pytest.raises(ProjectError, match=r"at sql: expected (one|exactly one) SELECT query"):
        compile_duck(type="sql", dialect="postgres", sql=sql)


@pytest.mark.parametrize("sql", ["SELECT 'abc FROM orders", 'SELECT "qty FROM orders', "SELECT 1 /* never closed"])
def test_sql_recipe_with_an_unclosed_quote_or_comment_is_a_syntax_error(sql: str) -> None:
    with pytest.raises(ProjectError, match=r"at sql: syntax error in the duckdb query: "):
        compile_duck(type="sql", sql=sql)


def test_statement_kinds_take_their_article() -> None:
    with pytest.raises(ProjectError, match=r"got an INSERT statement"):
        compile_duck(type="sql", sql="INSERT INTO orders VALUES (1)")


def test_sql_recipe_rejects_unknown_tables() -> None:
    with pytest.raises(ProjectError, match=r"unknown table 'order': did you mean 'orders'\?"):
        compile_duck(type="sql", sql="SELECT * FROM order")


def test_random_split_key_of_double_type() -> None:
    with pytest.raises(
        ProjectError,
        match=r"random.key\[0\]: random key 'amount' is double; expected integer, "
        r"string, date or boolean",
    ):
        compile_duck(type="split", outputs=["a", "b"], random={"key": ["amount"], "ratios": {"a": 0.5, "b": 0.5}})


def test_python_recipe_is_unsupported() -> None:
    with pytest.raises(UnsupportedPushdown, match="Python recipes run in memory"):
        compile_duck(type="python", file="x.py")


def test_pivot_without_values_needs_pivot_values() -> None:
    with pytest.raises(ProjectError, match="pass them as pivot_values"):
        compile_duck(type="pivot", column="customer", aggregations=[{"fn": "count"}])


def test_pivot_with_too_many_values() -> None:
    spec = recipe(type="pivot", column="qty", max_values=2, aggregations=[{"fn": "count"}])
    with pytest.raises(ProjectError, match="more than max_values=2"):
        compile_recipe(spec, INPUTS, "duckdb", pivot_values=[1, 2, 3])


def test_try_cast_in_a_duckdb_sql_recipe_is_not_pushed_to_postgres() -> None:
    spec = recipe(type="sql", sql="SELECT TRY_CAST(note AS INTEGER) AS n FROM orders")
    with pytest.raises(UnsupportedPushdown, match="TRYCAST written in duckdb has no equivalent"):
        compile_recipe(spec, INPUTS, "postgres")
    assert output_schema(spec, INPUTS) == {"out": {"n": T.INTEGER}}


def test_unknown_dialect() -> None:
    with pytest.raises(ProjectError, match=r"unknown SQL dialect 'postgress': did you mean 'postgres'\?"):
        compile_recipe(recipe(type="sort", order_by=[{"column": "id"}]), INPUTS, "postgress")


def test_missing_input_schema() -> None:
    with pytest.raises(ProjectError, match=r"no schema given for input 'ordrs'"):
        compile_recipe(recipe(type="sort", inputs=["ordrs"], order_by=[{"column": "id"}]), INPUTS, "duckdb")


def test_trim_of_a_number_column() -> None:
    with pytest.raises(ProjectError, match=r"steps\[0\].columns\[0\]: column 'qty' is integer; expected string"):
        compile_duck(type="prepare", steps=[{"op": "trim", "columns": ["qty"]}])


def test_rule_value_of_the_wrong_type() -> None:
    with pytest.raises(ProjectError, match=r"rules\[0\].value: expected an integer value, got 'many'"):
        compile_duck(
            type="prepare",
            steps=[{"op": "filter", "rules": [{"column": "qty", "op": "gt", "value": "many"}]}],
        )
