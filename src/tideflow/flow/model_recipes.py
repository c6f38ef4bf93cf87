"""Running the model recipes outside SQL: ``score`` in streamed Arrow batches (here or on Ray) and
``evaluate``; and the choice between the two batch engines.

The choice is a pure function of the project's compute settings and this machine (``batch_engine``):
on one machine the compiled scorer in this process wins (Ray Data was measured 3.5-6x slower
there), so ``ray`` is chosen only for a cluster beyond this machine.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa

from tideflow.connections.base import arrow_type
from tideflow.errors import BuildError, ProjectError
from tideflow.flow.scoring import EVALUATE_SCHEMA, ScoringModel, score_on_worker
from tideflow.project import ComputeSpec, ResourceProfile
from tideflow.recipes import EvaluateRecipe, ScoreRecipe

if TYPE_CHECKING:
    from tideflow.checks import BuildChecks
    from tideflow.flow.planner import Planner

GB = 1_000_000_000
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0", "")
SINGLE_MACHINE = ("the compiled scorer streams Arrow batches in this process "
                  "(on one machine Ray Data was measured 3.5-6x slower)")


# ---------------------------------------------------------------------- engine choice (pure)


@dataclass(frozen=True)
class Machine:
    """This machine, as the choice sees it."""

    cpus: int
    free_bytes: int | None

    @classmethod
    def here(cls) -> Machine:
        free = None
        with contextlib.suppress(ValueError, OSError, AttributeError):  # not on Linux: unknown
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return cls(os.cpu_count() or 1, free)


def cluster_address(compute: ComputeSpec, environ: dict[str, str] | None = None) -> str | None:
    """The Ray cluster the project attaches to (``compute.address`` > ``$TIDE_RAY_ADDRESS``), or None."""
    from tideflow.compute import ADDRESS_ENV

    env = os.environ if environ is None else environ
    return compute.address or env.get(ADDRESS_ENV) or None


def on_this_machine(address: str) -> bool:
    if address in ("local", "auto"):
        return True
    host = urlparse(address if "://" in address else f"ray://{address}").hostname or ""
    return host in _LOCAL_HOSTS or host.startswith("127.")


def cluster_cpus(compute: ComputeSpec) -> float | None:
    """CPUs the declared cluster offers at most (head + every worker node type at max), or None if undeclared."""
    cluster = compute.cluster
    if cluster is None:
        return None
    return cluster.head.cpu + sum(t.resources.cpu * t.max_workers for t in cluster.node_types.values())


def batch_engine(address: str | None, offered_cpus: float | None, machine: Machine,
                 input_bytes: Callable[[], int | None]) -> tuple[str, str]:
    """``memory`` or ``ray`` for scoring batches, and why. ``input_bytes`` is asked only when it matters."""
    if not address:
        return "memory", f"no Ray cluster is attached (compute.address / TIDE_RAY_ADDRESS): {SINGLE_MACHINE}"
    if on_this_machine(address):
        return "memory", f"the Ray cluster at {address} runs on this machine: {SINGLE_MACHINE}"
    if offered_cpus is None:
        return "ray", f"the project attaches to the Ray cluster at {address}, beyond this machine: Arrow batches " \
                      "are scored there by the compiled scorer"
    if offered_cpus > machine.cpus:
        return "ray", (f"the Ray cluster at {address} offers {offered_cpus:g} CPUs, more than this machine's "
                       f"{machine.cpus}: Arrow batches are scored there by the compiled scorer")
    size = input_bytes()
    if size is not None and machine.free_bytes is not None and size > machine.free_bytes:
        return "ray", (f"the input (~{size / GB:.1f} GB) does not fit in this machine's free memory "
                       f"({machine.free_bytes / GB:.1f} GB): Arrow batches are scored on the Ray cluster at {address}")
    return "memory", (f"the Ray cluster at {address} offers no more CPUs than this machine ({machine.cpus}) and "
                      f"the input fits in memory: {SINGLE_MACHINE}")


# ---------------------------------------------------------------------- score


def _logical_arrow_schema(schema: dict[str, Any]) -> pa.Schema:
    return pa.schema([pa.field(name, arrow_type(kind)) for name, kind in schema.items()])


def run_score(planner: Planner, checks: BuildChecks, recipe: ScoreRecipe, engine: str) -> tuple[dict[str, int], int]:
    """Stream the input through the model; return ({output: rows}, bytes through Python)."""
    project, workspace = planner.project, planner.workspace
    model = planner.scoring_model(recipe)
    where = project.files.get(recipe.name, f"recipe {recipe.name!r}")
    inp, out = recipe.inputs[0], recipe.outputs[0]
    source = workspace.read_batches(inp, recipe.batch_rows)
    moved = 0
    try:
        first = next(source, None)
        if first is not None:
            in_schema = first.schema
        else:
            logical = planner.schema_of(inp)
            if logical is None:
                raise ProjectError(f"the schema of input {inp!r} is unknown", file=where, key_path="inputs")
            in_schema = _logical_arrow_schema(logical)
        model.check_columns(in_schema.names, where=where, recipe=recipe.name, dataset=inp)
        model.check_outputs(in_schema.names, recipe.prefix, where=where, recipe=recipe.name, dataset=inp)
        out_schema = model.output_schema(in_schema, recipe.prefix)

        def batches() -> Iterator[pa.RecordBatch]:
            nonlocal moved
            if first is not None:
                moved += first.nbytes
                yield first
            for batch in source:
                moved += batch.nbytes
                yield batch

        if engine == "ray":
            scored = ray_scored(project.config.compute, model, batches(), recipe.prefix, recipe.name)
        else:
            scored = (model.score_batch(b, recipe.prefix) for b in batches())

        def written() -> Iterator[pa.RecordBatch]:
            nonlocal moved
            for batch in scored:
                if batch.schema != out_schema:
                    batch = batch.cast(out_schema)
                moved += batch.nbytes
                yield batch

        if workspace.is_files(out):
            table = pa.Table.from_batches(list(written()), schema=out_schema)
            checks.verify_arrow(out, table)
            return {out: workspace.write_arrow(out, table)}, moved
        sql = workspace.sql(project.connection_of(out))
        name = project.datasets[out].table_name
        sql.drop_stale_temps(name)
        rows = workspace.write_batches(out, out_schema, written(), before_swap=checks.sql_hook(sql, {name: out}))
        return {out: rows}, moved
    finally:
        source.close()


def ray_scored(compute: ComputeSpec, model: ScoringModel, batches: Iterator[pa.RecordBatch], prefix: str,
               recipe: str) -> Iterator[pa.RecordBatch]:
    """Score ``batches`` on the Ray cluster's warm workers (``tideflow.compute``); yield them as they finish.

    Workers use the ``scoring`` resource profile when the project declares one, else ``default``.
    """
    from tideflow.compute import TaskFailure, open_runtime

    profile = compute.profiles.get("scoring") or compute.profiles.get("default") or ResourceProfile()
    with open_runtime(compute) as runtime:
        pool = runtime.worker_pool(profile)
        shared = runtime.put(model)
        for _item, result in pool.map_unordered(score_on_worker, ((b, prefix) for b in batches), shared=shared):
            if isinstance(result, TaskFailure):
                raise BuildError(recipe, f"a scoring batch failed on Ray: {result.message}")
            yield result


# ---------------------------------------------------------------------- evaluate


METRICS_SCHEMA = pa.schema([pa.field(name, arrow_type(kind)) for name, kind in EVALUATE_SCHEMA.items()])


def _key(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def encode_target(values: list[Any], labels: list[Any], *, where: str, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Class indices of the labelled rows and the mask of those rows (a NULL label is left out)."""
    index = {_key(label): i for i, label in enumerate(labels)}
    keep = np.array([v is not None for v in values], dtype=bool)
    unknown = sorted({_key(v) for v in values if v is not None and _key(v) not in index})
    if unknown:
        raise ProjectError(f"target column {target!r} holds values the model does not know: {unknown[:5]} "
                           f"(its classes: {[_key(label) for label in labels]})", file=where, key_path="target")
    codes = np.array([index[_key(v)] if v is not None else -1 for v in values], dtype=np.int64)
    return codes[keep], keep


