"""Model to SQL: the SQL's predictions on real DuckDB and PostgreSQL equal the pipeline's to 1e-9."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlglot
from tests.models.sql.models import CAT, MODEL_NAMES, NUM_A, NUM_B, NUM_C, expected, fitted, frame, tolerance

from tideflow.errors import UnsupportedPushdown
from tideflow.models.sql import compile_model
from tideflow.models.sql.floats import f32_le_bound, f32_lt_bound

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:sklearn")  # feature-name notes from sklearn


@pytest.fixture(scope="module")
def test_rows() -> pd.DataFrame:
    return frame(300, 7, unseen=True)


def _compare(name: str, pipeline: Any, got: dict[str, list[Any]], rows: pd.DataFrame) -> None:
    want = expected(pipeline, rows)
    for output, values in want.items():
        column = got[output]
        if (values.dtype.kind in "fc" and output != "prediction") or values.dtype.kind == "f":
            diff = np.abs(np.asarray(column, dtype=np.float64) - values.astype(np.float64))
            assert diff.max() <= tolerance(name, output), f"{name} {output}: max diff {diff.max()}"
        else:
            assert [v for v in column] == values.tolist(), f"{name} {output}: labels differ"


def _duck_table(duck: Any, rows: pd.DataFrame) -> None:
    duck.register("rows_df", rows)
    duck.execute("CREATE TABLE scoring_input AS SELECT * FROM rows_df")
    duck.unregister("rows_df")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_duckdb_sql_equals_pipeline(name: str, duck: Any, test_rows: pd.DataFrame) -> None:
    pipeline = fitted(name)
    compiled = compile_model(pipeline)
    _duck_table(duck, test_rows)
    result = duck.execute(compiled.select("scoring_input", "duckdb")).fetchall()
    got = {n: [r[i] for r in result] for i, n in enumerate(compiled.outputs)}
    _compare(name, pipeline, got, test_rows)


def _pg_table(pg_conn: Any, schema: str, rows: pd.DataFrame) -> None:
    from psycopg import sql

    cols = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL("text" if c == CAT else "double precision"))
        for c in rows.columns
    )
    pg_conn.execute(sql.SQL("CREATE TABLE {}.{} ({})").format(sql.Identifier(schema), sql.Identifier("inp"), cols))
    records = [tuple(None if (isinstance(v, float) and np.isnan(v)) else v for v in r)
               for r in rows.itertuples(index=False)]
    with pg_conn.cursor() as cur:
        placeholders = sql.SQL(", ").join(sql.Placeholder() * len(rows.columns))
        cur.executemany(sql.SQL("INSERT INTO {}.{} VALUES ({})").format(
            sql.Identifier(schema), sql.Identifier("inp"), placeholders), records)


@pytest.mark.postgres
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_postgres_sql_equals_pipeline(name: str, pg_conn: Any, pg_schema: str, test_rows: pd.DataFrame) -> None:
    pipeline = fitted(name)
    compiled = compile_model(pipeline)
    _pg_table(pg_conn, pg_schema, test_rows)
    result = pg_conn.execute(compiled.select("inp", "postgres", schema=pg_schema)).fetchall()
    got = {n: [r[i] for r in result] for i, n in enumerate(compiled.outputs)}
    _compare(name, pipeline, got, test_rows)


@pytest.mark.parametrize("name", ["lightgbm_multi", "random_forest_labels", "xgboost", "logistic_multinomial"])
@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_standalone_output_expressions(name: str, dialect: str, duck: Any, pg_conn: Any, pg_schema: str,
                                       test_rows: pd.DataFrame) -> None:
    """Each output expression alone (no subquery) gives the same values."""
    pipeline = fitted(name)
    texts = compile_model(pipeline).sql(dialect)
    projection = ", ".join(f"{text} AS o{i}" for i, text in enumerate(texts.values()))
    if dialect == "duckdb":
        _duck_table(duck, test_rows)
        result = duck.execute(f"SELECT {projection} FROM scoring_input").fetchall()
    else:
        _pg_table(pg_conn, pg_schema, test_rows)
        result = pg_conn.execute(f'SELECT {projection} FROM "{pg_schema}".inp').fetchall()
    got = {n: [r[i] for r in result] for i, n in enumerate(texts)}
    _compare(name, pipeline, got, test_rows)


def test_lightgbm_booster_and_bare_estimator(duck: Any) -> None:
    import lightgbm as lgb

    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 3))
    x[rng.random(500) < 0.1, 1] = np.nan
    y = (x[:, 0] + np.nan_to_num(x[:, 1]) > 0).astype(int)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 7},
                        lgb.Dataset(x, y, feature_name=["f a", "f;b", "f'c"]), num_boost_round=20)
    compiled = compile_model(booster, input_columns=["f a", "f;b", "f'c"])  # LightGBM renames "f a" to "f_a"
    rows = pd.DataFrame(rng.normal(size=(200, 3)), columns=["f a", "f;b", "f'c"])
    rows.iloc[::4, 1] = np.nan
    _duck_table(duck, rows)
    got = np.array([r[0] for r in duck.execute(compiled.select("scoring_input", "duckdb")).fetchall()])
    assert np.abs(got - booster.predict(rows.to_numpy())).max() <= 1e-9


def test_unnamed_matrix_needs_input_columns() -> None:
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(np.arange(20.0).reshape(10, 2), np.arange(10.0))
    with pytest.raises(UnsupportedPushdown, match="pass input_columns"):
        compile_model(model)
    assert "prediction" in compile_model(model, input_columns=["a", "b"]).sql("postgres")


def test_unsupported_models_say_why() -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, PolynomialFeatures

    df = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "c": ["x", "y", "x", "y"]})
    y = [0, 1, 0, 1]
    knn = Pipeline([("prep", ColumnTransformer([("n", "passthrough", ["a"])])), ("m", KNeighborsClassifier(1))])
    with pytest.raises(UnsupportedPushdown, match=r"KNeighborsClassifier is not supported.*supported: Logistic"):
        compile_model(knn.fit(df, y))
    poly = Pipeline([("prep", ColumnTransformer([("n", PolynomialFeatures(), ["a"])])), ("m", LogisticRegression())])
    with pytest.raises(UnsupportedPushdown, match=r"'n'.*PolynomialFeatures is not supported"):
        compile_model(poly.fit(df, y))
    strict = Pipeline([("prep", ColumnTransformer([("c", OneHotEncoder(), ["c"])])), ("m", LogisticRegression())])
    with pytest.raises(UnsupportedPushdown, match=r"handle_unknown='error'.*refit with handle_unknown='ignore'"):
        compile_model(strict.fit(df, y))


def test_unsupported_xgboost_multiclass() -> None:
    import xgboost as xgb

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(90, 2)), columns=["a", "b"])
    model = xgb.XGBClassifier(n_estimators=2).fit(x, np.arange(90) % 3)
    with pytest.raises(UnsupportedPushdown, match="multiclass XGBoost is not supported"):
        compile_model(model)


def test_unknown_dialect() -> None:
    compiled = compile_model(fitted("ridge"))
    with pytest.raises(UnsupportedPushdown, match="dialect 'mysql' is not supported"):
        compiled.sql("mysql")


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_hostile_names_and_values_keep_the_meaning(dialect: str) -> None:
    compiled = compile_model(fitted("random_forest"))
    text = compiled.select('t"; DROP TABLE x; --', dialect, keep=[NUM_A])
    statements = [s for s in sqlglot.parse(text, dialect=dialect) if s is not None]
    assert len(statements) == 1  # no statement injected by a name or a category value
    tree = statements[0]
    columns = {c.name for c in tree.find_all(sqlglot.exp.Column)} - {"__margin_0", "__margin_1"}
    assert columns <= {NUM_A, NUM_B, NUM_C, CAT}
    strings = {s.this for s in tree.find_all(sqlglot.exp.Literal) if s.is_string}
    assert {"it's", 'q"uote', "semi;colon"} & strings
    assert [t.name for t in tree.find_all(sqlglot.exp.Table)] == ['t"; DROP TABLE x; --']


def test_expression_size_is_sane() -> None:
    compiled = compile_model(fitted("lightgbm"))
    text = compiled.sql("duckdb")["proba_1"]
    assert text.count("CASE") < 30 * 15  # one CASE per split, no duplication
    assert '"amount ""usd""; --" <=' in text or '"amount ""usd""; --" >' in text  # splits read raw columns


@pytest.mark.parametrize("seed", range(5))
def test_float32_bounds_match_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    thresholds = np.concatenate([
        rng.normal(size=50) * 10.0 ** rng.integers(-30, 30, 50),
        (rng.normal(size=50).astype(np.float32).astype(np.float64)),
        [0.0, -0.0, 1e-45, -1e-45, 3.4028234663852886e38, -3.4028234663852886e38],
    ])
    for t in thresholds:
        b, strict = f32_le_bound(float(t))
        near = np.array([b, np.nextafter(b, np.inf), np.nextafter(b, -np.inf), t, np.nextafter(t, np.inf)])
        with np.errstate(over="ignore"):
            want = near.astype(np.float32).astype(np.float64) <= t
        got = near < b if strict else near <= b
        assert (want == got).all(), (t, b, strict)
        s = float(np.float32(t)) if abs(t) < 3e38 else 1.0
        b2, strict2 = f32_lt_bound(s)
        with np.errstate(over="ignore"):
            want2 = near.astype(np.float32) < np.float32(s)
        got2 = near < b2 if strict2 else near <= b2
        assert (want2 == got2).all(), (s, b2, strict2)
