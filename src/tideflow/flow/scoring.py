"""A saved model as the ``score`` and ``evaluate`` recipes use it: outputs, SQL, Arrow batches.

One ``ScoringModel`` per resolved model version. It defines the prediction columns once and gives
them two ways, with the same semantics:

* ``score_query``: a sqlglot SELECT of the input's columns plus the model's outputs (the model
  compiled to SQL by ``tideflow.models.sql``), for in-database scoring;
* ``score_batch``: an Arrow record batch plus the same columns, through the compiled scorer
  (``tideflow.models.scorers``), or the scikit-learn pipeline when the model does not compile.

A binary prediction is the positive class (the model's second) when its probability reaches the
stored decision threshold (0.5 without one); a multiclass prediction is the first most probable class.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from sqlglot import exp

from tideflow.connections.base import arrow_type
from tideflow.errors import ProjectError, TideflowError, UnsupportedPushdown
from tideflow.models import ModelVersion, Registry
from tideflow.models.sql import deep_recursion
from tideflow.recipes import ColumnType, Schema

MARGIN_PREFIX = "__margin_"  # the column names tideflow.models.sql gives the model's margins
#: The columns an ``evaluate`` recipe writes (one row per metric).
EVALUATE_SCHEMA: Schema = {
    "metric": ColumnType.STRING, "value": ColumnType.DOUBLE, "model": ColumnType.STRING,
    "model_version": ColumnType.INTEGER, "rows": ColumnType.INTEGER, "data_version": ColumnType.STRING,
}
_SCORED = "__scored"


def _py(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, str | bytes) else value


def label_type(labels: list[Any]) -> ColumnType:
    """The logical type of a classifier's ``prediction`` column."""
    if all(isinstance(v, bool) for v in labels):
        return ColumnType.BOOLEAN
    if all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
        return ColumnType.INTEGER
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in labels):
        return ColumnType.DOUBLE
    return ColumnType.STRING


def _double(value: float) -> exp.Expression:
    """A float64 constant exact in every dialect (a bare ``0.1`` is DECIMAL in DuckDB and PostgreSQL)."""
    return exp.Cast(this=exp.Literal.string(repr(float(value))), to=exp.DataType.build("double"))


def _literal(value: Any, kind: ColumnType) -> exp.Expression:
    if kind == ColumnType.BOOLEAN:
        return exp.Boolean(this=bool(value))
    if kind == ColumnType.INTEGER:
        return exp.Literal.number(int(value))
    if kind == ColumnType.DOUBLE:
        return _double(float(value))
    return exp.Literal.string(str(value))


def _column(name: str) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True))


def _alias(e: exp.Expression, name: str) -> exp.Alias:
    return exp.Alias(this=e, alias=exp.to_identifier(name, quoted=True))


