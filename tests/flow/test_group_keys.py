"""GROUP BY keys that follow from other keys through a join on a verified unique key are read with MIN,
not grouped (``flow.groupkeys``): the pass on SQL, then Flows on DuckDB and PostgreSQL whose results must
equal the memory engine's on random data with NULL keys, unmatched rows and hostile names."""

from __future__ import annotations

import datetime as dt
import math
import re
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from tideflow.flow import build, explain_recipe, recipe_sql
from tideflow.flow.groupkeys import reduce_group_keys
from tideflow.project import load_project
from tideflow.recipes.types import ColumnType

T = ColumnType
KEYS = {"cards": [frozenset({"id"})], "pair": [frozenset({"a", "b"})]}
TYPES = {"card_id": T.INTEGER, "kind": T.STRING, "flag": T.BOOLEAN, "x": T.INTEGER, "k2": T.STRING, "n": T.INTEGER,
         "seq": T.INTEGER, "other": T.STRING}
ENRICHED = "WITH e AS (SELECT t.card_id, t.x, c.kind, c.flag FROM t LEFT JOIN cards AS c ON t.card_id = c.id) "


def _reduce(sql: str, keys: dict[str, list[frozenset[str]]] = KEYS) -> tuple[list[str], str]:
    tree = sqlglot.parse_one(sql, read="duckdb")
    assert isinstance(tree, exp.Query)
    dropped = reduce_group_keys(tree, lambda t: keys.get(t.name), TYPES)
    return dropped, tree.sql("duckdb")


