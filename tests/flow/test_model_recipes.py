"""The ``score`` and ``evaluate`` recipes on real DuckDB and PostgreSQL with real saved models.

Predictions are checked against the scikit-learn pipeline's own ``predict_proba``: 1e-9 when the
model runs as SQL in the database, 1e-6 through the compiled scorer. Metrics against scikit-learn
computed directly. Column names are hostile on purpose (quotes, semicolons, spaces).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from tideflow.errors import ProjectError
from tideflow.flow import Workspace, build, explain_recipe, plan_build
from tideflow.flow.model_recipes import Machine, batch_engine, cluster_address, on_this_machine
from tideflow.models import Registry
from tideflow.monitoring.frames import model_frame
from tideflow.project import ComputeSpec, load_project

from .conftest import Writer

AMOUNT = 'amount "usd"; --'
AGE = "age's"
CITY = 'city"; DROP TABLE x; --'
FEATURES = [AMOUNT, AGE, CITY]
LABELS = ["no", "yes 'y'"]
CITIES = ["FR", "it's", 'q"uote', "semi;colon"]


def make_rows(n: int = 400, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3.0, 1.0, n)
    amount[rng.random(n) < 0.1] = np.nan
    age = rng.integers(18, 80, n).astype("int64")
    city = rng.choice(CITIES, n).astype(object)
    city[rng.random(n) < 0.1] = None
    logit = 0.8 * (np.log(np.nan_to_num(amount, nan=20.0)) - 3.0) - 0.03 * (age - 50) + (city == "FR") * 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")
    value = 10 * np.nan_to_num(amount, nan=20.0) ** 0.5 + age / 5 + rng.normal(0, 1, n)
    kind = np.digitize(logit + rng.normal(0, 0.5, n), [-0.5, 0.5])
    return pa.table({
        "id": pa.array(np.arange(n, dtype="int64")),
        AMOUNT: pa.array(amount, from_pandas=True),
        AGE: pa.array(age),
        CITY: pa.array(city.tolist(), type=pa.string()),
        "label": pa.array([LABELS[int(v)] for v in y]),
        "value": pa.array(value),
        "kind": pa.array([["low", "mid", "high"][int(k)] for k in kind]),
    })


def fit(table: pa.Table, task: str = "binary", *, compilable: bool = True) -> tuple[Any, list[Any]]:
    """A fitted pipeline as the Lab makes them: trained on class indices; returns it and the labels."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    numeric = [SimpleImputer(strategy="median")] + ([] if compilable else [FunctionTransformer(np.log1p)])
    prep = ColumnTransformer([
        ("num", make_pipeline(*numeric, StandardScaler()), [AMOUNT, AGE]),
        # a missing city (NaN in the model frame) is a category of its own for the encoder
        ("cat", OneHotEncoder(handle_unknown="ignore"), [CITY]),
    ])
    frame = model_frame(table, FEATURES)
    if task == "regression":
        pipe = Pipeline([("prep", prep), ("model", LinearRegression())])
        return pipe.fit(frame, table.column("value").to_numpy()), []
    column = "label" if task == "binary" else "kind"
    labels = sorted(set(table.column(column).to_pylist()))
    y = np.array([labels.index(v) for v in table.column(column).to_pylist()])
    pipe = Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=500))])
    return pipe.fit(frame, y), labels


def save_model(root: Path, name: str, pipe: Any, labels: list[Any], *, task: str = "binary",
               threshold: float | None = 0.4, target: str = "label", activate: bool = True) -> int:
    metrics: dict[str, Any] = {"auc": 0.8}
    if threshold is not None:
        metrics["threshold"] = threshold
    schema = {AMOUNT: "double", AGE: "integer", CITY: "string"}
    record = {"spec": {"target": target, "task": task}, "classes": labels, "data_version": "d1"}
    with Registry(root / ".tide") as registry:
        return registry.save(name, pipe, algorithm="logistic", metric="auc", score=0.8, metrics=metrics,
                             input_schema=schema, record=record, activate=activate).version


def write_duck(root: Path, name: str, table: pa.Table) -> None:
    (root / ".tide").mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    try:
        con.register("incoming", table)
        con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM incoming')
    finally:
        con.close()


def read_duck(root: Path, name: str) -> pa.Table:
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    try:
        return con.sql(f'SELECT * FROM "{name}" ORDER BY id').to_arrow_table()
    finally:
        con.close()