def metrics_of(task: str, y: np.ndarray, predicted: np.ndarray, threshold: float) -> list[tuple[str, float | None]]:
    """The metrics of one task with scikit-learn (None where a metric is undefined, e.g. AUC of one class)."""
    from sklearn import metrics as m

    if task == "regression":
        if len(y) == 0:
            return [("rmse", None), ("mae", None), ("r2", None)]
        r2 = float(m.r2_score(y, predicted)) if len(y) > 1 else None
        return [("rmse", float(np.sqrt(m.mean_squared_error(y, predicted)))),
                ("mae", float(m.mean_absolute_error(y, predicted))), ("r2", r2)]
    k = predicted.shape[1] if predicted.ndim == 2 else 2
    labels = list(range(k))
    if len(y) == 0:
        names = ["auc", "logloss", "accuracy", "precision", "recall", "f1", "threshold"] if task == "binary" \
            else ["accuracy", "logloss", "f1_macro"]
        return [(n, threshold if n == "threshold" else None) for n in names]
    logloss = float(m.log_loss(y, predicted, labels=labels))
    if task == "binary":
        p = predicted[:, 1]
        label = (p >= threshold).astype(np.int64)
        auc = float(m.roc_auc_score(y, p)) if len(np.unique(y)) == 2 else None
        return [("auc", auc), ("logloss", logloss), ("accuracy", float(m.accuracy_score(y, label))),
                ("precision", float(m.precision_score(y, label, zero_division=0))),
                ("recall", float(m.recall_score(y, label, zero_division=0))),
                ("f1", float(m.f1_score(y, label, zero_division=0))), ("threshold", threshold)]
    label = np.argmax(predicted, axis=1)
    return [("accuracy", float(m.accuracy_score(y, label))), ("logloss", logloss),
            ("f1_macro", float(m.f1_score(y, label, average="macro", labels=labels, zero_division=0)))]