@pytest.mark.parametrize(("sql", "dropped"), [
    # the card's attributes follow from card_id; the first keys stay
    (ENRICHED + "SELECT card_id, kind, COUNT(*) AS n FROM e AS _in GROUP BY card_id, kind", ["kind"]),
    (ENRICHED + "SELECT kind, card_id, COUNT(*) AS n FROM e AS _in GROUP BY kind, card_id", ["kind"]),
    (ENRICHED + "SELECT card_id, kind, flag, COUNT(*) AS n FROM e GROUP BY card_id, kind, flag", ["kind", "flag"]),
    # an INNER join, a condition on the joined table only, a rename and a row-wise expression on the way up
    ("WITH e AS (SELECT t.card_id, c.kind FROM t JOIN cards AS c ON c.id = t.card_id AND c.kind <> 'x'), "
     "s AS (SELECT card_id, UPPER(kind) AS k2 FROM (SELECT card_id, kind FROM e WHERE card_id > 0) AS q) "
     "SELECT card_id, k2 FROM s AS _in GROUP BY card_id, k2", ["k2"]),
    # through a window (its own outputs follow from nothing) and a nested group
    (ENRICHED + ", w AS (SELECT card_id, kind, ROW_NUMBER() OVER (PARTITION BY card_id ORDER BY x) AS seq FROM e) "
     "SELECT card_id, kind, seq FROM w GROUP BY card_id, kind, seq", ["kind"]),
    (ENRICHED + ", g AS (SELECT card_id, kind, COUNT(*) AS n FROM e GROUP BY card_id, kind) "
     "SELECT card_id, kind, n, COUNT(*) AS other FROM g GROUP BY card_id, kind, n", ["kind", "n"]),
    # what proves nothing
    ("WITH e AS (SELECT t.card_id, c.kind FROM t LEFT JOIN plain AS c ON t.card_id = c.id) "
     "SELECT card_id, kind FROM e GROUP BY card_id, kind", []),                          # no verified key
    ("WITH e AS (SELECT t.card_id, c.kind FROM t LEFT JOIN cards AS c ON t.card_id = c.other) "
     "SELECT card_id, kind FROM e GROUP BY card_id, kind", []),                          # not the key
    ("WITH e AS (SELECT t.card_id, c.kind FROM t LEFT JOIN cards AS c ON t.card_id = c.id AND t.x = 1) "
     "SELECT card_id, kind FROM e GROUP BY card_id, kind", []),                          # t.x decides too
    ("WITH e AS (SELECT t.card_id, c.kind FROM t RIGHT JOIN cards AS c ON t.card_id = c.id) "
     "SELECT card_id, kind FROM e GROUP BY card_id, kind", []),
    ("WITH e AS (SELECT t.card_id, c.kind FROM t FULL JOIN cards AS c ON t.card_id = c.id) "
     "SELECT card_id, kind FROM e GROUP BY card_id, kind", []),
    ("WITH e AS (SELECT t.card_id, c.kind FROM t LEFT JOIN pair AS c ON t.card_id = c.a) "
     "SELECT card_id, kind FROM e GROUP BY card_id, kind", []),                          # half a composite key
    ("WITH e AS (SELECT card_id, kind FROM t LEFT JOIN cards AS c ON t.card_id = c.id) "
     "SELECT card_id, kind FROM e GROUP BY card_id, kind", []),                          # unqualified: whose?
    (ENRICHED + "SELECT card_id, kind FROM (SELECT card_id, kind FROM e UNION ALL SELECT card_id, kind FROM e) "
     "AS u GROUP BY card_id, kind", []),
    (ENRICHED + ", s AS (SELECT card_id, kind || CAST(RANDOM() AS TEXT) AS k2 FROM e) "
     "SELECT card_id, k2 FROM s GROUP BY card_id, k2", []),                              # random: not row-wise
    (ENRICHED + ", w AS (SELECT card_id, ROW_NUMBER() OVER (ORDER BY x) AS seq FROM e) "
     "SELECT card_id, seq FROM w GROUP BY card_id, seq", []),                            # a window's output
    (ENRICHED + "SELECT card_id, kind, COUNT(*) AS n FROM e GROUP BY card_id, kind HAVING kind <> 'a'", []),
    (ENRICHED + "SELECT card_id, kind || 'x' AS k2 FROM e GROUP BY card_id, kind", []),  # read in an expression
    (ENRICHED + "SELECT card_id, kind FROM e GROUP BY ROLLUP (card_id, kind)", []),
    (ENRICHED + "SELECT kind, x FROM e GROUP BY kind, x", []),                           # the id is not a key
    # computed from a key itself: GROUP BY x merges 0.0 and -0.0, its text does not
    (ENRICHED + ", s AS (SELECT card_id, x, CAST(x AS TEXT) AS k2 FROM e) SELECT card_id, x, k2 FROM s "
     "GROUP BY card_id, x, k2", []),
    ("WITH e AS (SELECT t.card_id, t.x, c.kind FROM t LEFT JOIN cards AS c ON t.card_id = c.id "
     "AND CAST(t.x AS TEXT) = c.other) SELECT card_id, x, kind FROM e GROUP BY card_id, x, kind", []),
    ("WITH g AS (SELECT card_id, x, COUNT(*) AS n FROM t GROUP BY ALL) "
     "SELECT card_id, n FROM g GROUP BY card_id, n", []),                                # GROUP BY ALL
    ("WITH e AS (SELECT t.card_id, c.kind FROM t LEFT JOIN cards AS c(id, kind) ON t.card_id = c.id) "
     "SELECT card_id, kind FROM e GROUP BY card_id, kind", []),                          # columns renamed
])
def test_keys_are_dropped_only_where_a_unique_key_proves_them(sql: str, dropped: list[str]) -> None:
    got, out = _reduce(sql)
    assert got == dropped, out
    for name in dropped:
        aggregate = "BOOL_AND" if TYPES[name] == T.BOOLEAN else "MIN"
        assert re.search(rf"{aggregate}\((CAST\()?{name}( AS BOOLEAN\))?\) AS {name}\b", out.replace('"', "")), out
    assert out.count("GROUP BY") == sql.count("GROUP BY")


def test_an_aggregate_may_still_read_a_dropped_key() -> None:
    got, out = _reduce(ENRICHED + "SELECT card_id, kind, COUNT(DISTINCT kind) AS n FROM e GROUP BY card_id, kind")
    assert got == ["kind"] and out.endswith("GROUP BY card_id"), out


# ---------------------------------------------------------------- in a Flow, against the memory engine