def expected_binary(pipe: Any, table: pa.Table, threshold: float = 0.4) -> tuple[np.ndarray, list[str]]:
    p = pipe.predict_proba(model_frame(table, FEATURES))[:, 1]
    return p, [LABELS[int(v)] for v in (p >= threshold)]


def score_yaml(model: str = "fraud", *, engine: str | None = None, extra: str = "") -> str:
    text = f"type: score\ninputs: tx\noutputs: scored\nmodel: {model}\n"
    if engine:
        text += f"engine: {engine}\n"
    return text + extra


@pytest.fixture()
def binary_project(make_project: Writer) -> tuple[Path, Any, pa.Table]:
    table = make_rows()
    root = make_project({"scored.yaml": score_yaml()}, {"tx.yaml": "table: tx\n"})
    write_duck(root, "tx", table)
    pipe, labels = fit(table)
    assert labels == LABELS
    save_model(root, "fraud", pipe, labels)
    return root, pipe, table


# ---------------------------------------------------------------------- score on DuckDB


def test_score_runs_in_duckdb_as_sql_and_matches_the_pipeline(binary_project: tuple[Path, Any, pa.Table]) -> None:
    root, pipe, table = binary_project
    project = load_project(root)
    planned = explain_recipe(project, "scored")
    assert planned.engine == "sql"
    assert "model fraud v1 compiles to duckdb SQL" in planned.reason and "no rows pass through Python" in planned.reason
    assert planned.sql["scored"].lstrip().upper().startswith("SELECT")
    result = build(project)
    assert result.ok, result.failed
    assert [(r.engine, r.bytes_through_python) for r in result.runs] == [("sql", 0)]
    out = read_duck(root, "scored")
    assert out.column_names == [*table.column_names, "prediction", "probability"]
    p, labels = expected_binary(pipe, table)
    np.testing.assert_allclose(out.column("probability").to_numpy(), p, rtol=0, atol=1e-9)
    assert out.column("prediction").to_pylist() == labels
    assert out.column(CITY).to_pylist() == table.column(CITY).to_pylist()  # hostile names pass through
    with Workspace(project) as workspace:  # what the batch engine choice weighs on a cluster
        assert 0 < (workspace.estimated_bytes("tx") or 0) < 10**7


def test_score_memory_engine_streams_batches_through_the_compiled_scorer(
        make_project: Writer, binary_project: tuple[Path, Any, pa.Table]) -> None:
    root, pipe, table = binary_project
    (root / "recipes" / "scored.yaml").write_text(score_yaml(engine="memory", extra="batch_rows: 64\n"))
    project = load_project(root)
    planned = explain_recipe(project, "scored")
    assert (planned.engine, planned.reason, planned.sql) == ("memory", "memory engine forced", {})
    result = build(project)
    assert result.ok, result.failed
    assert result.runs[0].engine == "memory" and result.runs[0].bytes_through_python > 0
    out = read_duck(root, "scored")
    p, labels = expected_binary(pipe, table)
    np.testing.assert_allclose(out.column("probability").to_numpy(), p, rtol=0, atol=1e-6)
    assert out.column("prediction").to_pylist() == labels
    assert out.num_rows == table.num_rows


def test_a_model_that_does_not_compile_to_sql_is_explained_and_scored_in_memory(make_project: Writer) -> None:
    table = make_rows(seed=3)
    root = make_project({"scored.yaml": score_yaml("logged")}, {"tx.yaml": "table: tx\n"})
    write_duck(root, "tx", table)
    pipe, labels = fit(table, compilable=False)
    save_model(root, "logged", pipe, labels, threshold=None)
    project = load_project(root)
    planned = explain_recipe(project, "scored")
    assert planned.engine == "memory"
    assert "model logged v1: does not compile to SQL" in planned.reason
    assert "FunctionTransformer" in planned.reason
    assert "no Ray cluster is attached" in planned.reason and "3.5-6x slower" in planned.reason
    with pytest.raises(ProjectError, match=r"^recipe 'scored': the sql engine was forced for this build but model "
                                           r"logged v1: does not compile to SQL"):
        plan_build(project, engine="sql")
    assert build(project).ok
    out = read_duck(root, "scored")
    p, labels = expected_binary(pipe, table, 0.5)  # no stored threshold: 0.5
    np.testing.assert_allclose(out.column("probability").to_numpy(), p, rtol=0, atol=1e-6)
    assert out.column("prediction").to_pylist() == labels


