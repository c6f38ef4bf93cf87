"""Compile a recipe for a connection: resolve inputs to relations, fuse virtual inputs as CTEs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlglot import exp

from tideflow.engines.sql import SqlInput, compile_recipe, discover_pivot_values_query, output_schema, to_sql
from tideflow.errors import ConnectionError_, ProjectError, TideflowError, UnsupportedPushdown, did_you_mean
from tideflow.flow.groupkeys import reduce_group_keys
from tideflow.flow.joins import UniqueKeys, drop_unused_joins
from tideflow.flow.latejoins import join_after_group
from tideflow.flow.pruning import prune_projections
from tideflow.flow.scoring import EVALUATE_SCHEMA, deep_recursion
from tideflow.flow.workspace import Workspace
from tideflow.project import Project
from tideflow.recipes import (
    ColumnType,
    EvaluateRecipe,
    GroupRecipe,
    PivotRecipe,
    PythonRecipe,
    RecipeBase,
    Schema,
    ScoreRecipe,
    SqlRecipe,
)

if TYPE_CHECKING:
    from tideflow.flow.scoring import ScoringModel

VIRTUAL_PREFIX = "__tide_virtual_"


class InputNotBuilt(ProjectError):
    """An input a recipe of the Flow writes has not been built: planning goes on (its schema is inferred
    when it runs), a build builds it first."""


def missing_source(project: Project, workspace: Workspace, name: str, reader: str) -> ConnectionError_:
    """The error for a source dataset (written by no recipe) whose table or file is not there: nothing in
    the Flow can build it, so it is a missing file or table, not an outdated input."""
    spec = project.dataset(name)
    conn = project.connection_of(name)
    if workspace.is_files(name):
        where = f"file {workspace.files(conn).path_of(spec)}"
    else:
        where = f"table {spec.table_name!r} on connection {conn!r}"
    file = project.dataset_files.get(name)
    declared = f" (declared in {file})" if file else ""
    return ConnectionError_(f"source dataset {name!r}{declared}, an input of recipe {reader!r}, cannot be read: "
                            f"{where} does not exist (a source is not built by the Flow: load it, or fix its "
                            f"{'path' if workspace.is_files(name) else 'table'})")


@dataclass
class CompiledRecipe:
    """Queries per output, with the CTEs of fused virtual inputs already attached."""

    queries: dict[str, exp.Query]
    ctes: list[tuple[str, exp.Query]] = field(default_factory=list)
    bare: dict[str, exp.Query] = field(default_factory=dict)  # the queries before the CTEs were attached
    notes: list[str] = field(default_factory=list)  # what the compiler changed and why, for explain

    def sql(self, output: str, dialect: str) -> str:
        with deep_recursion():  # a scored model nests deeply
            return to_sql(self.queries[output], dialect)


def attach_ctes(query: exp.Query, ctes: list[tuple[str, exp.Query]], unique: UniqueKeys | None = None,
                notes: list[str] | None = None) -> exp.Query:
    """Put ``ctes`` (name, body) first in ``query``'s WITH clause; later CTEs may read earlier ones.
    The CTEs then keep only the columns the query reads (``flow.pruning``), and lose the LEFT JOINs to
    a verified unique key that no kept column reads (``flow.joins``, with ``unique``; said in ``notes``)."""
    if not ctes:
        return query
    query = query.copy()
    new = [exp.CTE(this=body.copy(), alias=exp.TableAlias(this=exp.to_identifier(name, quoted=True)))
           for name, body in ctes]
    existing = query.args.get("with_")
    if isinstance(existing, exp.With):
        existing.set("expressions", new + list(existing.expressions))
    else:
        query.set("with_", exp.With(expressions=new))
    return tidy(query, {name for name, _ in ctes}, unique, notes)


def tidy(query: exp.Query, ctes: set[str], unique: UniqueKeys | None = None,
         notes: list[str] | None = None) -> exp.Query:
    """``query``, changed in place: its CTEs named in ``ctes`` keep only the columns the query reads
    (``flow.pruning``), and lose the LEFT JOINs to a verified unique key that no kept column reads
    (``flow.joins``, with ``unique``; said in ``notes``)."""
    query = prune_projections(query, ctes)
    if unique is None:
        return query
    dropped: list[tuple[str, str]] = []
    drop_unused_joins(query, unique, dropped)
    said = notes if notes is not None else []
    for cte, table in dropped:
        where = f" in {cte.removeprefix(VIRTUAL_PREFIX)}" if cte.startswith(VIRTUAL_PREFIX) else ""
        note = (f"the join to {table}{where} is left out: no column of it is read, and a verified unique key "
                "matches each row at most once")
        if note not in said:
            said.append(note)
    return query


class RecipeCompiler:
    """Compiles recipes of a project for a SQL connection.

    ``fused(dataset)`` says whether a virtual dataset is inlined as a CTE (otherwise it is stored
    and read as a table). ``schema_of(dataset)`` gives an input's schema: stored, or inferred for
    datasets not built yet (explain before build).
    """

    def __init__(self, project: Project, workspace: Workspace, *, fused: Callable[[str], bool],
                 schema_of: Callable[[str], Schema | None],
                 model_of: Callable[[RecipeBase], ScoringModel] | None = None) -> None:
        self.project = project
        self.workspace = workspace
        self.fused = fused
        self.schema_of = schema_of
        self.model_of = model_of
        self._verified: dict[str, bool] = {}  # source dataset -> its declared unique key holds
        self._keys: dict[str, UniqueKeys] = {}  # connection -> its sources' keys (``unique_keys``)

    def where(self, recipe: RecipeBase) -> str:
        return self.project.files.get(recipe.name, f"recipe {recipe.name!r}")

    def compile(self, recipe: RecipeBase, connection: str, dialect: str | None = None) -> CompiledRecipe:
        """Compile ``recipe`` for ``connection`` (in ``dialect``, default the connection's own);
        raise UnsupportedPushdown when SQL cannot do it."""
        if isinstance(recipe, PythonRecipe):
            raise UnsupportedPushdown("python", "python recipes run in memory")
        if isinstance(recipe, EvaluateRecipe):
            raise UnsupportedPushdown("evaluate", "evaluate recipes compute their metrics in memory")
        dialect = dialect or self.workspace.sql(connection).dialect
        inputs: dict[str, SqlInput] = {}
        ctes: list[tuple[str, exp.Query]] = []
        for name in recipe.inputs:
            if self.fused(name):
                producer = self.project.recipes[self.project.graph.producer[name]]
                inner = self.compile(producer, connection, dialect)
                for cte in inner.ctes:
                    if cte[0] not in [c[0] for c in ctes]:
                        ctes.append(cte)
                cte_name = VIRTUAL_PREFIX + name
                if cte_name not in [c[0] for c in ctes]:
                    # The body is the producer's bare query: its own CTEs are already in `ctes`, once.
                    ctes.append((cte_name, inner.bare[name]))
                schema = self.schema_of(name)
                if schema is None:
                    raise UnsupportedPushdown(name, f"the schema of virtual dataset {name!r} is unknown")
                inputs[name] = SqlInput(relation=exp.Table(this=exp.to_identifier(cte_name, quoted=True)),
                                        schema=schema)
                continue
            relation = self.workspace.relation(name, connection)
            if relation is None:
                raise UnsupportedPushdown(
                    name, f"input {name!r} is on connection {self.project.connection_of(name)!r}, "
                          f"not readable from {connection!r}")
            schema = self.schema_of(name)
            if schema is None:
                if name in self.project.graph.producer:
                    raise InputNotBuilt(f"input {name!r} of recipe {recipe.name!r} does not exist yet: build it first")
                raise missing_source(self.project, self.workspace, name, recipe.name)
            inputs[name] = SqlInput(relation=relation, schema=schema)
        unique = self.unique_keys(connection)
        if isinstance(recipe, ScoreRecipe):
            queries: dict[str, exp.Query] = {recipe.outputs[0]: self.score_query(recipe, inputs, dialect)}
            return CompiledRecipe(queries={k: attach_ctes(q, ctes, unique) for k, q in queries.items()},
                                  ctes=ctes, bare=dict(queries))
        pivot_values = self.pivot_values(recipe, inputs, connection)
        queries = compile_recipe(recipe, inputs,  # type: ignore[arg-type]
                                  dialect, pivot_values=pivot_values, where=self.where(recipe))
        notes: list[str] = []
        attached = {k: attach_ctes(q, ctes, unique, notes) for k, q in queries.items()}
        if isinstance(recipe, GroupRecipe):
            attached = self.reduce_keys(recipe, attached, inputs, unique, {name for name, _ in ctes}, notes)
        return CompiledRecipe(queries=attached, ctes=ctes, bare=dict(queries), notes=notes)

    @staticmethod
    def reduce_keys(recipe: GroupRecipe, queries: dict[str, exp.Query], inputs: dict[str, SqlInput],
                    unique: UniqueKeys, ctes: set[str], notes: list[str]) -> dict[str, exp.Query]:
        """``queries`` grouped on fewer keys where the others follow from them (``flow.groupkeys``), those
        a verified unique key gave joined after the group (``flow.latejoins``); said in ``notes``."""
        out = {}
        types = inputs[recipe.inputs[0]].schema

        def retidy(query: exp.Query, said: list[str] | None) -> exp.Query:
            return tidy(query, ctes, unique, said)

        for output, query in queries.items():
            # reduce_group_keys changes ``query`` in place: a copy (attach_ctes copies; a query without CTEs
            # has no join to reduce through)
            dropped = reduce_group_keys(query, unique, types)
            joins_left_out: list[str] = []
            out[output], lates = join_after_group(query, dropped, unique, retidy, joins_left_out)
            if not dropped:
                continue
            kept = [k for k in recipe.keys if k not in dropped]
            one = len(dropped) == 1
            notes.append(f"{output} groups by {', '.join(kept)} only: {', '.join(dropped)} "
                         f"{'follows' if one else 'follow'} from {'it' if len(kept) == 1 else 'them'} "
                         "through a join on a verified unique key")
            notes += [f"{output} reads {', '.join(names)} from {table} after the group: one lookup per group"
                      for table, names in lates]
            moved = {name for _, names in lates for name in names}
            by_min = [k for k in dropped if k not in moved and types.get(k) != ColumnType.BOOLEAN]
            by_and = [k for k in dropped if k not in moved and types.get(k) == ColumnType.BOOLEAN]
            if by_min or by_and:
                read = " and ".join(f"{', '.join(keys)} with {fn}"
                                    for keys, fn in ((by_min, "MIN"), (by_and, "BOOL_AND")) if keys)
                notes.append(f"{output} reads {read} (one value per group)")
            notes += [n for n in joins_left_out if n not in notes]
        return out

    def unique_keys(self, connection: str) -> UniqueKeys:
        """The verified unique keys of the source tables on ``connection``, by table (``flow.joins``).

        A key declared with ``unique:`` on a source is checked (one GROUP BY on the table, once per
        build) the first time a query could drop a join with it; a key that does not hold is a
        ``ProjectError`` at the declaration: dropping joins on it would change rows.
        """
        if connection in self._keys:  # compile() asks once per recipe and per fused producer
            return self._keys[connection]
        tables: dict[tuple[str, str, str], str] = {}
        for name, spec in self.project.datasets.items():
            if spec.unique and not spec.virtual and name not in self.project.graph.producer \
                    and self.project.connection_of(name) == connection:
                relation = self.workspace.relation(name, connection)
                if isinstance(relation, exp.Table):
                    tables[(relation.catalog, relation.db, relation.name)] = name

        def keys(table: exp.Table) -> list[frozenset[str]] | None:
            name = tables.get((table.catalog, table.db, table.name))
            if name is None:
                return None
            if name not in self._verified:
                self._verified[name] = self._verify_unique(name, connection)
            return [frozenset(self.project.datasets[name].unique or ())] if self._verified[name] else None

        self._keys[connection] = keys
        return keys

    def _verify_unique(self, dataset: str, connection: str) -> bool:
        """True when no two rows of source ``dataset`` share a non-NULL value of its ``unique`` key;
        ``ProjectError`` at the declaration otherwise. False when the table cannot be read here."""
        spec = self.project.datasets[dataset]
        key = list(spec.unique or ())
        file = self.project.dataset_files.get(dataset)
        schema = self.schema_of(dataset)
        relation = self.workspace.relation(dataset, connection)
        if schema is None or not isinstance(relation, exp.Table):
            return False
        for i, column in enumerate(key):
            if column not in schema:
                raise ProjectError(f"dataset {dataset!r}: unknown column {column!r} in its unique key"
                                   f"{did_you_mean(column, schema)} (the dataset has: "
                                   f"{', '.join(repr(c) for c in schema)})", file=file, key_path=f"unique[{i}]")
        columns = [exp.column(c, quoted=True) for c in key]
        present = [exp.Not(this=exp.Is(this=c.copy(), expression=exp.Null())) for c in columns]
        count = exp.Count(this=exp.Star())
        probe = (exp.select(*[c.copy() for c in columns], count.copy().as_("n")).from_(relation.copy())
                 .where(exp.and_(*present)).group_by(*[c.copy() for c in columns])
                 .having(exp.GT(this=count.copy(), expression=exp.Literal.number(1))).limit(1))
        sql = self.workspace.sql(connection)
        rows = sql.fetch_arrow(probe.sql(dialect=sql.dialect)).to_pylist()
        if rows:
            n = rows[0].pop("n")
            shown = ", ".join(f"{c} = {v!r}" for c, v in rows[0].items())
            raise ProjectError(
                f"dataset {dataset!r} is declared unique on ({', '.join(key)}), but {shown} is in {n} rows: "
                "expected each key once (the Flow drops joins on it that would otherwise add rows); fix the "
                "data, or remove 'unique'", file=file, key_path="unique")
        return True

    def score_query(self, recipe: ScoreRecipe, inputs: dict[str, SqlInput], dialect: str) -> exp.Query:
        """The input's rows plus the model's outputs, computed by the database."""
        if self.model_of is None:
            raise UnsupportedPushdown(f"score recipe {recipe.name!r}", "no model registry to compile from")
        model = self.model_of(recipe)
        source = inputs[recipe.inputs[0]]
        columns = list(source.schema)
        where = self.where(recipe)
        model.check_columns(columns, where=where, recipe=recipe.name, dataset=recipe.inputs[0])
        model.check_outputs(columns, recipe.prefix, where=where, recipe=recipe.name, dataset=recipe.inputs[0])
        return model.score_query(source.relation, source.schema, recipe.prefix, dialect)

    def pivot_values(self, recipe: RecipeBase, inputs: dict[str, SqlInput], connection: str) -> list[object] | None:
        """Discover pivot values in the database (distinct values, sorted, bounded)."""
        if not isinstance(recipe, PivotRecipe) or recipe.values is not None:
            return None
        sql = self.workspace.sql(connection)
        query = discover_pivot_values_query(recipe, inputs, sql.dialect)
        ctes = []
        for name in recipe.inputs:
            if self.fused(name):
                inner = self.compile(self.project.recipes[self.project.graph.producer[name]], connection)
                ctes = [*inner.ctes, (VIRTUAL_PREFIX + name, inner.bare[name])]
        table = sql.fetch_arrow(to_sql(attach_ctes(query, ctes), sql.dialect))
        values = table.column(0).to_pylist() if table.num_columns else []
        if len(values) > recipe.max_values:
            raise ProjectError(
                f"pivot column {recipe.column!r} has more than max_values={recipe.max_values} distinct values; "
                "list 'values' explicitly or raise 'max_values'",
                file=self.where(recipe), key_path="values",
            )
        return values

    def validate(self, recipe: RecipeBase) -> None:
        """Check a visual recipe against its input schemas without running it: the rules are the same
        whichever engine runs it, so a recipe the memory engine will run fails here (a ``ProjectError``,
        before anything runs) exactly as one the database would. Nothing is checked when an input's
        schema is not known yet, for Python and model recipes, or where only the SQL form is unsupported; a
        SQL recipe is checked for its tables and the columns it reads."""
        if isinstance(recipe, PythonRecipe | ScoreRecipe | EvaluateRecipe):
            return
        if isinstance(recipe, PivotRecipe) and recipe.values is None:
            return  # its columns come from the data
        schemas: dict[str, SqlInput] = {}
        for name in recipe.inputs:
            schema = self.schema_of(name)
            if schema is None:
                return
            schemas[name] = SqlInput(relation=exp.Table(this=exp.to_identifier(name, quoted=True)), schema=schema)
        try:
            if isinstance(recipe, SqlRecipe):
                # run in an embedded DuckDB off a SQL connection: its tables and columns are checked
                compile_recipe(recipe, schemas, "duckdb", where=self.where(recipe))
            else:
                output_schema(recipe, schemas, where=self.where(recipe))  # type: ignore[arg-type]
        except UnsupportedPushdown:
            return

    def infer_outputs(self, recipe: RecipeBase) -> dict[str, Schema] | None:
        """Output schemas without running anything, or None when they cannot be known yet."""
        if isinstance(recipe, PythonRecipe):
            return None
        if isinstance(recipe, EvaluateRecipe):
            return {recipe.outputs[0]: dict(EVALUATE_SCHEMA)}
        if isinstance(recipe, ScoreRecipe):
            source = self.schema_of(recipe.inputs[0])
            if source is None or self.model_of is None:
                return None
            try:
                added = self.model_of(recipe).outputs(recipe.prefix)
            except TideflowError:
                return None
            return {recipe.outputs[0]: {**source, **dict(added)}}
        schemas: dict[str, SqlInput] = {}
        for name in recipe.inputs:
            schema = self.schema_of(name)
            if schema is None:
                return None
            schemas[name] = SqlInput(relation=exp.Table(this=exp.to_identifier(name, quoted=True)), schema=schema)
        try:
            pivot_values = None
            if isinstance(recipe, PivotRecipe) and recipe.values is None:
                connection = self.project.connection_of(recipe.inputs[0])
                if self.workspace.connection_type(connection) == "files":
                    return None
                pivot_values = self.pivot_values(
                    recipe, {n: SqlInput(relation=self.workspace.relation(n, connection) or exp.Null(),
                                         schema=s.schema) for n, s in schemas.items()}, connection)
            return output_schema(recipe, schemas, pivot_values=pivot_values)  # type: ignore[arg-type]
        except TideflowError:
            return None