HOSTILE = 'k"i;nd --x'
JOIN = f"""type: join
inputs: [pays, cards]
outputs: enriched
joins:
  - with: cards
    type: left
    "on": [{{left: card, right: card}}]
select:
  cards: {{columns: ['{HOSTILE}', flag, score, born], prefix: c_}}
"""
SIGNALS = f"""type: prepare
inputs: enriched
outputs: signals
steps:
  - op: rename
    columns: {{'c_{HOSTILE}': kind}}
  - {{op: formula, column: kind_upper, expr: "upper(kind)"}}
"""
PER_CARD = """type: group
inputs: signals
outputs: per_card
keys: [card, kind, kind_upper, c_flag, c_score, c_born]
aggregations:
  - {fn: count, output: n}
  - {fn: sum, column: amount, output: amount}
  - {fn: count_distinct, column: shop, output: shops}
  - {fn: first, column: shop, order_by: [{column: id}], output: first_shop}
"""
PER_SHOP = """type: group
inputs: signals
outputs: per_shop
keys: [shop, kind]
aggregations:
  - {fn: count, output: n}
"""
REDUCED = ["kind", "kind_upper", "c_flag", "c_score", "c_born"]

cards_rows = st.lists(
    st.tuples(st.sampled_from(["gold", "Silver", "'; DROP TABLE pays; --", "é", ""]), st.none() | st.booleans(),
              st.none() | st.sampled_from([0.5, -0.0, 2.25]), st.none() | st.sampled_from([dt.date(2024, 1, 1),
                                                                                          dt.date(1999, 12, 31)])),
    max_size=6)
pays_rows = st.lists(st.tuples(st.none() | st.integers(0, 8), st.integers(-3, 3), st.none() | st.integers(0, 2)),
                     max_size=25)
null_keyed = st.lists(st.sampled_from(["ghost", "other"]), max_size=2)  # cards rows with a NULL key: repeat freely
SETTINGS = settings(max_examples=12, deadline=None, derandomize=True)


def _write(root: Path, config: str, unique: bool) -> Path:
    for folder in ("datasets", "recipes"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "tideflow.yaml").write_text(config)
    (root / "datasets" / "pays.yaml").write_text("table: pays\n")
    (root / "datasets" / "cards.yaml").write_text("table: cards\n" + ("unique: [card]\n" if unique else ""))
    for name in ("enriched", "signals"):
        (root / "datasets" / f"{name}.yaml").write_text("virtual: true\n")
    for name, text in (("join", JOIN), ("signals", SIGNALS), ("per_card", PER_CARD), ("per_shop", PER_SHOP)):
        (root / "recipes" / f"{name}.yaml").write_text(text)
    return root


def _tables(cards: list[tuple[Any, ...]], ghosts: list[str], pays: list[tuple[Any, ...]]) -> tuple[list, list]:
    card_rows = [(i, *row) for i, row in enumerate(cards)] + [(None, g, True, 1.0, None) for g in ghosts]
    pay_rows = [(i, card, amount, shop) for i, (card, amount, shop) in enumerate(pays)]
    return card_rows, pay_rows


def _normal(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    def value(v: Any) -> Any:
        if isinstance(v, float):
            return round(v, 9) + 0.0 if not math.isnan(v) else "nan"
        return v
    return sorted((tuple(value(v) for v in row) for row in rows), key=repr)


def _duck_rows(root: Path, table: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(root / ".tide" / "warehouse.duckdb")) as con:
        return _normal(con.execute(f'SELECT * FROM "{table}"').fetchall())


def _load_duck(root: Path, card_rows: list, pay_rows: list) -> None:
    (root / ".tide").mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(root / ".tide" / "warehouse.duckdb")) as con:
        con.execute(f'CREATE TABLE cards (card BIGINT, "{HOSTILE.replace(chr(34), chr(34) * 2)}" VARCHAR, '
                    "flag BOOLEAN, score DOUBLE, born DATE)")
        if card_rows:
            con.executemany("INSERT INTO cards VALUES (?, ?, ?, ?, ?)", card_rows)
        con.execute("CREATE TABLE pays (id BIGINT, card BIGINT, amount BIGINT, shop BIGINT)")
        if pay_rows:
            con.executemany("INSERT INTO pays VALUES (?, ?, ?, ?)", pay_rows)