def test_a_large_tree_ensemble_scores_in_memory_unless_sql_is_forced(make_project: Writer) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    from tideflow.flow.planner import MAX_SQL_SPLITS

    table = make_rows(seed=7)
    root = make_project({"scored.yaml": score_yaml("boosted")}, {"tx.yaml": "table: tx\n"})
    write_duck(root, "tx", table)
    prep = ColumnTransformer([("num", SimpleImputer(strategy="median"), [AMOUNT, AGE])])
    model = GradientBoostingClassifier(n_estimators=200, max_depth=3, random_state=0)
    y = np.array([LABELS.index(v) for v in table.column("label").to_pylist()])
    pipe = Pipeline([("prep", prep), ("model", model)]).fit(model_frame(table, FEATURES), y)
    save_model(root, "boosted", pipe, LABELS, threshold=None)
    project = load_project(root)
    planned = explain_recipe(project, "scored")
    assert planned.engine == "memory", planned.reason
    assert "model boosted v1 compiles to SQL, but its trees have" in planned.reason
    assert f"above {MAX_SQL_SPLITS:,} a database evaluates" in planned.reason
    (root / "recipes" / "scored.yaml").write_text(score_yaml("boosted", engine="sql"))
    forced = load_project(root)
    assert explain_recipe(forced, "scored").engine == "sql"
    assert build(forced).ok
    out = read_duck(root, "scored")
    p = pipe.predict_proba(model_frame(table, FEATURES))[:, 1]
    np.testing.assert_allclose(out.column("probability").to_numpy(), p, rtol=0, atol=1e-9)


def test_multiclass_and_regression_columns_with_a_prefix(make_project: Writer) -> None:
    table = make_rows(seed=5)
    recipes = {"classes.yaml": "type: score\ninputs: tx\noutputs: by_kind\nmodel: kinds\nprefix: 'k \"1\" '\n",
               "values.yaml": "type: score\ninputs: tx\noutputs: by_value\nmodel: values\nprefix: est_\n"
                              "engine: memory\n"}
    root = make_project(recipes, {"tx.yaml": "table: tx\n"})
    write_duck(root, "tx", table)
    kinds, labels = fit(table, "multiclass")
    values, _ = fit(table, "regression")
    save_model(root, "kinds", kinds, labels, task="multiclass", target="kind")
    save_model(root, "values", values, [], task="regression", target="value")
    assert build(load_project(root)).ok
    frame = model_frame(table, FEATURES)

    by_kind = read_duck(root, "by_kind")
    prefix = 'k "1" '
    names = [f"{prefix}probability_{label}" for label in labels]
    assert by_kind.column_names[-4:] == [f"{prefix}prediction", *names]
    proba = kinds.predict_proba(frame)
    got = np.column_stack([by_kind.column(n).to_numpy() for n in names])
    np.testing.assert_allclose(got, proba, rtol=0, atol=1e-9)
    assert by_kind.column(f"{prefix}prediction").to_pylist() == [labels[i] for i in proba.argmax(axis=1)]

    by_value = read_duck(root, "by_value")
    assert by_value.column_names[-1] == "est_prediction"
    np.testing.assert_allclose(by_value.column("est_prediction").to_numpy(), values.predict(frame), rtol=1e-9,
                               atol=1e-6)


def test_outputs_that_would_overwrite_an_input_column_name_the_prefix_key(make_project: Writer) -> None:
    table = make_rows().append_column("prediction", pa.array([1] * 400))
    root = make_project({"scored.yaml": score_yaml()}, {"tx.yaml": "table: tx\n"})
    write_duck(root, "tx", table)
    pipe, labels = fit(table)
    save_model(root, "fraud", pipe, labels)
    with pytest.raises(ProjectError, match=r"^recipes/scored.yaml at prefix: recipe 'scored': output column\(s\) "
                                           r"\['prediction'\] clash with the columns of input 'tx'; set 'prefix'"):
        build(load_project(root))  # found when the build is planned: nothing runs
    (root / "recipes" / "scored.yaml").write_text(score_yaml(extra="prefix: fraud_\n"))
    assert build(load_project(root)).ok
    assert read_duck(root, "scored").column_names[-2:] == ["fraud_prediction", "fraud_probability"]


