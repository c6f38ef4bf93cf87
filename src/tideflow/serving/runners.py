"""What scores a batch: one runner per endpoint version, built in a worker process or in the server.

A runner is ``records -> outputs`` (one output dict per record). ``RunnerTarget`` is the picklable
address a worker process needs to build its runner (project root, service, endpoint, version).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlglot
from sqlglot import exp

from tideflow.errors import ProjectError
from tideflow.models.frames import records_frame
from tideflow.serving.errors import InvalidInput, ModelError
from tideflow.serving.inputs import expected
from tideflow.serving.specs import (
    FunctionEndpoint,
    LookupEndpoint,
    PredictionEndpoint,
    SqlQueryEndpoint,
    load_service,
)

Record = dict[str, Any]


class Runner(Protocol):
    version: str
    input_schema: dict[str, str] | None

    def __call__(self, records: list[Record]) -> list[Record]: ...


@dataclass(frozen=True)
class RunnerTarget:
    """Everything a worker process needs to build the runner of one endpoint version."""

    project_root: str
    service: str
    endpoint: str
    version: str


# ----------------------------------------------------------------------------------------- prediction

ModelLoader = Callable[[Path, str, int | None], tuple[int, dict[str, str], Any]]


def registry_loader(state_dir: Path, model: str, version: int | None) -> tuple[int, dict[str, str], Any]:
    """(version, input schema, fitted pipeline) from the model registry."""
    from tideflow.models import Registry

    with Registry(state_dir) as registry:
        found = registry.get(model, version)
        return found.version, dict(found.input_schema), registry.load_pipeline(model, found.version)


def model_inputs(state_dir: Path, model: str, version: int | None) -> tuple[int, dict[str, str], frozenset[str]]:
    """(version, input schema, features it cannot score missing) without loading the pipeline: what the
    server validates against. A version saved without that answer takes a missing value everywhere."""
    from tideflow.models import Registry

    with Registry(state_dir) as registry:
        found = registry.get(model, version)
        return found.version, dict(found.input_schema), frozenset(found.missing_refused or ())


SCORER_DIR = "scorer"  # a version's compiled scorer, stored next to its pipeline.joblib


def version_dir(state_dir: Path, model: str, version: int) -> Path | None:
    """The directory of a saved version (where its compiled scorer is stored), None when unknown."""
    found = _saved_version(state_dir, model, version)
    return None if found is None else found.path


def _saved_version(state_dir: Path, model: str, version: int) -> Any:
    from tideflow.models import Registry

    try:
        with Registry(state_dir) as registry:
            return registry.get(model, version)
    except ProjectError:
        return None


def compiled_scorer(pipeline: Any, stored: Path | None = None) -> Any:
    """The compiled scorer (``tideflow.models.scorers``) of ``pipeline``, None when the model does not compile.

    ``stored`` (a version's ``scorer`` directory): loaded from there when present (no recompiling: lleaves
    takes seconds); otherwise compiled and written there for the next worker, replica or node. A version
    never changes, so neither does its stored scorer.
    """
    try:
        from tideflow.models.scorers import compile_scorer, load_scorer
    except ImportError:
        return None
    if stored is not None and (stored / "scorer.json").is_file():
        try:
            return load_scorer(stored)
        except Exception:  # an unreadable stored form is compiled again below
            pass
    try:
        scorer = compile_scorer(pipeline)
    except Exception:  # an unsupported model falls back to the pipeline
        return None
    if stored is not None:
        _store(scorer, stored)
    return scorer


def _store(scorer: Any, path: Path) -> None:
    """Write ``scorer`` to ``path`` atomically (a temporary sibling, then a rename); a read-only or
    concurrently written version directory is left as it is."""
    import os
    import shutil

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        scorer.save(tmp)
        tmp.rename(path)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


class PredictionRunner:
    """A fitted scikit-learn pipeline, or its compiled scorer, over records with the model's input schema.

    The compiled scorer (preprocessing + model, equal to the pipeline's predictions to 1e-6) scores when
    the model compiles and its inputs are in the schema: one record goes through ``predict_one`` (no
    DataFrame), several through one ``predict`` over columns. Otherwise the pipeline scores a DataFrame.
    ``missing_refused``: the features the model cannot score missing (the server refuses a null there);
    None when the version was saved without that answer: a failure on a record with a null is then a 422.
    """

    def __init__(self, version: int, input_schema: dict[str, str], pipeline: Any, *, output: str = "auto",
                 scorer_dir: Path | None = None, missing_refused: Iterable[str] | None = None) -> None:
        self.version = str(version)
        self.input_schema: dict[str, str] | None = input_schema
        self.missing_refused = frozenset(missing_refused or ())
        self.missing_known = missing_refused is not None
        self.pipeline = pipeline
        classes = getattr(pipeline, "classes_", None)
        self.classes = [_py(c) for c in classes] if classes is not None else None
        self.proba = output != "predict" and self.classes is not None and hasattr(pipeline, "predict_proba")
        scorer = compiled_scorer(pipeline, scorer_dir)
        if scorer is not None and not self._fits(scorer):
            scorer = None
        self.scorer = scorer
        # the scorer's probability outputs, in the order of ``classes``
        self.proba_names = [f"proba_{c}" for c in self.classes or []]

    def _fits(self, scorer: Any) -> bool:
        """The scorer can answer for this endpoint: its inputs are in the schema, its classes are the model's."""
        schema = self.input_schema or {}
        if any(c not in schema for c in scorer.input_columns):
            return False
        if self.proba:
            return [f"proba_{c}" for c in self.classes or []] == list(scorer.output_names[1:])
        return True

    def frame(self, records: list[Record]) -> Any:
        return records_frame(records, self.input_schema or {})

    def __call__(self, records: list[Record]) -> list[Record]:
        if self.scorer is not None:
            outputs = self._scored(records)
            if outputs is not None:
                return outputs
        frame = self.frame(records)
        model = self.pipeline
        try:
            if self.proba and self.classes is not None:
                return self._outputs(model.predict_proba(frame))
            return [{"prediction": _py(v)} for v in model.predict(frame)]
        except Exception:
            if not self.missing_known:
                self._refuse_nulls(records)
            raise

    def _refuse_nulls(self, records: list[Record]) -> None:
        """The pipeline failed on ``records``: when one holds a null, that is the client's to fix (422).

        Only for a version saved without the probe's answer (``missing_refused`` unknown): with it, the
        server refused such a null before scoring, and a failure is the model's (500). The error names
        the first record with a null and its null features.
        """
        schema = self.input_schema or {}
        for i, record in enumerate(records):
            nulls = [name for name in schema if record.get(name) is None]
            if nulls:
                listed = ", ".join(repr(n) for n in nulls)
                raise InvalidInput(
                    f"the model failed on this record's missing values (null: {listed}): this version was "
                    f"saved without the list of features it can score missing; expected "
                    f"{expected(schema[nulls[0]])}, got null",
                    field=nulls[0], record=i if len(records) > 1 else None) from None

    def _scored(self, records: list[Record]) -> list[Record] | None:
        """Outputs from the compiled scorer; None (the pipeline decides) when it gave no number (NaN): an
        input the model cannot take, e.g. a null without imputation, on which the pipeline raises."""
        scorer = self.scorer
        if len(records) == 1:
            one = scorer.predict_one(records[0])
            if not self.proba:
                value = _py(one["prediction"])
                return None if value != value else [{"prediction": value}]
            proba = [[float(one[name]) for name in self.proba_names]]
        else:
            import numpy as np

            columns = {c: [r[c] for r in records] for c in scorer.input_columns}
            out = scorer.predict(columns)
            if not self.proba:
                values = [_py(v) for v in out["prediction"]]
                return None if any(v != v for v in values) else [{"prediction": v} for v in values]
            proba = np.column_stack([out[name] for name in self.proba_names]).tolist()
        if any(x != x for p in proba for x in p):
            return None
        return self._outputs(proba)

    def _outputs(self, proba: Any) -> list[Record]:
        """Rows of class probabilities -> outputs; the label is the most probable class (first on a tie)."""
        labels = self.classes or []
        if len(labels) == 2:
            return [{"prediction": labels[1] if float(p[1]) > float(p[0]) else labels[0], "probability": float(p[1])}
                    for p in proba]
        out = []
        for p in proba:
            values = [float(x) for x in p]
            best = max(range(len(values)), key=values.__getitem__)
            out.append({"prediction": labels[best],
                        "probabilities": {str(c): x for c, x in zip(labels, values, strict=True)}})
        return out


def _py(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value


# ----------------------------------------------------------------------------------------- function

def load_function(project_root: Path, file: str, function: str) -> Callable[[list[Record]], Any]:
    path = (project_root / file).resolve()
    if not path.is_file():
        raise ProjectError(f"the function file {file} does not exist (expected {path})")
    module_name = f"tideflow_api_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ProjectError(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    fn = getattr(module, function, None)
    if not callable(fn):
        raise ProjectError(f"{file} has no function {function!r}")
    return fn


class FunctionRunner:
    """``function(records: list[dict]) -> list`` with one output per record; a scalar becomes ``{"output": x}``."""

    def __init__(self, label: str, fn: Callable[[list[Record]], Any], inputs: dict[str, str] | None) -> None:
        self.version = label
        self.fn = fn
        self.input_schema = inputs

    def __call__(self, records: list[Record]) -> list[Record]:
        result = self.fn(records)
        out = list(result)
        if len(out) != len(records):
            raise ModelError(f"the function returned {len(out)} outputs for {len(records)} records")
        return [o if isinstance(o, dict) else {"output": _py(o)} for o in out]


# ----------------------------------------------------------------------------------------- sql_query

_WRITES = (exp.DML, exp.DDL, exp.Command, exp.Copy, exp.Pragma, exp.Set, exp.Attach, exp.Detach, exp.Use,
           exp.Transaction, exp.Commit, exp.Grant, exp.Into, exp.TruncateTable, exp.Install, exp.LoadData)


def compile_read_only(query: str, dialect: str, parameters: Mapping[str, str]) -> tuple[str, list[str]]:
    """(SQL with positional placeholders for ``dialect``, parameter names in placeholder order).

    Refuses anything but one read-only query, placeholders that are not declared, and declared
    parameters that are not used. Values are later bound by the driver, never pasted into the SQL.
    """
    try:
        statements = [s for s in sqlglot.parse(query, read=dialect) if s is not None]
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as err:
        from tideflow.recipes.expressions import syntax_problem

        raise ProjectError(syntax_problem(err, query, what=f"{dialect} query")[0]) from None
    except RecursionError:
        from tideflow.recipes.expressions import TOO_DEEP

        raise ProjectError(f"the {dialect} query is {TOO_DEEP}") from None
    if len(statements) != 1:
        raise ProjectError(f"expected exactly one SELECT statement, got {len(statements)} statements")
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise ProjectError(f"expected a read-only SELECT, got {tree.key.upper()}")
    for node in tree.walk():
        if isinstance(node, _WRITES):
            raise ProjectError(f"expected a read-only SELECT, but the query contains {node.key.upper()}")
    names: list[str] = []
    for node in tree.find_all(exp.Placeholder):
        name = node.name
        if not name:
            raise ProjectError("use named parameters (:name), not positional placeholders")
        if name not in parameters:
            raise ProjectError(f"the query uses :{name}, which is not declared under 'parameters'")
        names.append(name)
    unused = [p for p in parameters if p not in names]
    if unused:
        raise ProjectError(f"parameter {unused[0]!r} is declared but the query does not use :{unused[0]}")

    # Mark each placeholder, render, then read the markers in text order: the driver binds by position.
    def mark(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder):
            return exp.column(f"tide_param_{node.name}_tide")
        return node

    text = tree.transform(mark).sql(dialect)
    positional = "%s" if dialect == "postgres" else "?"
    if dialect == "postgres":
        text = text.replace("%", "%%")
    marker = re.compile(r'"?tide_param_(\w+?)_tide"?')
    order = [m.group(1) for m in marker.finditer(text)]
    return marker.sub(lambda _: positional, text), order


class SqlQueryRunner:
    """One bound query per record; each output is ``{"rows": [...]}`` (at most ``max_rows``)."""

    def __init__(self, workspace: Any, spec: SqlQueryEndpoint) -> None:
        project = workspace.project
        self.connection = spec.connection or project.config.defaults.connection
        self.workspace = workspace
        self.version = "1"
        self.input_schema: dict[str, str] | None = dict(spec.parameters)
        self.max_rows = spec.max_rows
        dialect = workspace.sql(self.connection).dialect
        self.sql, self.order = compile_read_only(spec.query, dialect, spec.parameters)

    def __call__(self, records: list[Record]) -> list[Record]:
        con = self.workspace.sql(self.connection)
        out = []
        for record in records:
            table = con.fetch_arrow(self.sql, tuple(record[name] for name in self.order))
            out.append({"rows": table.slice(0, self.max_rows).to_pylist()})
        return out


# ----------------------------------------------------------------------------------------- lookup

class LookupRunner:
    """Rows of a dataset by key, indexed in memory when built. Output: ``{"found": bool, **columns}``.

    ``workspace`` None: the runner opens the project's workspace, reads the dataset into memory (Arrow)
    and closes it before it answers, so the node holds no lock on the warehouse (a DuckDB file can then
    be opened read-write by builds and the platform API while the node serves). A workspace given is
    the caller's to close.
    """

    def __init__(self, workspace: Any, spec: LookupEndpoint, project_root: Path | None = None) -> None:
        import pyarrow as pa

        if workspace is None:
            if project_root is None:
                raise ValueError("a lookup runner needs a workspace or the project root")
            from tideflow.flow import Workspace
            from tideflow.project import load_project

            with Workspace(load_project(project_root)) as own:
                table = own.read_arrow(spec.dataset)
        else:
            table = workspace.read_arrow(spec.dataset)
        names = table.column_names
        for col in [*spec.key, *(spec.columns or [])]:
            if col not in names:
                raise ProjectError(f"lookup {spec.name!r}: dataset {spec.dataset!r} has no column {col!r} "
                                   f"(columns: {', '.join(names)})")
        self.version = "1"
        self.key = list(spec.key)
        self.columns = list(spec.columns or [c for c in names if c not in spec.key])
        self.input_schema: dict[str, str] | None = {k: _feature_type(table.schema.field(k).type, pa) for k in self.key}
        rows = table.select([*self.key, *self.columns]).to_pylist()
        self.index: dict[tuple[Any, ...], Record] = {}
        for row in rows:
            self.index.setdefault(tuple(row[k] for k in self.key), {c: row[c] for c in self.columns})
        self.missing: Record = {"found": False, **{c: None for c in self.columns}}

    def __call__(self, records: list[Record]) -> list[Record]:
        out = []
        for record in records:
            row = self.index.get(tuple(record[k] for k in self.key))
            out.append(self.missing if row is None else {"found": True, **row})
        return out


def _feature_type(dtype: Any, pa: Any) -> str:
    if pa.types.is_boolean(dtype):
        return "boolean"
    if pa.types.is_integer(dtype):
        return "integer"
    if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "double"
    return "string"


# ----------------------------------------------------------------------------------------- building

def build_runner(target: RunnerTarget, loader: ModelLoader = registry_loader, workspace: Any = None) -> Runner:
    """Build the runner of ``target`` (in a worker process, or in the server for ``workers: 0``)."""
    root = Path(target.project_root)
    spec = load_service(root, target.service).endpoint(target.endpoint)
    if isinstance(spec, PredictionEndpoint):
        wanted = None if target.version == "active" else int(target.version)
        version, schema, pipeline = loader(root / ".tide", spec.model, wanted)
        saved = _saved_version(root / ".tide", spec.model, version) if loader is registry_loader else None
        return PredictionRunner(version, schema, pipeline, output=spec.output,
                                scorer_dir=None if saved is None else saved.path / SCORER_DIR,
                                missing_refused=None if saved is None else saved.missing_refused)
    if isinstance(spec, FunctionEndpoint):
        file, function = spec.target(target.version)
        inputs: dict[str, str] | None = dict(spec.inputs) if spec.inputs is not None else None
        return FunctionRunner(target.version, load_function(root, file, function), inputs)
    if isinstance(spec, LookupEndpoint):
        return LookupRunner(workspace, spec, root)  # no workspace: its own, closed once the index is built
    if workspace is None:
        from tideflow.flow import Workspace
        from tideflow.project import load_project

        workspace = Workspace(load_project(root))
    return SqlQueryRunner(workspace, spec)