@SETTINGS
@given(cards=cards_rows, ghosts=null_keyed, pays=pays_rows)
def test_duckdb_groups_on_fewer_keys_and_gives_the_memory_engines_rows(cards: list, ghosts: list, pays: list) -> None:
    card_rows, pay_rows = _tables(cards, ghosts, pays)
    with tempfile.TemporaryDirectory() as tmp:
        declared = _write(Path(tmp) / "declared", "name: t\n", unique=True)
        oracle = _write(Path(tmp) / "oracle", "name: t\n", unique=False)
        for root in (declared, oracle):
            _load_duck(root, card_rows, pay_rows)
        sql = recipe_sql(load_project(declared), "per_card")["per_card"]
        assert 'GROUP BY\n    "card"\n) AS "_grouped"' in sql and 'MIN("kind_upper")' in sql, sql
        assert sql.rstrip().endswith('LEFT JOIN "main"."cards" AS "_late0"\n  ON "_grouped"."card" = "_late0"."card"')
        assert '"c_flag"' in recipe_sql(load_project(oracle), "per_card")["per_card"].split("GROUP BY")[-1]
        assert build(load_project(declared), engine="sql").ok
        result = build(load_project(oracle), engine="memory")
        assert result.ok, result.failed
        for table in ("per_card", "per_shop"):
            assert _duck_rows(declared, table) == _duck_rows(oracle, table)


def test_explain_says_which_keys_it_dropped(tmp_path: Path) -> None:
    root = _write(tmp_path / "p", "name: t\n", unique=True)
    _load_duck(root, *_tables([("gold", True, 0.5, None)], [], [(0, 1, 1)]))
    notes = explain_recipe(load_project(root), "per_card").notes
    assert notes == ("per_card groups by card only: kind, kind_upper, c_flag, c_score, c_born follow from it "
                     "through a join on a verified unique key",
                     "per_card reads kind, c_flag, c_score, c_born from cards after the group: one lookup per group",
                     "per_card reads kind_upper with MIN (one value per group)")
    assert explain_recipe(load_project(root), "per_shop").notes == ()  # shop determines nothing


@SETTINGS
@given(cards=cards_rows, ghosts=null_keyed, pays=pays_rows)
def test_postgres_groups_on_fewer_keys_and_gives_the_memory_engines_rows(
        cards: list, ghosts: list, pays: list, pg_conn: Any) -> None:
    from psycopg import sql as pgsql

    card_rows, pay_rows = _tables(cards, ghosts, pays)
    schema = "tide_test_groupkeys"
    ident = pgsql.Identifier(schema)
    pg_conn.execute(pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(ident))
    pg_conn.execute(pgsql.SQL("CREATE SCHEMA {}").format(ident))
    try:
        pg_conn.execute(pgsql.SQL("CREATE TABLE {}.cards (card BIGINT, {} TEXT, flag BOOLEAN, score DOUBLE PRECISION, "
                                  "born DATE)").format(ident, pgsql.Identifier(HOSTILE)))
        pg_conn.execute(pgsql.SQL("CREATE TABLE {}.pays (id BIGINT, card BIGINT, amount BIGINT, shop BIGINT)")
                        .format(ident))
        with pg_conn.cursor() as cur:
            cur.executemany(pgsql.SQL("INSERT INTO {}.cards VALUES (%s, %s, %s, %s, %s)").format(ident), card_rows)
            cur.executemany(pgsql.SQL("INSERT INTO {}.pays VALUES (%s, %s, %s, %s)").format(ident), pay_rows)
        config = (f"name: t\nconnections:\n  pg: {{type: postgres, dbname: test, user: postgres, schema: {schema}}}\n"
                  "defaults: {connection: pg}\n")
        with tempfile.TemporaryDirectory() as tmp:
            declared = _write(Path(tmp) / "declared", config, unique=True)
            sql = recipe_sql(load_project(declared), "per_card")["per_card"]
            assert 'GROUP BY\n    "card"\n) AS "_grouped"' in sql and 'MIN("kind_upper")' in sql, sql
            assert build(load_project(declared), engine="sql").ok
            got = {t: _normal(pg_conn.execute(pgsql.SQL("SELECT * FROM {}.{}").format(ident, pgsql.Identifier(t)))
                              .fetchall()) for t in ("per_card", "per_shop")}
            oracle = _write(Path(tmp) / "oracle", config, unique=False)
            result = build(load_project(oracle), engine="memory", mode="forced")
            assert result.ok, [(r.recipe, r.error) for r in result.failed]
            for table, rows in got.items():
                assert rows == _normal(pg_conn.execute(pgsql.SQL("SELECT * FROM {}.{}").format(
                    ident, pgsql.Identifier(table))).fetchall())
    finally:
        pg_conn.execute(pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(ident))