def run_evaluate(planner: Planner, checks: BuildChecks, recipe: EvaluateRecipe,
                 data_version: str) -> tuple[dict[str, int], int]:
    """Score the labelled rows, compute the metrics, write one row per metric."""
    project, workspace = planner.project, planner.workspace
    model = planner.scoring_model(recipe)
    where = project.files.get(recipe.name, f"recipe {recipe.name!r}")
    inp, out = recipe.inputs[0], recipe.outputs[0]
    target = recipe.target or model.target
    if target is None:
        raise ProjectError(f"recipe {recipe.name!r}: model {model.label} records no target column: set 'target'",
                           file=where, key_path="target")
    predictions: list[np.ndarray] = []
    values: list[Any] = []
    moved = 0
    for batch in workspace.read_batches(inp, recipe.batch_rows):
        if not predictions:
            model.check_columns(batch.schema.names, where=where, recipe=recipe.name, dataset=inp)
            if target not in batch.schema.names:
                raise ProjectError(f"recipe {recipe.name!r}: input {inp!r} has no target column {target!r}",
                                   file=where, key_path="target")
        moved += batch.nbytes
        predictions.append(model.predict(pa.Table.from_batches([batch])))
        values += batch.column(target).to_pylist()
    task = model.task
    width = 0 if task == "regression" else len(model.labels)
    predicted = np.concatenate(predictions) if predictions else np.zeros((0, width) if width else 0)
    if task == "regression":
        y = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        keep = np.isfinite(y)
        y = y[keep]
    else:
        y, keep = encode_target(values, model.labels, where=where, target=target)
    metrics = metrics_of(task, y, predicted[keep], model.threshold)
    n = len(metrics)
    table = pa.table({
        "metric": [name for name, _ in metrics], "value": [value for _, value in metrics],
        "model": [model.name] * n, "model_version": [model.number] * n, "rows": [len(y)] * n,
        "data_version": [data_version] * n,
    }, schema=METRICS_SCHEMA)
    checks.verify_arrow(out, table)
    return {out: workspace.write_arrow(out, table)}, moved + table.nbytes
