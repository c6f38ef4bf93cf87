"""Compiled SQL run on real DuckDB and PostgreSQL on hand data: both engines, the same rows."""

from __future__ import annotations

import datetime as dt
import math
import random
from fractions import Fraction
from typing import Any

import duckdb
import polars as pl
import pytest

from tideflow.engines.sql import compile_recipe, discover_pivot_values_query, to_sql
from tideflow.recipes import ColumnType

from ..differential import POLARS, run_memory
from .cases import RECIPES, TABLES, recipe
from .harness import Table, fetch_duck, fetch_pg, inputs_for, load_duck, load_pg, run_both, sort_rows

T = ColumnType
Rows = list[tuple[Any, ...]]


def run(
    spec: Any, tables: dict[str, Table], duck: duckdb.DuckDBPyConnection, pg: Any, schema: str, **kwargs: Any
) -> dict[str, Rows]:
    """Run on both engines, assert they agree, return the (sorted) rows per output."""
    results = run_both(spec, tables, duck, pg, schema, **kwargs)
    out = {}
    for name, (d, p) in results.items():
        assert _close(sort_rows(d), sort_rows(p)), f"{name}: DuckDB {d} != PostgreSQL {p}"
        out[name] = sort_rows(d)
    return out


def _close(a: Rows, b: Rows) -> bool:
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        for x, y in zip(ra, rb, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                if not (math.isclose(x, y, rel_tol=1e-12) or (math.isnan(x) and math.isnan(y))):
                    return False
            elif x != y:
                return False
    return True


def one(rows: dict[str, Rows]) -> Rows:
    (only,) = rows.values()
    return only


def each_engine(spec: Any, tables: dict[str, Table], duck: Any, pg: Any, schema: str) -> dict[str, Rows]:
    """The sorted rows of the recipe's one output on each engine, the memory engine (the oracle)
    included, for checks of exact values (``run`` compares the engines only to 12 digits)."""
    ((d, p),) = run_both(spec, tables, duck, pg, schema).values()
    frames = {name: pl.DataFrame([dict(zip(types, row, strict=True)) for row in rows],
                                 schema={c: POLARS[t] for c, t in types.items()}, orient="row")
              for name, (types, rows) in tables.items()}
    ((_, m),) = run_memory(spec, frames).values()
    return {"duckdb": sort_rows(d), "postgres": sort_rows(p), "memory": sort_rows(m)}


@pytest.mark.parametrize("kind", sorted(RECIPES))
def test_every_fixture_recipe_agrees_on_both_engines(kind: str, duck: Any, pg_conn: Any, pg_schema: str) -> None:
    outputs = run(RECIPES[kind], TABLES, duck, pg_conn, pg_schema)
    assert set(outputs) == set(RECIPES[kind].outputs)


def test_prepare_fixture_rows(duck: Any, pg_conn: Any, pg_schema: str) -> None:
    rows = one(run(RECIPES["prepare"], TABLES, duck, pg_conn, pg_schema))
    by_id = {r[0]: r for r in rows}
    assert sorted(by_id) == [1, 2, 3, 5, 6]
    # id, who, ratio, rem, half, note, label, p1, p2, p3, tail, dow, hours, size, rich, amount, bucket
    assert by_id[1] == (
        1,
        "ALICE",
        1.5,
        3,
        2.6,
        42,
        "ALICE/3",
        "ALICE",
        "3",
        None,
        "LICE",
        3,
        pytest.approx(10.5041666666),
        "big",
        True,
        11.0,
        10.0,
    )
    assert by_id[3][2:6] == (-3.5, -3, -0.6, None)  # -7 / 2, -7 % 4 (sign of dividend), bad cast -> NULL
    assert by_id[3][15:] == (-3.0, -5.0)  # round half away from zero, floor bin
    assert by_id[6][10] is None  # regex with no match


def test_date_diff_and_date_parts_are_exact_to_the_microsecond(duck: Any, pg_conn: Any, pg_schema: str) -> None:
    """date_diff is the microseconds between the two / 10^6 (what the memory engine computes), not a
    difference of two double epochs: near 2000 those step by 0.12 us, and 1 us came out as 0.95 us.
    PostgreSQL rounds its double epoch below 2^30 s and takes the NUMERIC one beyond: both sides of
    that line, and random gaps from a microsecond to two centuries, must be exact."""
    edge = dt.datetime(1990, 5, 6, 7, 8, 9, 123456)
    pairs: list[tuple[dt.datetime | None, dt.datetime | None]] = [
        (dt.datetime(2000, 1, 1), dt.datetime(2000, 1, 1, 0, 0, 0, 1)),
        (dt.datetime(2021, 3, 4, 5, 6, 7, 123457), dt.datetime(2021, 3, 4, 5, 6, 7, 123458)),
        (dt.datetime(2030, 12, 31, 23, 59, 59, 999999), dt.datetime(1999, 12, 31, 23, 59, 59, 999999)),
        (dt.datetime(2012, 6, 30, 23, 59, 58, 500001), dt.datetime(2012, 7, 2, 0, 0, 0, 7)),
        (dt.datetime(1901, 1, 1, 0, 0, 0, 1), dt.datetime(2099, 12, 31, 23, 59, 59, 999999)),
        *[(edge, edge + dt.timedelta(seconds=sign * 2**30, microseconds=sign * d))
          for sign in (1, -1) for d in (-1, 0, 1)],
        (None, edge),
    ]
    rng = random.Random(30)
    for scale in (10**3, 10**7, 10**11, 10**15, 6 * 10**15):
        start = dt.datetime(1900, 1, 1) + dt.timedelta(microseconds=rng.randrange(4 * 10**15))
        pairs += [(start, start + dt.timedelta(microseconds=rng.randrange(-scale, scale))) for _ in range(40)]
    tables = {"t": ({"i": T.INTEGER, "a": T.TIMESTAMP, "b": T.TIMESTAMP},
                    [(i, a, b) for i, (a, b) in enumerate(pairs)])}
    spec = recipe(type="prepare", inputs=["t"], steps=[
        {"op": "date_diff", "start": "a", "end": "b", "unit": "second", "output": "s"},
        {"op": "date_diff", "start": "a", "end": "b", "unit": "hour", "output": "h"},
        {"op": "date_part", "column": "b", "part": "second", "output": "sec"},
        {"op": "date_part", "column": "b", "part": "dayofweek", "output": "dow"},
    ])
    for engine, got in each_engine(spec, tables, duck, pg_conn, pg_schema).items():
        for (_, a, b, s, h, sec, dow), (want_a, want_b) in zip(sorted(got), pairs, strict=True):
            assert (a, b) == (want_a, want_b)
            if want_a is None or want_b is None:
                assert (s, h) == (None, None)
                continue
            micros = (want_b - want_a) // dt.timedelta(microseconds=1)
            assert s == micros / 1e6 and h == micros / 3.6e9, (engine, want_a, want_b)
            assert (sec, dow) == (want_b.second, want_b.isoweekday())


def _half_away(x: float, places: int) -> float:
    """The memory engine's ROUND, computed exactly: x * 10^places as a double, rounded half away
    from zero on its exact binary value, divided back (values from 2^52 up are already whole)."""
    if abs(x) >= 2.0**52:
        return x
    scaled = Fraction(x * 10.0**places)
    whole = math.floor(abs(scaled))
    whole += abs(scaled) - whole >= Fraction(1, 2)
    return math.copysign(whole, x) / 10.0**places


def test_round_is_half_away_from_zero_on_the_exact_double(duck: Any, pg_conn: Any, pg_schema: str) -> None:
    """PostgreSQL's own ROUND of a double is half to even: Tideflow truncates x + sign(x) * (0.5 - 2^-54),
    which must round exactly like the memory engine at the halves, just below them and near 2^52."""
    values = [0.5, -0.5, 0.49999999999999994, -0.49999999999999994, 1.5, 2.5, -2.5, 0.285, 16.5 * 1.17,
              math.nextafter(2.5, 0.0), math.nextafter(0.5, 1.0), 2.0**52 - 0.5, 2.0**51 + 0.5, 2.0**52 + 1,
              -(2.0**53) - 2, 1e300, 5e-324, 0.0, 1930.5, 0.125, 0.135, 1.005]
    rng = random.Random(52)
    values += [rng.randint(-10**6, 10**6) / 200 for _ in range(60)]  # many exact halves and quarters
    values += [math.nextafter(rng.randint(-10**9, 10**9) + 0.5, rng.choice([0.0, math.inf])) for _ in range(40)]
    tables = {"t": ({"i": T.INTEGER, "x": T.DOUBLE}, [(i, x) for i, x in enumerate(values)] + [(len(values), None)])}
    spec = recipe(type="prepare", inputs=["t"], steps=[
        {"op": "formula", "column": "r0", "expr": "x"},
        {"op": "formula", "column": "r2", "expr": "x"},
        {"op": "round", "columns": ["r0"], "decimals": 0},
        {"op": "round", "columns": ["r2"], "decimals": 2},
    ])
    for engine, got in each_engine(spec, tables, duck, pg_conn, pg_schema).items():
        got.sort(key=lambda row: row[0])
        assert got[-1] == (len(values), None, None, None)
        for (_, x, r0, r2), want in zip(got, values, strict=False):
            assert x == want
            assert (r0, r2) == (_half_away(want, 0), _half_away(want, 2)), (engine, want)


def test_bins_and_division_by_a_constant_are_correctly_rounded(duck: Any, pg_conn: Any, pg_schema: str) -> None:
    """0.3 / 0.1 is 2.9999999999999996 in IEEE arithmetic, so 0.3 falls in the 0.2 bin of width 0.1 on
    every engine. Polars divides by a constant through its reciprocal (0.3 * 10.0 = 3.0): the memory
    engine must not, or it puts values near a bin edge in the next bin."""
    values = [0.3, 0.6, 0.7, 2.3, 1.1, 0.9, 4.35, -0.3, 1e-300, 1e300, 6279897599999998.0]
    rng = random.Random(7)
    values += [rng.randint(-10**5, 10**5) / 10 for _ in range(200)]  # one decimal: on or near the edges
    tables = {"t": ({"i": T.INTEGER, "x": T.DOUBLE}, [(i, x) for i, x in enumerate(values)] + [(len(values), None)])}
    spec = recipe(type="prepare", inputs=["t"], steps=[
        {"op": "bin", "column": "x", "width": 0.1, "output": "b"},
        {"op": "formula", "column": "tenths", "expr": "x / 0.1"},
        {"op": "formula", "column": "hours", "expr": "x / 3600000000"},
    ])
    for engine, got in each_engine(spec, tables, duck, pg_conn, pg_schema).items():
        got.sort(key=lambda row: row[0])
        assert got[-1] == (len(values), None, None, None, None)
        for (_, x, b, tenths, hours), want in zip(got, values, strict=False):
            assert x == want
            assert (b, tenths, hours) == (math.floor(want / 0.1) * 0.1, want / 0.1, want / 3600000000), (engine, want)


def test_division_modulo_and_casts(duck: Any, pg_conn: Any, pg_schema: str) -> None:
    tables = {
        "t": (
            {"a": T.INTEGER, "b": T.INTEGER, "x": T.DOUBLE, "s": T.STRING},
            [
                (7, 2, 2.5, " 12 "),
                (7, 0, -2.5, "1e3"),
                (-7, 2, 0.5, "abc"),
                (None, 1, None, "99999999999999999999"),
                (1, 3, 1e30, "2024-02-29"),
                (2, 4, -1.5, "2023-02-29"),
            ],
        )
    }
    spec = recipe(
        type="prepare",
        inputs=["t"],
        steps=[
            {"op": "formula", "column": "div", "expr": "a / b"},
            {"op": "formula", "column": "mod", "expr": "a % b"},
            {"op": "formula", "column": "fmod", "expr": "x % 2"},
            {"op": "formula", "column": "xi", "expr": "CAST(x AS BIGINT)"},
            {"op": "formula", "column": "si", "expr": "TRY_CAST(s AS INTEGER)"},
            {"op": "formula", "column": "sd", "expr": "CAST(s AS DOUBLE)"},
            {"op": "formula", "column": "sdate", "expr": "CAST(s AS DATE)"},
            {"op": "formula", "column": "r", "expr": "round(x)"},
            {"op": "keep", "columns": ["a", "div", "mod", "fmod", "xi", "si", "sd", "sdate", "r"]},
        ],
    )
    rows = one(run(spec, tables, duck, pg_conn, pg_schema))
    assert rows == sort_rows(
        [
            (7, 3.5, 1, 0.5, 3, 12, 12.0, None, 3.0),
            (7, None, None, -0.5, -3, None, 1000.0, None, -3.0),
            (-7, -3.5, -1, 0.5, 1, None, None, None, 1.0),
            (None, None, None, None, None, None, 1e20, None, None),
            (1, pytest.approx(1 / 3), 1, 0.0, None, None, None, dt.date(2024, 2, 29), 1e30),
            (2, 0.5, 2, -1.5, -2, None, None, None, -2.0),
        ]
    )


def test_string_order_is_binary_and_nulls_follow_order_keys(duck: Any, pg_conn: Any, pg_schema: str) -> None:
    tables = {"t": ({"s": T.STRING}, [("b",), ("B",), ("a",), (None,), ("é",), ("Z",)])}
    results = run_both(recipe(type="sort", inputs=["t"], order_by=[{"column": "s"}]), tables, duck, pg_conn, pg_schema)
    d, p = results["out"]
    assert d == p == [("B",), ("Z",), ("a",), ("b",), ("é",), (None,)]


def test_sort_desc_puts_nulls_first_unless_told(duck: Any, pg_conn: Any, pg_schema: str) -> None:
    tables = {"t": ({"n": T.INTEGER}, [(1,), (None,), (3,)])}
    spec = recipe(type="sort", inputs=["t"], order_by=[{"column": "n", "desc": True}])
    d, p = run_both(spec, tables, duck, pg_conn, pg_schema)["out"]
    assert d == p == [(None,), (3,), (1,)]


def test_group_without_keys_on_empty_input_gives_one_row(duck: Any, pg_conn: Any, pg_schema: str) -> None:
    tables = {"t": ({"n": T.INTEGER, "s": T.STRING}, [])}
    spec = recipe(
        type="group",
        inputs=["t"],
        aggregations=[
            {"fn": "count"},
            {"fn": "sum", "column": "n"},
            {"fn": "min", "column": "s"},
            {"fn": "concat", "column": "s"},
        ],
    )
    assert one(run(spec, tables, duck, pg_conn, pg_schema)) == [(0, None, None, None)]


def test_group_first_last_and_string_min_max(duck: Any, pg_conn: Any, pg_schema: str) -> None:
    tables = {
        "t": (
            {"k": T.STRING, "o": T.INTEGER, "v": T.STRING},
            [("a", 1, "x"), ("a", 2, None), ("a", 2, "Y"), ("b", None, "q"), ("b", 5, "Q")],
        )
    }
    spec = recipe(
        type="group",
        inputs=["t"],
        keys=["k"],
        aggregations=[
            {"fn": "first", "column": "v", "order_by": [{"column": "o"}]},
            {"fn": "last", "column": "v", "order_by": [{"column": "o"}]},
            {"fn": "min", "column": "v"},
            {"fn": "max", "column": "v"},
            {"fn": "concat", "column": "v", "separator": "|"},
            {"fn": "sum", "column": "o"},
            {"fn": "avg", "column": "o"},
        ],
    )
    rows = one(run(spec, tables, duck, pg_conn, pg_schema))
    # last of 'a': order o=2 ties broken by the value, NULLs last -> the NULL row is last.
    assert rows == [
        ("a", "x", None, "Y", "x", "Y|x", 5, pytest.approx(5 / 3)),
        ("b", "Q", "q", "Q", "q", "Q|q", 5, 5.0),
    ]


def test_join_kinds_and_null_keys(duck: Any, pg_conn: Any, pg_schema: str) -> None:
    tables = {
        "l": ({"k": T.INTEGER, "a": T.STRING}, [(1, "one"), (2, "two"), (None, "null")]),
        "r": ({"k": T.INTEGER, "b": T.STRING}, [(1, "uno"), (1, "eins"), (3, "tres"), (None, "nada")]),
        "s": ({"k": T.INTEGER}, [(2,), (2,)]),
    }
    for kind, expected in [
        ("inner", [(1, "one", "eins"), (1, "one", "uno")]),
        ("left", [(1, "one", "eins"), (1, "one", "uno"), (2, "two", None), (None, "null", None)]),
        (
            "full",
            [
                (1, "one", "eins"),
                (1, "one", "uno"),
                (2, "two", None),
                (None, "null", None),
                (None, None, "nada"),
                (None, None, "tres"),
            ],
        ),
    ]:
        spec = recipe(
            type="join",
            inputs=["l", "r"],
            joins=[{"with": "r", "type": kind, "on": [{"left": "k", "right": "k"}]}],
        )
        duck.execute("DROP TABLE IF EXISTS l; DROP TABLE IF EXISTS r; DROP TABLE IF EXISTS s")
        pg_conn.execute(f'DROP TABLE IF EXISTS "{pg_schema}".l, "{pg_schema}".r, "{pg_schema}".s')
        assert one(run(spec, tables, duck, pg_conn, pg_schema)) == sort_rows(expected), kind
    duck.execute("DROP TABLE IF EXISTS l; DROP TABLE IF EXISTS r; DROP TABLE IF EXISTS s")
    pg_conn.execute(f'DROP TABLE IF EXISTS "{pg_schema}".l, "{pg_schema}".r, "{pg_schema}".s')
    spec = recipe(
        type="join",
        inputs=["l", "r", "s"],
        joins=[
            {"with": "r", "type": "left_anti", "on": [{"left": "k", "right": "k"}]},
            {"with": "s", "type": "semi", "on": [{"left": "k", "right": "k"}]},
        ],
    )
    assert one(run(spec, tables, duck, pg_conn, pg_schema)) == [(2, "two")]


def test_anti_join_applies_before_a_following_right_join(duck: Any, pg_conn: Any, pg_schema: str) -> None:
    tables = {
        "l": ({"k": T.INTEGER}, [(1,), (2,)]),
        "r": ({"k": T.INTEGER}, [(1,)]),
        "z": ({"k": T.INTEGER, "c": T.STRING}, [(1, "matched-removed"), (2, "kept")]),
    }
    spec = recipe(
        type="join",
        inputs=["l", "r", "z"],
        select={"z": {"prefix": "z_"}},
        joins=[
            {"with": "r", "type": "left_anti", "on": [{"left": "k", "right": "k"}]},
            {"with": "z", "type": "right", "on": [{"left": "k", "right": "k"}]},
        ],
    )
    assert one(run(spec, tables, duck, pg_conn, pg_schema)) == [(2, "kept"), (None, "matched-removed")]


def test_window_frames_and_lag(duck: Any, pg_conn: Any, pg_schema: str) -> None:
    tables = {
        "t": (
            {"g": T.STRING, "o": T.INTEGER, "v": T.INTEGER},
            [("a", 1, 10), ("a", 2, 20), ("a", 3, None), ("a", 4, 40), ("b", 1, 5)],
        )
    }
    spec = recipe(
        type="window",
        inputs=["t"],
        partition_by=["g"],
        order_by=[{"column": "o"}],
        functions=[
            {"fn": "sum", "column": "v"},
            {"fn": "lag", "column": "v", "offset": 2},
            {"fn": "count", "column": "v", "frame": {"preceding": 1, "following": 0}},
            {"fn": "max", "column": "v", "frame": {"preceding": None, "following": None}},
        ],
    )
    assert one(run(spec, tables, duck, pg_conn, pg_schema)) == [
        ("a", 1, 10, 10, None, 1, 40),
        ("a", 2, 20, 30, None, 2, 40),
        ("a", 3, None, 30, 10, 1, 40),
        ("a", 4, 40, 70, 20, 1, 40),
        ("b", 1, 5, 5, None, 1, 5),
    ]


def test_postgres_runs_row_number_lag_and_running_sum_in_one_window_pass(
    duck: Any, pg_conn: Any, pg_schema: str
) -> None:
    """PostgreSQL plans one WindowAgg per distinct window definition, frame included: row_number
    and lag (which ignore the frame) carry the running sum's frame so all three share one pass,
    and still give the same rows as DuckDB."""
    tables = {"t": ({"g": T.STRING, "o": T.INTEGER, "v": T.INTEGER},
                    [("a", 1, 10), ("a", 2, 20), ("a", 3, None), ("b", 1, 5)])}
    spec = recipe(type="window", inputs=["t"], partition_by=["g"], order_by=[{"column": "o"}],
                  order_is_unique=True,
                  functions=[{"fn": "sum", "column": "v"}, {"fn": "lag", "column": "o"}, {"fn": "row_number"}])
    assert one(run(spec, tables, duck, pg_conn, pg_schema)) == [
        ("a", 1, 10, 10, None, 1), ("a", 2, 20, 30, 1, 2), ("a", 3, None, 30, 2, 3), ("b", 1, 5, 5, None, 1)]
    query = compile_recipe(spec, inputs_for(tables, pg_schema), "postgres")["out"]
    with pg_conn.cursor() as cur:
        cur.execute("EXPLAIN (FORMAT JSON, COSTS OFF) " + to_sql(query, "postgres"))
        plan = cur.fetchone()[0]

    def nodes(node: dict[str, Any]) -> list[str]:
        return [node["Node Type"], *(n for child in node.get("Plans", []) for n in nodes(child))]

    assert nodes(plan[0]["Plan"]).count("WindowAgg") == 1


def test_window_order_is_unique_sorts_on_order_by_alone() -> None:
    columns = {"g": T.STRING, "o": T.INTEGER, "v": T.INTEGER, "w": T.STRING}
    base = {"type": "window", "inputs": ["t"], "partition_by": ["g"], "order_by": [{"column": "o"}],
            "functions": [{"fn": "row_number"}]}
    inputs = inputs_for({"t": (columns, [])})
    tied = to_sql(compile_recipe(recipe(**base), inputs, "duckdb")["out"], "duckdb")
    unique = to_sql(compile_recipe(recipe(**base, order_is_unique=True), inputs, "duckdb")["out"], "duckdb")
    assert '"v"' in tied.split("ORDER BY", 1)[1] and '"w"' in tied.split("ORDER BY", 1)[1]
    after = unique.split("ORDER BY", 1)[1].split(")", 1)[0]
    assert '"o"' in after and '"v"' not in after and '"w"' not in after


def test_stack_widens_and_types_missing_columns(duck: Any, pg_conn: Any, pg_schema: str) -> None:
    tables = {
        "a": ({"x": T.INTEGER, "d": T.DATE}, [(1, dt.date(2024, 1, 1))]),
        "b": ({"x": T.DOUBLE, "s": T.STRING}, [(2.5, "z")]),
    }
    spec = recipe(type="stack", inputs=["a", "b"], origin_column="from")
    assert one(run(spec, tables, duck, pg_conn, pg_schema)) == [
        (1.0, dt.date(2024, 1, 1), None, "a"),
        (2.5, None, "z", "b"),
    ]


def test_split_rules_first_match_wins_and_null_is_false(duck: Any, pg_conn: Any, pg_schema: str) -> None:
    tables = {"t": ({"n": T.INTEGER}, [(1,), (5,), (10,), (None,)])}
    spec = recipe(
        type="split",
        inputs=["t"],
        outputs=["ge5", "ge1", "other"],
        rules=[{"output": "ge5", "expr": "n >= 5"}, {"output": "ge1", "expr": "n >= 1"}],
        else_output="other",
    )
    out = run(spec, tables, duck, pg_conn, pg_schema)
    assert out == {"ge5": [(5,), (10,)], "ge1": [(1,)], "other": [(None,)]}


@pytest.mark.parametrize("else_output", [None, "c"])
def test_random_split_is_the_documented_hash(duck: Any, pg_conn: Any, pg_schema: str, else_output: str | None) -> None:
    import hashlib

    rows = [(i, f"k{i}" if i % 3 else None) for i in range(40)]
    tables = {"t": ({"id": T.INTEGER, "s": T.STRING}, rows)}
    spec = recipe(
        type="split",
        inputs=["t"],
        outputs=["a", "b", "c"],
        random={"seed": 9, "key": ["id", "s"], "ratios": {"a": 0.5, "b": 0.25}},
        else_output=else_output,
    )
    out = run(spec, tables, duck, pg_conn, pg_schema)
    expected: dict[str, list[tuple[Any, ...]]] = {"a": [], "b": [], "c": []}
    for row in rows:
        h = int(hashlib.md5(f"9|{row[0]}|{row[1] or ''}".encode()).hexdigest()[:8], 16)
        name = "a" if h < int(0.5 * 16**8) else "b" if h < int(0.75 * 16**8) else else_output
        if name:
            expected[name].append(row)
    assert out == {k: sort_rows(v) for k, v in expected.items()}
    if else_output:  # the quarter past the bands is not lost
        assert sum(len(v) for v in out.values()) == len(rows) and out["c"]


def test_pivot_with_discovered_values(duck: Any, pg_conn: Any, pg_schema: str) -> None:
    tables = {
        "t": (
            {"k": T.STRING, "c": T.STRING, "v": T.INTEGER},
            [("x", "c", 1), ("x", "a", 2), ("x", "a", 3), ("y", "B", 4), ("y", None, 5)],
        )
    }
    spec = recipe(type="pivot", inputs=["t"], index=["k"], column="c", aggregations=[{"fn": "sum", "column": "v"}])
    load_duck(duck, tables)
    load_pg(pg_conn, pg_schema, tables)
    d_values = [r[0] for r in fetch_duck(duck, discover_pivot_values_query(spec, inputs_for(tables), "duckdb"))]
    p_values = [
        r[0] for r in fetch_pg(pg_conn, discover_pivot_values_query(spec, inputs_for(tables, pg_schema), "postgres"))
    ]
    assert d_values == p_values == ["B", "a", "c"]  # by code point
    d = fetch_duck(duck, compile_recipe(spec, inputs_for(tables), "duckdb", pivot_values=d_values)["out"])
    p = fetch_pg(pg_conn, compile_recipe(spec, inputs_for(tables, pg_schema), "postgres", pivot_values=p_values)["out"])
    assert sort_rows(d) == sort_rows(p) == [("x", None, 5, 1), ("y", 4, None, None)]


def test_sample_first_and_top_n(duck: Any, pg_conn: Any, pg_schema: str) -> None:
    tables = {"t": ({"g": T.INTEGER, "v": T.INTEGER}, [(1, 5), (1, 3), (1, 9), (2, 1), (2, None)])}
    spec = recipe(type="top_n", inputs=["t"], partition_by=["g"], order_by=[{"column": "v"}], first=1, last=1)
    assert one(run(spec, tables, duck, pg_conn, pg_schema)) == [(1, 3), (1, 9), (2, 1), (2, None)]
    duck.execute("DROP TABLE t")
    pg_conn.execute(f'DROP TABLE "{pg_schema}".t')
    spec = recipe(type="sample", inputs=["t"], n=2, order_by=[{"column": "v", "desc": True}])
    d, p = run_both(spec, tables, duck, pg_conn, pg_schema)["out"]
    assert d == p == [(2, None), (1, 9)]


def test_sql_recipe_runs_on_both(duck: Any, pg_conn: Any, pg_schema: str) -> None:
    assert one(run(RECIPES["sql"], TABLES, duck, pg_conn, pg_schema)) == [
        (1, "Paris", 21.0),
        (2, "Oslo", 5.0),
        (5, "Oslo", 14.0),
    ]


def test_to_sql_raises_instead_of_dropping_a_pivot() -> None:
    import sqlglot

    tree = sqlglot.parse_one("SELECT * FROM t PIVOT (sum(v) FOR c IN ('a', 'b'))", read="duckdb")
    with pytest.raises(sqlglot.errors.UnsupportedError):
        to_sql(tree, "postgres")


def test_safe_casts_text_forms_and_guarded_functions(duck: Any, pg_conn: Any, pg_schema: str) -> None:
    tables = {
        "t": (
            {"s": T.STRING, "x": T.DOUBLE, "n": T.INTEGER},
            [
                ("2024-01-01T10:00", 3.0, -2),
                ("2024-01-01 10:00:05.123", 0.1, 5),
                (" yes ", 4.0, None),
                ("2024-13-01", 1e20, 0),
                ("0000-01-01", float("nan"), 1),
                ("+5", 2.5, 3),
            ],
        )
    }
    spec = recipe(
        type="prepare",
        inputs=["t"],
        steps=[
            {"op": "formula", "column": "ts", "expr": "CAST(s AS TIMESTAMP)"},
            {"op": "formula", "column": "bo", "expr": "CAST(s AS BOOLEAN)"},
            {"op": "formula", "column": "xs", "expr": "CAST(x AS VARCHAR)"},
            {"op": "formula", "column": "sub", "expr": "substring(s, n, 3)"},
            {"op": "formula", "column": "g", "expr": "greatest(n, NULL, 1)"},
            {"op": "formula", "column": "sq", "expr": "sqrt(n) + ln(n)"},
            {"op": "formula", "column": "si", "expr": "CAST(s AS BIGINT)"},
            {"op": "formula", "column": "xi", "expr": "CAST(x AS INTEGER)"},
            {"op": "drop", "columns": ["s", "x", "n"]},
        ],
    )
    rows = one(run(spec, tables, duck, pg_conn, pg_schema))
    ts = dt.datetime(2024, 1, 1, 10, 0)
    assert rows == sort_rows(
        [
            (ts, None, "3.0", "", 1, None, None, 3),
            (ts.replace(second=5, microsecond=123000), None, "0.1", "-01", 5, pytest.approx(3.845506), None, 0),
            (None, True, "4.0", None, 1, None, None, 4),
            (None, None, "1e+20", "20", 1, None, None, None),
            (None, None, "nan", "000", 1, 1.0, None, None),
            (None, None, "2.5", "", 3, pytest.approx(2.830663), 5, 3),
        ]
    )