def test_tide_flow_explain_shows_the_engine_and_why(binary_project: tuple[Path, Any, pa.Table]) -> None:
    from typer.testing import CliRunner

    from tideflow.cli.main import app

    root, _pipe, _table = binary_project
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "TIDE_PROJECT": None})
    result = runner.invoke(app, ["flow", "explain", "scored", "--project", str(root)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "scored [score]" in text and "engine sql on warehouse" in text
    assert "model fraud v1 compiles to duckdb SQL" in text and '"__margin_0"' in text
    (root / "recipes" / "scored.yaml").write_text(score_yaml(engine="ray"))
    result = runner.invoke(app, ["flow", "explain", "scored", "--project", str(root)])
    text = " ".join(result.output.split())
    assert "engine ray" in text and "ray engine forced" in text and "runs on the Ray cluster" in text


# ---------------------------------------------------------------------- versions and errors


def test_activating_another_version_makes_the_recipe_outdated(binary_project: tuple[Path, Any, pa.Table]) -> None:
    root, _pipe, table = binary_project
    (root / "recipes" / "pinned.yaml").write_text("type: score\ninputs: tx\noutputs: pinned\nmodel: fraud\n"
                                                  "version: 1\n")
    assert build(load_project(root)).ok
    assert plan_build(load_project(root)).steps == []

    other, labels = fit(make_rows(seed=9))
    assert save_model(root, "fraud", other, labels, threshold=0.6) == 2  # the new version is active
    plan = plan_build(load_project(root))
    assert [(s.recipe, s.outdated_reason) for s in plan.steps] == [
        ("scored", "the model changed: fraud v1 -> fraud v2")]  # the pinned recipe stays up to date
    assert build(load_project(root)).ok
    p, expected = expected_binary(other, table, 0.6)
    out = read_duck(root, "scored")
    np.testing.assert_allclose(out.column("probability").to_numpy(), p, rtol=0, atol=1e-9)
    assert out.column("prediction").to_pylist() == expected
    assert plan_build(load_project(root)).steps == []

    with Registry(root / ".tide") as registry:
        registry.activate("fraud", 1)
    plan = plan_build(load_project(root))
    assert [(s.recipe, s.outdated_reason) for s in plan.steps] == [
        ("scored", "the model changed: fraud v2 -> fraud v1")]


def test_a_missing_model_names_the_recipe_file_and_the_model_key(binary_project: tuple[Path, Any, pa.Table]) -> None:
    root, _pipe, _table = binary_project
    (root / "recipes" / "scored.yaml").write_text(score_yaml("frod"))
    project = load_project(root)
    message = (r"^recipes/scored.yaml:4 at model: recipe 'scored': no saved model 'frod': did you mean 'fraud'\? "
               r"\(saved models: fraud; train one with 'tide lab train'\)$")
    with pytest.raises(ProjectError, match=message):
        explain_recipe(project, "scored")
    with pytest.raises(ProjectError, match=message):
        build(project)
    (root / "recipes" / "scored.yaml").write_text(score_yaml(extra="version: 7\n"))
    with pytest.raises(ProjectError, match=r"^recipes/scored.yaml:5 at version: recipe 'scored': model 'fraud' has "
                                           r"no version 7 \(versions: 1\)$"):
        plan_build(load_project(root))


def test_specs_reject_unknown_keys_and_a_second_input(make_project: Writer) -> None:
    root = make_project({"scored.yaml": score_yaml(extra="prefx: a_\n")}, {"tx.yaml": "table: tx\n"})
    with pytest.raises(ProjectError, match=r"recipes/scored.yaml:5.*prefx.*did you mean 'prefix'"):
        load_project(root)
    (root / "recipes" / "scored.yaml").write_text("type: evaluate\ninputs: [tx, tx]\noutputs: m\nmodel: fraud\n")
    with pytest.raises(ProjectError, match=r"an evaluate recipe reads exactly one input, got 2|exactly one input"):
        load_project(root)
    (root / "recipes" / "scored.yaml").write_text("type: evaluate\ninputs: tx\noutputs: m\nmodel: fraud\n"
                                                  "engine: sql\n")
    with pytest.raises(ProjectError, match=r"recipes/scored.yaml:5 at engine"):
        load_project(root)


# ---------------------------------------------------------------------- PostgreSQL


def _pg_create(pg_conn: Any, schema: str, table: pa.Table) -> None:
    from psycopg import sql

    types = {AMOUNT: "DOUBLE PRECISION", AGE: "BIGINT", CITY: "TEXT"}
    cols = ["id", AMOUNT, AGE, CITY, "label"]
    ddl = sql.SQL("CREATE TABLE {}.tx ({})").format(sql.Identifier(schema), sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(types.get(c, "BIGINT" if c == "id" else "TEXT")))
        for c in cols))
    pg_conn.execute(ddl)
    with pg_conn.cursor().copy(sql.SQL("COPY {}.tx ({}) FROM STDIN").format(
            sql.Identifier(schema), sql.SQL(", ").join(sql.Identifier(c) for c in cols))) as copy:
        for row in zip(*(table.column(c).to_pylist() for c in cols), strict=True):
            copy.write_row(row)


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["sql", "memory"])
def test_score_on_postgres(make_project: Writer, pg_conn: Any, pg_schema: str, engine: str) -> None:
    table = make_rows(300, seed=11).select(["id", AMOUNT, AGE, CITY, "label"])
    _pg_create(pg_conn, pg_schema, table)
    config = (f"name: t\nconnections:\n  pg:\n    type: postgres\n    dbname: test\n    user: postgres\n"
              f"    schema: {pg_schema}\ndefaults: {{connection: pg}}\n")
    root = make_project({"scored.yaml": score_yaml(engine=engine if engine == "memory" else None,
                                                   extra="batch_rows: 100\n")},
                        {"tx.yaml": "table: tx\n"}, config=config)
    pipe, labels = fit(table)
    save_model(root, "fraud", pipe, labels)
    project = load_project(root)
    planned = explain_recipe(project, "scored")
    assert planned.engine == engine
    if engine == "sql":
        assert "postgres connection 'pg' and model fraud v1 compiles to postgres SQL" in planned.reason
    result = build(project)
    assert result.ok, result.failed
    assert (result.runs[0].bytes_through_python == 0) == (engine == "sql")
    from psycopg import sql

    rows = pg_conn.execute(sql.SQL('SELECT id, prediction, probability, {} FROM {}.scored ORDER BY id').format(
        sql.Identifier(CITY), sql.Identifier(pg_schema))).fetchall()
    p, expected = expected_binary(pipe, table)
    np.testing.assert_allclose([r[2] for r in rows], p, rtol=0, atol=1e-9 if engine == "sql" else 1e-6)
    assert [r[1] for r in rows] == expected
    assert [r[3] for r in rows] == table.column(CITY).to_pylist()
    with Workspace(project) as workspace:
        assert 0 < (workspace.estimated_bytes("tx") or 0) < 10**7