@dataclass
class ScoringModel:
    """A resolved saved-model version: its outputs, its SQL form and its batch scorer (lazily built)."""

    version: ModelVersion
    state_dir: Path
    _pipeline: Any = None
    _sql: Any = None
    _sql_error: str | None = None
    _scorer: Any = None
    _scorer_error: str | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # ------------------------------------------------------------------ identity

    @property
    def name(self) -> str:
        return self.version.name

    @property
    def number(self) -> int:
        return self.version.version

    @property
    def label(self) -> str:
        """``name vN``, as recorded in the state store and shown in messages."""
        return f"{self.name} v{self.number}"

    @property
    def token(self) -> str:
        """What the recipe's fingerprint includes: a new version (or a re-created one) changes it."""
        return f"{self.label} {self.version.created_at!r}"

    # ------------------------------------------------------------------ the model

    def pipeline(self) -> Any:
        with self._lock:
            if self._pipeline is None:
                with Registry(self.state_dir) as registry:
                    self._pipeline = registry.load_pipeline(self.name, self.number)
            return self._pipeline

    @property
    def classes(self) -> list[Any] | None:
        """The pipeline's own classes (the order of ``predict_proba``), or None for a regression."""
        found = getattr(self.pipeline(), "classes_", None)
        return [_py(c) for c in found] if found is not None else None

    @property
    def task(self) -> str:
        classes = self.classes
        if classes is None:
            return "regression"
        return "binary" if len(classes) == 2 else "multiclass"

    @property
    def labels(self) -> list[Any]:
        """The class labels, in the order of ``predict_proba``: the Lab trains on class indices and
        records the labels (``record.classes``); other models use their own classes."""
        classes = self.classes or []
        recorded = self.version.record.get("classes")
        if isinstance(recorded, list) and len(recorded) == len(classes) and classes == list(range(len(classes))):
            return list(recorded)
        return classes

    @property
    def threshold(self) -> float:
        """The decision threshold of a binary model: the stored one (the Lab's), 0.5 otherwise."""
        for source in (self.version.metrics, self.version.record):
            value = source.get("threshold")
            if isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0:
                return float(value)
        return 0.5

    @property
    def input_columns(self) -> list[str]:
        if self.version.input_schema:
            return list(self.version.input_schema)
        names = getattr(self.pipeline(), "feature_names_in_", None)
        return [str(n) for n in names] if names is not None else []

    @property
    def target(self) -> str | None:
        spec = self.version.record.get("spec") or {}
        target = spec.get("target") if isinstance(spec, dict) else None
        target = target or self.version.record.get("target")
        return str(target) if target else None

    # ------------------------------------------------------------------ outputs

    def outputs(self, prefix: str = "") -> list[tuple[str, ColumnType]]:
        """The columns a score recipe adds, in order, with their logical types."""
        task = self.task
        if task == "regression":
            return [(prefix + "prediction", ColumnType.DOUBLE)]
        labels = self.labels
        out = [(prefix + "prediction", label_type(labels))]
        if task == "binary":
            return [*out, (prefix + "probability", ColumnType.DOUBLE)]
        return [*out, *[(f"{prefix}probability_{label}", ColumnType.DOUBLE) for label in labels]]

    def check_columns(self, columns: list[str], *, where: str, recipe: str, dataset: str) -> None:
        """The input has every column the model reads."""
        missing = [c for c in self.input_columns if c not in columns]
        if missing:
            raise ProjectError(
                f"recipe {recipe!r}: input {dataset!r} lacks column(s) {missing} that model {self.label} needs "
                f"(it was trained on {self.input_columns})", file=where, key_path="inputs")

    def check_outputs(self, columns: list[str], prefix: str, *, where: str, recipe: str, dataset: str) -> None:
        """No prediction column would overwrite an input column (or another prediction column)."""
        names = [n for n, _ in self.outputs(prefix)]
        clash = [n for n in names if n in columns]
        if clash or len(set(names)) != len(names):
            raise ProjectError(
                f"recipe {recipe!r}: output column(s) {clash or names} clash with the columns of input {dataset!r}; "
                f"set 'prefix' to name the prediction columns apart", file=where, key_path="prefix")

    # ------------------------------------------------------------------ SQL

    def model_sql(self) -> Any:
        """The model as SQL expressions (``tideflow.models.sql.ModelSQL``); ``UnsupportedPushdown`` says why not."""
        from tideflow.models.sql import compile_model

        with self._lock:
            if self._sql is None and self._sql_error is None:
                try:
                    with deep_recursion():
                        self._sql = compile_model(self.pipeline(), input_columns=self.input_columns or None)
                except UnsupportedPushdown as err:
                    self._sql_error = str(err)
            if self._sql is None:
                raise UnsupportedPushdown(f"model {self.label}", f"does not compile to SQL: {self._sql_error}")
            return self._sql

    def sql_blocker(self) -> str | None:
        """Why the model cannot run in SQL, or None."""
        try:
            self.model_sql()
        except UnsupportedPushdown as err:
            return str(err)
        return None

    def score_query(self, relation: exp.Expr, schema: Schema, prefix: str, dialect: str) -> exp.Select:
        """``SELECT <input columns>, <outputs> FROM (SELECT <input columns>, <margins> FROM relation)``.

        The margins (each tree once) are computed in the inner query; the probabilities and labels
        over them in the outer one. Every identifier is quoted and every constant a typed literal.
        """
        from tideflow.models.sql import DIALECTS, proba_name

        if dialect not in DIALECTS:
            raise UnsupportedPushdown(f"model {self.label}", f"model-to-SQL supports {DIALECTS}, not {dialect!r}")
        compiled = self.model_sql()
        keep = list(schema)
        if any(c.startswith(MARGIN_PREFIX) for c in keep):
            raise UnsupportedPushdown(f"model {self.label}", f"input columns named {MARGIN_PREFIX}* clash with the "
                                                             "margin columns of the model's SQL")
        with deep_recursion():
            inner = exp.select(*[_column(c) for c in keep],
                               *[_alias(m.copy(), f"{MARGIN_PREFIX}{i}") for i, m in enumerate(compiled.margins)])
            inner = inner.from_(relation.copy())
            over = compiled.over_margins
            classes = list(compiled.plan.classes or ())
            added: list[tuple[str, exp.Expression]] = []
            task = self.task
            if task == "regression":
                added.append((prefix + "prediction", over["prediction"].copy()))
            else:
                labels = self.labels
                kind = label_type(labels)
                probas = [over[proba_name(c)] for c in classes]
                if task == "binary":
                    p1 = probas[1]
                    rule = exp.GTE(this=exp.Paren(this=p1.copy()), expression=_double(self.threshold))
                    label = exp.Case(ifs=[exp.If(this=rule, true=_literal(labels[1], kind))],
                                     default=_literal(labels[0], kind))
                    added += [(prefix + "prediction", label), (prefix + "probability", p1.copy())]
                else:
                    added.append((prefix + "prediction", _argmax(probas, labels, kind)))
                    added += [(f"{prefix}probability_{lab}", p.copy()) for lab, p in zip(labels, probas, strict=True)]
            outer = exp.select(*[_column(c) for c in keep], *[_alias(e, n) for n, e in added])
            return outer.from_(inner.subquery(exp.to_identifier(_SCORED, quoted=True), copy=False))

    # ------------------------------------------------------------------ Arrow batches

    def scorer(self) -> Any:
        """The compiled scorer, or None when the model does not compile (the pipeline scores then)."""
        from tideflow.models.scorers import compile_scorer

        with self._lock:
            if self._scorer is None and self._scorer_error is None:
                try:
                    self._scorer = compile_scorer(self.pipeline(), input_columns=self.input_columns or None)
                except (UnsupportedPushdown, ImportError, ValueError) as err:
                    self._scorer_error = str(err)
            return self._scorer

    def predict(self, table: pa.Table) -> np.ndarray:
        """Probabilities (n, classes) of a classifier, in the order of ``labels``; values (n,) of a regression."""
        scorer = self.scorer()
        if scorer is not None:
            from tideflow.models.sql import proba_name

            out = scorer.predict(table)
            if self.task == "regression":
                return np.asarray(out["prediction"], dtype=np.float64)
            return np.column_stack([np.asarray(out[proba_name(c)], dtype=np.float64) for c in self.classes or []])
        from tideflow.monitoring.frames import model_frame

        frame = model_frame(table, self.input_columns)
        try:
            if self.task == "regression":
                return np.asarray(self.pipeline().predict(frame), dtype=np.float64)
            return np.asarray(self.pipeline().predict_proba(frame), dtype=np.float64)
        except Exception as err:  # the model's own error, with whose it is
            raise TideflowError(f"model {self.label} could not score the rows: {type(err).__name__}: {err}") from None

    def label_index(self, proba: np.ndarray) -> np.ndarray:
        """The predicted class (an index into ``labels``) of each row."""
        if self.task == "binary":
            return (proba[:, 1] >= self.threshold).astype(np.intp)
        return np.argmax(proba, axis=1)

    def score_batch(self, batch: pa.RecordBatch, prefix: str) -> pa.RecordBatch:
        """``batch`` with the prediction columns appended."""
        table = pa.Table.from_batches([batch])
        values = self.predict(table)
        arrays: list[pa.Array] = []
        names = [n for n, _ in self.outputs(prefix)]
        if self.task == "regression":
            arrays.append(pa.array(values, type=pa.float64()))
        else:
            labels = self.labels
            kind = label_type(labels)
            picked = np.asarray(labels if kind != ColumnType.STRING else [str(v) for v in labels],
                                dtype=object)[self.label_index(values)]
            arrays.append(pa.array(picked.tolist(), type=arrow_type(kind)))
            if self.task == "binary":
                arrays.append(pa.array(values[:, 1], type=pa.float64()))
            else:
                arrays += [pa.array(values[:, k], type=pa.float64()) for k in range(values.shape[1])]
        return pa.RecordBatch.from_arrays([*batch.columns, *arrays], names=[*batch.schema.names, *names])

    def output_schema(self, input_schema: pa.Schema, prefix: str) -> pa.Schema:
        return pa.schema([*input_schema, *[pa.field(n, arrow_type(t)) for n, t in self.outputs(prefix)]])

    # ------------------------------------------------------------------ shipping to Ray workers

    def __getstate__(self) -> dict[str, Any]:
        """What a worker needs: the version and the pipeline (the scorer is compiled again there)."""
        return {"version": self.version, "state_dir": self.state_dir, "_pipeline": self.pipeline()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["version"], state["state_dir"], state["_pipeline"])  # type: ignore[misc]


