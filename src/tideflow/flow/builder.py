"""The builder: runs a plan, independent recipes in parallel, outputs written atomically."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import duckdb
import polars as pl
import pyarrow as pa
from sqlglot import exp

from tideflow.checks import BuildChecks
from tideflow.connections import UnreadColumnType
from tideflow.connections.files import csv_cast_error, csv_file_of
from tideflow.engines.memory import run_recipe
from tideflow.engines.sql import SqlInput, compile_recipe, to_sql
from tideflow.errors import BuildError, ProjectError, TideflowError
from tideflow.flow.locate import locate
from tideflow.flow.model import BuildEvent, BuildResult, RecipeRun
from tideflow.flow.model_recipes import run_evaluate, run_score
from tideflow.flow.planner import Decision, Planner
from tideflow.recipes import EvaluateRecipe, ScoreRecipe, SqlRecipe

EventSink = Callable[[BuildEvent], None]


class Builder:
    """Executes the recipes a ``Planner`` selected. One instance per build."""

    def __init__(self, planner: Planner, *, parallelism: int, on_event: EventSink | None = None) -> None:
        self.planner = planner
        self.project = planner.project
        self.workspace = planner.workspace
        self.parallelism = max(1, parallelism)
        self.on_event = on_event or (lambda _e: None)
        self.build_id = uuid.uuid4().hex[:12]
        # Dataset checks run on each new output before it replaces the previous data (tideflow.checks).
        self.checks = BuildChecks(self.project, self.workspace.state.path)
        # At most ``concurrent_queries`` SQL recipes at once per connection (DuckDB: one, it uses every core).
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._slots_lock = threading.Lock()

    def _slot(self, connection: str) -> threading.BoundedSemaphore | contextlib.nullcontext[None]:
        limit = getattr(self.project.config.connections[connection], "concurrent_queries", None)
        if limit is None or limit >= self.parallelism:
            return contextlib.nullcontext()
        with self._slots_lock:
            if connection not in self._slots:
                self._slots[connection] = threading.BoundedSemaphore(limit)
            return self._slots[connection]

    # ------------------------------------------------------------------ scheduling

    def dependencies(self, name: str, runnable: set[str]) -> set[str]:
        """Runnable recipes that must finish before ``name`` (looking through fused virtual datasets)."""
        deps: set[str] = set()
        stack = list(self.project.recipes[name].inputs)
        while stack:
            dataset = stack.pop()
            producer = self.project.graph.producer.get(dataset)
            if producer is None:
                continue
            if producer in runnable:
                deps.add(producer)
            elif self.planner.fused(dataset):
                stack.extend(self.project.recipes[producer].inputs)
        return deps

    def run(self, selected: dict[str, str]) -> BuildResult:
        started = time.perf_counter()
        runnable = {n for n in selected if any(not self.planner.fused(o) for o in self.project.recipes[n].outputs)}
        runs: dict[str, RecipeRun] = {}
        for name in selected:
            if name not in runnable:
                runs[name] = RecipeRun(recipe=name, engine="sql", status="skipped", seconds=0.0)
                self.on_event(BuildEvent("skipped", name, "sql", message="runs as a CTE inside its readers"))
        pending = {n: self.dependencies(n, runnable) for n in self.project.graph.order if n in runnable}
        failed: set[str] = set()
        with ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="tide-build") as pool:
            active: dict[Future[RecipeRun], str] = {}
            while pending or active:
                for name in list(pending):
                    deps = pending[name]
                    if deps & failed:
                        del pending[name]
                        failed.add(name)
                        runs[name] = RecipeRun(recipe=name, engine="", status="cancelled", seconds=0.0,
                                               error="an upstream recipe failed")
                        self.on_event(BuildEvent("failed", name, message="cancelled: an upstream recipe failed"))
                    elif not (deps - {n for n, r in runs.items() if r.status == "ok"}):
                        del pending[name]
                        active[pool.submit(self.run_recipe, name)] = name
                if not active:
                    break
                done, _ = wait(active, return_when=FIRST_COMPLETED)
                for future in done:
                    name = active.pop(future)
                    run = future.result()
                    runs[name] = run
                    if run.status != "ok":
                        failed.add(name)
        ordered = [runs[n] for n in self.project.graph.order if n in runs]
        return BuildResult(runs=ordered, seconds=time.perf_counter() - started)

    # ------------------------------------------------------------------ one recipe

    def run_recipe(self, name: str) -> RecipeRun:
        decision = self.planner.decide(name)
        if decision.engine == "sql" and decision.connection is not None:
            with self._slot(decision.connection):  # wait for the connection before the clock starts
                return self._run_decided(name, decision)
        return self._run_decided(name, decision)

    def _run_decided(self, name: str, decision: Decision) -> RecipeRun:
        recipe = self.project.recipes[name]
        self.on_event(BuildEvent("started", name, decision.engine))
        start = time.perf_counter()
        moved = 0
        try:
            input_versions = self.planner.recorded_inputs(name)
            if decision.engine == "sql" and decision.connection is not None:
                rows = self._run_sql(name, decision.connection)
            elif isinstance(recipe, ScoreRecipe):
                rows, moved = run_score(self.planner, self.checks, recipe, decision.engine)
            elif isinstance(recipe, EvaluateRecipe):
                rows, moved = run_evaluate(self.planner, self.checks, recipe, input_versions[recipe.inputs[0]])
            else:
                rows, moved = self._run_memory(name)
            versions = self.workspace.state.record_success(name, self.planner.fingerprint(name),
                                                           input_versions, rows)
            self.checks.commit(versions)  # record the verified outputs' metrics under their versions
            for out in rows:
                self.planner.forget(out)
            status, error = "ok", ""
        except TideflowError as err:  # a BuildError of this recipe is said once: the event adds "recipe ... failed"
            text = str(locate(self.project, err) if isinstance(err, ProjectError) else err)
            rows, status, error = {}, "failed", text.removeprefix(f"recipe {name!r} failed: ")
        except Exception as err:  # a database or engine error: report it, keep the previous outputs
            rows, status, error = {}, "failed", self._database_error(err)
        seconds = time.perf_counter() - start
        note = stored_note(self.planner, name) if status == "ok" else ""
        run = RecipeRun(recipe=name, engine=decision.engine, status=status, seconds=seconds,  # type: ignore[arg-type]
                        rows=rows, bytes_through_python=moved, error=error, note=note)
        self.workspace.state.log_run(self.build_id, name, decision.engine, status, seconds, rows, error)
        kind = "finished" if status == "ok" else "failed"
        self.on_event(BuildEvent(kind, name, decision.engine, seconds, sum(rows.values()) if rows else None,  # type: ignore[arg-type]
                                 message=BuildError(name, error).args[0] if error else note))
        return run

    def _database_error(self, err: Exception) -> str:
        """What a database said, in one line where it can be: a CSV value that does not fit the type the
        reader guessed names the dataset, the line, the column and the ``types`` that fix it."""
        text = str(err)
        path = csv_file_of(text)
        if path is not None:
            condensed = csv_cast_error(text, self.workspace.file_dataset(path) or f"file {path}")
            if condensed is not None:
                return condensed
        return f"{type(err).__name__}: {err}"

    def _run_sql(self, name: str, connection: str) -> dict[str, int]:
        recipe = self.project.recipes[name]
        sql = self.workspace.sql(connection)
        compiled = self.planner.compiler.compile(recipe, connection)
        statements: dict[str, str] = {}
        outputs: dict[str, str] = {}
        for out in compiled.queries:
            if self.planner.fused(out):
                continue
            table = self.project.datasets[out].table_name
            sql.drop_stale_temps(table)
            statements[table] = compiled.sql(out, sql.dialect)
            outputs[table] = out
        checks = self.checks.sql_hook(sql, outputs)

        def before_swap(temps: dict[str, str]) -> None:
            for table, temp in temps.items():  # a table Tideflow cannot read must not replace a good one
                try:
                    sql.table_schema(temp)
                except UnreadColumnType as err:
                    raise err.at(f"output {outputs[table]!r} of recipe {name!r}") from None
            if checks is not None:
                checks(temps)

        counts = sql.replace_tables(statements, before_swap=before_swap)
        return {outputs[t]: n for t, n in counts.items()}

    def _run_memory(self, name: str) -> tuple[dict[str, int], int]:
        recipe = self.project.recipes[name]
        arrow_inputs = {d: self.workspace.read_arrow(d) for d in recipe.inputs}
        moved = sum(t.nbytes for t in arrow_inputs.values())
        where = self.project.files.get(name)
        if isinstance(recipe, SqlRecipe):
            results = _run_sql_recipe_in_duckdb(recipe, arrow_inputs, where)
        else:
            frames = {d: pl.from_arrow(t) for d, t in arrow_inputs.items()}
            outputs = run_recipe(recipe, frames, project_dir=self.project.root, where=where)  # type: ignore[arg-type]
            results = {o: df.to_arrow() for o, df in outputs.items()}
        for out, table in results.items():  # checks first: a failing one writes none of the outputs
            self.checks.verify_arrow(out, table)
        moved += sum(table.nbytes for table in results.values())
        return self.workspace.write_arrows(results), moved  # the outputs of one connection swap in together


def stored_note(planner: Planner, recipe: str) -> str:
    """What a build says of the virtual outputs ``recipe`` stored all the same ('' for none)."""
    return "; ".join(f"virtual dataset {out!r} stored: {why}" for out, why in planner.stored_virtual(recipe).items())


def _run_sql_recipe_in_duckdb(recipe: SqlRecipe, inputs: dict[str, pa.Table], where: str | None) -> dict[str, pa.Table]:
    """A SQL recipe whose inputs live on different connections: run it in an embedded DuckDB."""
    from tideflow.connections import arrow_logical_type

    con = duckdb.connect(":memory:")
    try:
        sql_inputs = {}
        for i, (name, table) in enumerate(inputs.items()):
            view = f"__tide_input_{i}"
            con.register(view, table)
            sql_inputs[name] = SqlInput(relation=exp.Table(this=exp.to_identifier(view, quoted=True)),
                                        schema={f.name: arrow_logical_type(f.type) for f in table.schema})
        queries = compile_recipe(recipe, sql_inputs, "duckdb", where=where)
        return {out: con.sql(to_sql(q, "duckdb")).to_arrow_table() for out, q in queries.items()}
    finally:
        con.close()