# ---------------------------------------------------------------------- evaluate


def _evaluate_yaml(model: str, target: str | None = None) -> str:
    return textwrap.dedent(f"""\
        type: evaluate
        inputs: tx
        outputs: {model}_metrics
        model: {model}
        """) + (f"target: {target}\n" if target else "")


def _metrics(root: Path, name: str) -> dict[str, float | None]:
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    try:
        rows = con.execute(f'SELECT metric, value, model, model_version, "rows", data_version FROM "{name}"').fetchall()
    finally:
        con.close()
    assert len({r[2:] for r in rows}) == 1  # model, version, rows and data version on every row
    return {r[0]: r[1] for r in rows}


def test_evaluate_metrics_equal_scikit_learn(make_project: Writer) -> None:
    from sklearn import metrics as m

    table = make_rows(500, seed=21)
    recipes = {"fraud_metrics.yaml": _evaluate_yaml("fraud"), "kinds_metrics.yaml": _evaluate_yaml("kinds"),
               "values_metrics.yaml": _evaluate_yaml("values", "value")}
    root = make_project(recipes, {"tx.yaml": "table: tx\n"})
    write_duck(root, "tx", table)
    fraud, labels = fit(table)
    kinds, kind_labels = fit(table, "multiclass")
    values, _ = fit(table, "regression")
    save_model(root, "fraud", fraud, labels, threshold=0.35)
    save_model(root, "kinds", kinds, kind_labels, task="multiclass", target="kind", threshold=None)
    save_model(root, "values", values, [], task="regression", target="unused", threshold=None)
    project = load_project(root)
    planned = explain_recipe(project, "fraud_metrics")
    assert planned.engine == "memory" and "scikit-learn" in planned.reason
    result = build(project)
    assert result.ok, result.failed
    frame = model_frame(table, FEATURES)

    got = _metrics(root, "fraud_metrics")
    y = np.array([labels.index(v) for v in table.column("label").to_pylist()])
    proba = fraud.predict_proba(frame)
    label = (proba[:, 1] >= 0.35).astype(int)
    want = {"auc": m.roc_auc_score(y, proba[:, 1]), "logloss": m.log_loss(y, proba),
            "accuracy": m.accuracy_score(y, label), "precision": m.precision_score(y, label),
            "recall": m.recall_score(y, label), "f1": m.f1_score(y, label), "threshold": 0.35}
    assert list(got) == list(want)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-6), name

    got = _metrics(root, "kinds_metrics")
    y = np.array([kind_labels.index(v) for v in table.column("kind").to_pylist()])
    proba = kinds.predict_proba(frame)
    want = {"accuracy": m.accuracy_score(y, proba.argmax(axis=1)), "logloss": m.log_loss(y, proba),
            "f1_macro": m.f1_score(y, proba.argmax(axis=1), average="macro")}
    assert got == pytest.approx(want, abs=1e-6)

    got = _metrics(root, "values_metrics")
    y_value = table.column("value").to_numpy()
    pred = values.predict(frame)
    want = {"rmse": np.sqrt(m.mean_squared_error(y_value, pred)), "mae": m.mean_absolute_error(y_value, pred),
            "r2": m.r2_score(y_value, pred)}
    assert got == pytest.approx(want, rel=1e-9, abs=1e-6)

    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    try:
        meta = con.execute('SELECT DISTINCT model, model_version, "rows", data_version FROM fraud_metrics').fetchall()
    finally:
        con.close()
    assert meta[0][:3] == ("fraud", 1, 500) and meta[0][3].startswith("source:")


