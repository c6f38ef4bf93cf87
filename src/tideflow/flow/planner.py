"""The planner: which recipes a build runs (modes, outdated detection) and on which engine.

Engine choice: ``sql`` when the recipe's inputs and outputs share one SQL connection (files count as
readable from DuckDB) and the recipe compiles; ``memory`` otherwise, with the reason. A virtual
dataset is fused (its recipe becomes a CTE of its readers) when its recipe and every reader in the
build run as SQL on the same connection; otherwise it is stored like any other dataset.

Model recipes: a ``score`` recipe runs as ``sql`` when its model compiles to SQL and its input and
output share a SQL connection; otherwise ``memory`` or ``ray`` (``model_recipes.batch_engine``).
``evaluate`` runs in memory. Their fingerprint includes the resolved model version, so activating
another version makes them outdated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from tideflow.checks import verify_declared
from tideflow.errors import ConnectionError_, ProjectError, UnsupportedPushdown
from tideflow.flow.model import BuildMode, PlannedRecipe
from tideflow.flow.model_recipes import Machine, batch_engine, cluster_address, cluster_cpus
from tideflow.flow.scoring import ScoringModel, resolve_model
from tideflow.flow.sqlgen import InputNotBuilt, RecipeCompiler
from tideflow.flow.workspace import Workspace
from tideflow.project import SQL_CONNECTION_TYPES, Project
from tideflow.recipes import EvaluateRecipe, PythonRecipe, RecipeBase, Schema, ScoreRecipe, SqlRecipe

#: The key under which the state store records the model version a model recipe was built with.
MODEL_KEY = "@model"


# Tree ensembles above this many decision nodes score faster streamed through the compiled scorer
# than as SQL CASE expressions (bench/scoring.py, DuckDB, 1M rows: logistic SQL 6.9x faster than pull,
# score and write back; a 40-tree LightGBM of 280 nodes about even, 1.15x at 100k rows; 200 trees (6,000
# nodes) 0.44x; a 100-tree depth-10 forest 0.17x).
MAX_SQL_SPLITS = 300


@dataclass
class Decision:
    engine: str
    reason: str
    connection: str | None


@dataclass
class Planner:
    project: Project
    workspace: Workspace
    engine_override: str | None = None
    run_set: set[str] = field(default_factory=set)
    _decisions: dict[str, Decision] = field(default_factory=dict)
    _schemas: dict[str, Schema | None] = field(default_factory=dict)
    _versions: dict[str, str] = field(default_factory=dict)
    _deciding: set[str] = field(default_factory=set)
    _models: dict[str, ScoringModel] = field(default_factory=dict)
    _known: dict[str, Schema | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.compiler = RecipeCompiler(self.project, self.workspace, fused=self.fused, schema_of=self.schema_of,
                                       model_of=self.scoring_model)

    # ------------------------------------------------------------------ models

    def scoring_model(self, recipe: RecipeBase) -> ScoringModel:
        """The saved model a score/evaluate recipe uses (its pinned version, else the active one), resolved
        once per plan; a missing model is a ProjectError naming the recipe file and the ``model`` key."""
        if not isinstance(recipe, ScoreRecipe | EvaluateRecipe):
            raise TypeError(f"recipe {recipe.name!r} uses no model")
        if recipe.name not in self._models:
            self._models[recipe.name] = resolve_model(
                self.project.state_dir, recipe.model, recipe.version, recipe=recipe.name,
                where=self.project.files.get(recipe.name, f"recipe {recipe.name!r}"),
                line_of=lambda key: self.project.key_line(recipe.name, key))
        return self._models[recipe.name]

    def fingerprint(self, name: str) -> str:
        """The recipe's fingerprint; for a model recipe it includes the resolved model version."""
        base = self.project.recipe_fingerprint(name)
        recipe = self.project.recipes[name]
        if not isinstance(recipe, ScoreRecipe | EvaluateRecipe):
            return base
        token = self.scoring_model(recipe).token
        return hashlib.sha256(f"{base}\0{token}".encode()).hexdigest()[:16]

    def recorded_inputs(self, name: str) -> dict[str, str]:
        """What the state store records as the recipe's inputs: dataset versions, and the model version."""
        recipe = self.project.recipes[name]
        versions = {d: self.version(d) for d in recipe.inputs}
        if isinstance(recipe, ScoreRecipe | EvaluateRecipe):
            versions[MODEL_KEY] = self.scoring_model(recipe).label
        return versions

    # ------------------------------------------------------------------ selection

    def target_recipes(self, targets: list[str] | None, mode: str = "smart") -> list[str]:
        """The recipes that write ``targets``; in ``downstream`` mode a source stands for the recipes
        that read it (everything fed by the source is rebuilt)."""
        graph = self.project.graph
        if not targets:
            return list(graph.order)
        out = []
        for name in targets:
            self.project.dataset(name)  # an unknown name: a ProjectError with what it is or the nearest one
            if name not in graph.producer:
                if mode != "downstream":
                    raise ProjectError(f"dataset {name!r} is a source: no recipe builds it (to rebuild what "
                                       "reads it, use --mode downstream)")
                out += [r for r in graph.consumers.get(name, []) if r not in out]
            elif graph.producer[name] not in out:
                out.append(graph.producer[name])
        return out

    def select(self, targets: list[str] | None, mode: BuildMode) -> dict[str, str]:
        """Recipes to run, in topological order, each with why it runs."""
        graph = self.project.graph
        chosen = self.target_recipes(targets, mode)
        if mode == "dataset":
            candidates = set(chosen)
        elif mode == "downstream":
            candidates = set(chosen) | graph.descendants(chosen)
        else:
            candidates = set(chosen) | graph.ancestors(chosen)
        selected: dict[str, str] = {}
        for name in graph.order:
            if name not in candidates:
                continue
            if mode == "smart":
                reason = self.outdated_reason(name, set(selected))
                if reason:
                    selected[name] = reason
            else:
                selected[name] = {"dataset": "requested", "forced": "forced rebuild",
                                  "downstream": "downstream of the request"}.get(mode, mode)
        self.run_set = set(selected)
        return selected

    # ------------------------------------------------------------------ outdated

    def version(self, dataset: str) -> str:
        """The data version of a dataset: recorded for built ones, a fingerprint for sources,
        and a hash of recipe and inputs for virtual ones (they are never stored)."""
        if dataset in self._versions:
            return self._versions[dataset]
        producer = self.project.graph.producer.get(dataset)
        if producer is None:
            value = "source:" + self.workspace.source_fingerprint(dataset)
        elif self.project.datasets[dataset].virtual:
            recipe = self.project.recipes[producer]
            parts = [self.fingerprint(producer)] + [self.version(d) for d in recipe.inputs]
            value = "virtual:" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
        else:
            value = self.workspace.state.dataset_version(dataset) or "never-built"
        self._versions[dataset] = value
        return value

    def forget(self, dataset: str) -> None:
        """Drop cached knowledge of ``dataset`` after it was rebuilt (and every inferred schema)."""
        self._versions.pop(dataset, None)
        for key in [k for k in self._versions if k.startswith("virtual:") or
                    (self.project.datasets.get(k, None) is not None and self.project.datasets[k].virtual)]:
            self._versions.pop(key, None)
        self._schemas.clear()
        self._known.clear()

    def outdated_reason(self, name: str, running: set[str]) -> str:
        recipe = self.project.recipes[name]
        stored_outputs = [o for o in recipe.outputs if not self.fused(o)]
        if not stored_outputs:
            return ""  # runs inside its readers, as a CTE
        state = self.workspace.state.recipe(name)
        if state is None:
            return "never built"
        if isinstance(recipe, ScoreRecipe | EvaluateRecipe):
            used, now = state.input_versions.get(MODEL_KEY), self.scoring_model(recipe).label
            if used is not None and used != now:
                return f"the model changed: {used} -> {now}"
        if state.fingerprint != self.fingerprint(name):
            return "the recipe changed"
        for out in stored_outputs:
            if not self.workspace.exists(out):
                return f"output {out!r} is missing"
        for inp in recipe.inputs:
            if self._upstream_runs(inp, running):
                return f"input {inp!r} is being rebuilt"
            if state.input_versions.get(inp) != self.version(inp):
                return f"input {inp!r} changed"
        return ""

    def _upstream_runs(self, dataset: str, running: set[str]) -> bool:
        producer = self.project.graph.producer.get(dataset)
        if producer is None:
            return False
        if producer in running:
            return True
        if self.project.datasets[dataset].virtual:
            return any(self._upstream_runs(d, running) for d in self.project.recipes[producer].inputs)
        return False

    # ------------------------------------------------------------------ engines

    def output_connection(self, recipe: RecipeBase) -> str | None:
        conns = {self.project.connection_of(o) for o in recipe.outputs}
        return conns.pop() if len(conns) == 1 else None

    def decide(self, name: str) -> Decision:
        if name in self._decisions:
            return self._decisions[name]
        recipe = self.project.recipes[name]
        self._deciding.add(name)
        try:
            decision = self._decide(recipe)
            if decision.engine == "memory":
                self.compiler.validate(recipe)  # a bad spec is a project error on every engine, before the build
        finally:
            self._deciding.discard(name)
        self._decisions[name] = decision
        return decision

    def _decide(self, recipe: RecipeBase) -> Decision:
        forced = self.engine_override or (recipe.engine if recipe.engine != "auto" else None)
        if forced is None and self.project.config.defaults.engine != "auto":
            forced = self.project.config.defaults.engine
        conn = self.output_connection(recipe)
        if isinstance(recipe, PythonRecipe):
            return Decision("memory", "python recipes run in memory", conn)
        if isinstance(recipe, EvaluateRecipe):
            model = self.scoring_model(recipe)
            return Decision("memory", f"evaluate recipes score the labelled rows with model {model.label} and "
                                      "compute the metrics with scikit-learn, in memory", conn)
        if isinstance(recipe, ScoreRecipe):
            return self._decide_score(recipe, forced, conn)
        if forced == "memory":
            return Decision("memory", "memory engine forced", conn)
        blocker = self._sql_blocker(recipe, conn)
        if blocker is None and conn is not None:
            try:
                self.compiler.compile(recipe, conn)
            except UnsupportedPushdown as err:
                blocker = f"not expressible in SQL: {err}"
            except InputNotBuilt:
                pass  # built earlier in this build; its schema is inferred then
        if blocker is not None:
            if forced == "sql" and not isinstance(recipe, SqlRecipe):
                raise self._forced_sql(recipe, blocker)
            if isinstance(recipe, SqlRecipe):
                return Decision("memory", f"{blocker}; the query runs in an embedded DuckDB over Arrow", conn)
            return Decision("memory", f"{blocker}; data moves as Arrow", conn)
        assert conn is not None
        kind = self.project.config.connections[conn].type
        reason = f"inputs and outputs are on {kind} connection {conn!r}; the recipe compiles to {kind} SQL"
        return Decision("sql", ("sql engine forced: " if forced == "sql" else "") + reason, conn)

    def _decide_score(self, recipe: ScoreRecipe, forced: str | None, conn: str | None) -> Decision:
        model = self.scoring_model(recipe)
        if forced in ("memory", "ray"):
            return Decision(forced, f"{forced} engine forced", conn)
        blocker = model.sql_blocker()
        if blocker is None and forced != "sql":
            splits = model.model_sql().splits
            if splits > MAX_SQL_SPLITS:
                blocker = (f"model {model.label} compiles to SQL, but its trees have {splits:,} decision nodes: above "
                           f"{MAX_SQL_SPLITS:,} a database evaluates the nested CASE expressions slower than the "
                           f"compiled scorer scores streamed rows (bench/scoring.py); force engine: sql to score "
                           f"in the database anyway")
        if blocker is None:
            blocker = self._sql_blocker(recipe, conn)
        if blocker is None and conn is not None:
            try:
                self.compiler.compile(recipe, conn)
            except UnsupportedPushdown as err:
                blocker = f"not expressible in SQL: {err}"
            except InputNotBuilt:
                pass  # built earlier in this build; its schema is inferred then
        if blocker is None and conn is not None:
            kind = self.project.config.connections[conn].type
            reason = (f"input and output are on {kind} connection {conn!r} and model {model.label} compiles to "
                      f"{kind} SQL: it scores inside the database, no rows pass through Python")
            return Decision("sql", ("sql engine forced: " if forced == "sql" else "") + reason, conn)
        if forced == "sql":
            raise self._forced_sql(recipe, blocker)
        compute = self.project.config.compute
        inp = recipe.inputs[0]
        engine, why = batch_engine(cluster_address(compute), cluster_cpus(compute), Machine.here(),
                                   lambda: self.workspace.estimated_bytes(inp))
        return Decision(engine, f"{blocker}; {why}", conn)

    def _forced_sql(self, recipe: RecipeBase, blocker: str | None) -> ProjectError:
        """The error for a recipe that cannot run as SQL where the sql engine was forced: located at the
        recipe's ``engine`` key, at ``defaults.engine`` of the project file, or said to be the option."""
        if self.engine_override == "sql":
            return ProjectError(f"recipe {recipe.name!r}: the sql engine was forced for this build but {blocker}")
        message = f"recipe {recipe.name!r}: the sql engine was forced but {blocker}"
        if recipe.engine == "sql":
            return ProjectError(message, file=self.project.files.get(recipe.name), key_path="engine")
        return ProjectError(message, file="tideflow.yaml", key_path="defaults.engine")

    def _sql_blocker(self, recipe: RecipeBase, conn: str | None) -> str | None:
        if conn is None:
            return "outputs are on different connections"
        kind = self.project.config.connections[conn].type
        if kind not in SQL_CONNECTION_TYPES:
            return f"output is on {kind} connection {conn!r}"
        for inp in recipe.inputs:
            if self.fused(inp) and self.project.connection_of(inp) == conn:
                continue
            if self.project.datasets[inp].virtual and self.project.connection_of(inp) == conn:
                producer = self.project.graph.producer[inp]
                if self.decide(producer).engine == "sql":
                    continue
            if self.workspace.relation(inp, conn) is None:
                return (f"input {inp!r} is on connection {self.project.connection_of(inp)!r}, "
                        f"output on {conn!r}")
        return None

    def fused(self, dataset: str) -> bool:
        """A virtual dataset whose recipe and readers all run as SQL on its connection."""
        spec = self.project.datasets.get(dataset)
        if spec is None or not spec.virtual:
            return False
        producer = self.project.graph.producer[dataset]
        conn = self.project.connection_of(dataset)
        if self.decide(producer).engine != "sql" or self.decide(producer).connection != conn:
            return False
        for reader in self.project.graph.consumers.get(dataset, []):
            if reader in self._deciding:
                continue
            d = self.decide(reader)
            if d.engine != "sql" or d.connection != conn:
                return False
        return True

    def why_stored(self, dataset: str) -> str:
        """Why the virtual ``dataset`` is stored all the same ('' when it is fused, or not virtual): its
        recipe, or one of its readers, does not run as SQL on its connection."""
        spec = self.project.datasets.get(dataset)
        if spec is None or not spec.virtual or self.fused(dataset):
            return ""
        conn = self.project.connection_of(dataset)
        producer = self.project.graph.producer[dataset]
        for name, role in [(producer, "its recipe"),
                           *((r, "recipe") for r in self.project.graph.consumers.get(dataset, []))]:
            decision = self.decide(name)
            if decision.engine != "sql":
                return f"{role} {name!r} runs on the {decision.engine} engine ({decision.reason})"
            if decision.connection != conn:
                return f"{role} {name!r} runs as SQL on connection {decision.connection!r}, not {conn!r}"
        return "not every recipe reading it runs as SQL on its connection"

    def stored_virtual(self, recipe: str) -> dict[str, str]:
        """The virtual outputs of ``recipe`` that are stored, each with why (``why_stored``)."""
        reasons = {o: self.why_stored(o) for o in self.project.recipes[recipe].outputs}
        return {o: why for o, why in reasons.items() if why}

    # ------------------------------------------------------------------ schemas

    def schema_of(self, dataset: str) -> Schema | None:
        if dataset in self._schemas:
            return self._schemas[dataset]
        producer = self.project.graph.producer.get(dataset)
        schema: Schema | None = None
        virtual = self.project.datasets[dataset].virtual
        if not virtual and (producer is None or producer not in self.run_set):
            schema = self.workspace.stored_schema(dataset)
        if schema is None and producer is not None:
            inferred = self.compiler.infer_outputs(self.project.recipes[producer])
            schema = (inferred or {}).get(dataset)
            if schema is None and not virtual:
                schema = self.workspace.stored_schema(dataset)
        self._schemas[dataset] = schema
        return schema

    def known_schema(self, dataset: str) -> Schema | None:
        """The schema ``dataset`` will have once this plan has run, when it is known without running
        anything: the stored schema of a source or of an output no selected recipe rewrites, the inferred
        one of an output a selected recipe rewrites (or of a virtual one). None when only running tells:
        the output of a Python recipe, anything computed from it, a source that cannot be read."""
        if dataset in self._known:
            return self._known[dataset]
        self._known[dataset] = None  # a cycle cannot reach here (the graph is acyclic); a guard all the same
        producer = self.project.graph.producer.get(dataset)
        rewritten = producer is not None and (producer in self.run_set or self.project.datasets[dataset].virtual)
        schema: Schema | None = None
        try:
            if not rewritten:
                schema = self.schema_of(dataset)
            elif producer is not None and all(self.known_schema(i) is not None
                                              for i in self.project.recipes[producer].inputs):
                schema = (self.compiler.infer_outputs(self.project.recipes[producer]) or {}).get(dataset)
        except ConnectionError_:
            schema = None  # an unreadable file: the build says so where it reads it
        self._known[dataset] = schema
        return schema

    def verify_checks(self, recipes: Iterable[str]) -> None:
        """Refuse (``ProjectError``) the metrics and checks declared on the outputs and source inputs of
        ``recipes`` that cannot run on the schema those datasets will have (``known_schema``): an unknown
        column, a metric or bound of the wrong type. Datasets whose schema only a run tells are verified
        when their checks run, by the same rules in the same words."""
        seen: set[str] = set()
        for name in recipes:
            recipe = self.project.recipes[name]
            sources = [d for d in recipe.inputs if d not in self.project.graph.producer]
            for dataset in [*recipe.outputs, *sources]:
                spec = self.project.datasets[dataset]
                if dataset in seen or not (spec.checks or spec.metrics):
                    continue
                seen.add(dataset)
                schema = self.known_schema(dataset)
                if schema is not None:
                    verify_declared(self.project, dataset, schema, schema_of=self.known_schema)

    # ------------------------------------------------------------------ plan output

    def planned(self, name: str, outdated_reason: str = "") -> PlannedRecipe:
        recipe = self.project.recipes[name]
        decision = self.decide(name)
        virtual = tuple(o for o in recipe.outputs if self.fused(o))
        fused_into = None
        if virtual and len(virtual) == len(recipe.outputs):
            readers = [r for o in virtual for r in self.project.graph.consumers.get(o, [])]
            fused_into = readers[0] if readers else None
        sql: dict[str, str] = {}
        notes: tuple[str, ...] = ()
        if decision.engine == "sql" and decision.connection is not None:
            dialect = self.workspace.sql(decision.connection).dialect
            try:
                compiled = self.compiler.compile(recipe, decision.connection)
                sql = {o: compiled.sql(o, dialect) for o in compiled.queries}
                notes = tuple(compiled.notes)
            except ProjectError as err:
                sql = {o: f"-- not available yet: {err}" for o in recipe.outputs}
        return PlannedRecipe(
            recipe=name, engine=decision.engine, reason=decision.reason,  # type: ignore[arg-type]
            connection=decision.connection, sql=sql, outdated_reason=outdated_reason,
            virtual_outputs=virtual, fused_into=fused_into, stored_virtual=self.stored_virtual(name), notes=notes,
        )