def _argmax(values: list[exp.Expression], labels: list[Any], kind: ColumnType) -> exp.Case:
    """The label of the first largest value, as numpy.argmax."""
    ifs = []
    for i in range(len(values) - 1):
        conds = [exp.GTE(this=exp.Paren(this=values[i].copy()), expression=exp.Paren(this=values[j].copy()))
                 for j in range(i + 1, len(values))]
        ifs.append(exp.If(this=exp.and_(*conds), true=_literal(labels[i], kind)))
    return exp.Case(ifs=ifs, default=_literal(labels[-1], kind))


# ---------------------------------------------------------------------- resolution


_CACHE: dict[tuple[str, str, int, float], ScoringModel] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


def resolve_model(state_dir: Path, name: str, version: int | None, *, where: str,
                  line_of: Callable[[str], int | None], recipe: str) -> ScoringModel:
    """The saved model ``name`` (``version``, or the active one) from the project's registry.

    A missing model or version is a ``ProjectError`` naming the recipe file and its key.
    """
    try:
        with Registry(state_dir) as registry:
            found = registry.get(name, version)
    except ProjectError as err:
        key = "version" if version is not None and "has no version" in err.message else "model"
        raise ProjectError(f"recipe {recipe!r}: {err.message}", file=where, line=line_of(key), key_path=key) from None
    cache_key = (str(state_dir), found.name, found.version, found.created_at)
    with _CACHE_LOCK:
        cached = _CACHE.get(cache_key)
        if cached is None:
            cached = ScoringModel(found, state_dir)
            _CACHE[cache_key] = cached
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))
        return cached


_WORKER_MODELS: dict[str, ScoringModel] = {}


def score_on_worker(model: ScoringModel, item: tuple[pa.RecordBatch, str]) -> pa.RecordBatch:
    """The task a Ray worker runs for one batch (the scorer is compiled once per worker process)."""
    batch, prefix = item
    cached = _WORKER_MODELS.setdefault(model.token, model)
    return cached.score_batch(batch, prefix)