def test_evaluate_names_an_unknown_target_value(make_project: Writer) -> None:
    table = make_rows(200, seed=2)
    root = make_project({"fraud_metrics.yaml": _evaluate_yaml("fraud")}, {"tx.yaml": "table: tx\n"})
    pipe, labels = fit(table)
    save_model(root, "fraud", pipe, labels)
    changed = table.set_column(table.column_names.index("label"), "label",
                               pa.array(["maybe", *table.column("label").to_pylist()[1:]]))
    write_duck(root, "tx", changed)
    result = build(load_project(root))
    assert "at target: target column 'label' holds values the model does not know: ['maybe']" in \
        result.failed[0].error


# ---------------------------------------------------------------------- the batch engine choice (pure)


def test_memory_wins_on_one_machine_and_ray_needs_a_bigger_cluster() -> None:
    machine = Machine(cpus=2, free_bytes=8 * 10**9)

    def never() -> int:
        raise AssertionError("the input size is not needed here")

    assert batch_engine(None, None, machine, never)[0] == "memory"
    assert batch_engine("127.0.0.1:6379", 64, machine, never) == (
        "memory", "the Ray cluster at 127.0.0.1:6379 runs on this machine: the compiled scorer streams Arrow "
                  "batches in this process (on one machine Ray Data was measured 3.5-6x slower)")
    engine, why = batch_engine("ray://head.example:10001", 64, machine, never)
    assert engine == "ray" and "offers 64 CPUs, more than this machine's 2" in why
    assert batch_engine("head.example:6379", None, machine, never)[0] == "ray"
    engine, why = batch_engine("head.example:6379", 2, machine, lambda: 20 * 10**9)
    assert engine == "ray" and "does not fit in this machine's free memory" in why
    assert batch_engine("head.example:6379", 2, machine, lambda: 10**6)[0] == "memory"
    assert on_this_machine("local") and on_this_machine("localhost:6379") and not on_this_machine("10.0.0.5:6379")
    assert cluster_address(ComputeSpec(), {"TIDE_RAY_ADDRESS": "10.0.0.5:6379"}) == "10.0.0.5:6379"
    assert cluster_address(ComputeSpec(address="a:1"), {"TIDE_RAY_ADDRESS": "b:2"}) == "a:1"


# ---------------------------------------------------------------------- Ray (a real local runtime)


@pytest.mark.slow
def test_score_on_ray_when_forced(binary_project: tuple[Path, Any, pa.Table], monkeypatch: pytest.MonkeyPatch) -> None:
    root, pipe, table = binary_project
    monkeypatch.setenv("RAY_ADDRESS", "local")  # never capture another cluster on this machine
    (root / "tideflow.yaml").write_text("name: t\ncompute:\n  num_cpus: 1\n")
    (root / "recipes" / "scored.yaml").write_text(score_yaml(engine="ray", extra="batch_rows: 150\n"))
    project = load_project(root)
    assert explain_recipe(project, "scored").reason == "ray engine forced"
    result = build(project)
    assert result.ok, result.failed
    assert result.runs[0].engine == "ray"
    out = read_duck(root, "scored")
    p, labels = expected_binary(pipe, table)
    np.testing.assert_allclose(out.column("probability").to_numpy(), p, rtol=0, atol=1e-6)
    assert out.column("prediction").to_pylist() == labels
