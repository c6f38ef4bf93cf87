"""Load a project directory into specs, with located errors. Reads files; runs nothing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tideflow.errors import ProjectError, did_you_mean
from tideflow.project.codefiles import read_code
from tideflow.project.graph import FlowGraph, build_graph
from tideflow.project.specs import FILE_FORMATS, DatasetSpec, ProjectConfig, format_of_path
from tideflow.project.tables import check_tables
from tideflow.project.yamlfile import (
    KeyPath,
    describe_value,
    line_of,
    located,
    parse_path,
    read_yaml,
    register_tags,
    validate,
)
from tideflow.recipes import RECIPE_TYPES, STEP_OPS, PythonRecipe, RecipeBase, SqlRecipe, recipe_adapter

PROJECT_FILE = "tideflow.yaml"
register_tags((*RECIPE_TYPES, *STEP_OPS, "duckdb", "postgres", "files"))


@dataclass
class Project:
    """A loaded, validated project.

    ``files`` maps a recipe name to its file, and the name of a dataset no recipe shares to the
    dataset's file (both relative). A dataset and its recipe often share a name (``recipes/daily.yaml``
    writes ``daily``, declared in ``datasets/daily.yaml``): errors about a dataset name its own file
    from ``dataset_files``, which recipe outputs without a dataset file are absent from.
    """

    root: Path
    config: ProjectConfig
    datasets: dict[str, DatasetSpec]
    recipes: dict[str, RecipeBase]
    graph: FlowGraph
    files: dict[str, str] = field(default_factory=dict)
    code: dict[str, str] = field(default_factory=dict)
    # recipe name -> {key path: line} of its file, to locate errors found after loading
    lines: dict[str, dict[tuple[str | int, ...], int]] = field(default_factory=dict)
    dataset_files: dict[str, str] = field(default_factory=dict)
    # dataset name -> {key path: line} of its file under datasets/
    dataset_lines: dict[str, dict[tuple[str | int, ...], int]] = field(default_factory=dict)
    # {key path: line} of tideflow.yaml
    config_lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.root / ".tide"

    def dataset(self, name: str) -> DatasetSpec:
        """The dataset ``name``; a ``ProjectError`` otherwise, saying when the name is a recipe's (with the
        datasets it writes), else the nearest dataset name (``errors.nearest``)."""
        spec = self.datasets.get(name)
        if spec is not None:
            return spec
        recipe = self.recipes.get(name)
        hint = (f": {name!r} is a recipe; it writes {', '.join(repr(o) for o in recipe.outputs)}"
                if recipe is not None else did_you_mean(name, self.datasets))
        raise ProjectError(f"unknown dataset {name!r}{hint}")

    def recipe(self, name: str) -> RecipeBase:
        """The recipe ``name``; a ``ProjectError`` otherwise, saying when the name is a dataset's (and which
        recipe writes it), else the nearest recipe name."""
        recipe = self.recipes.get(name)
        if recipe is not None:
            return recipe
        if name in self.datasets:
            producer = self.graph.producer.get(name)
            hint = (f": {name!r} is a dataset, written by recipe {producer!r}" if producer is not None
                    else f": {name!r} is a source dataset; no recipe writes it")
        else:
            hint = did_you_mean(name, self.recipes)
        raise ProjectError(f"unknown recipe {name!r}{hint}")

    def connection_of(self, dataset: str) -> str:
        return self.dataset(dataset).connection or self.config.defaults.connection

    def key_line(self, recipe: str, *key_path: str | int) -> int | None:
        """The line of ``key_path`` in ``recipe``'s file, when known."""
        return self.lines.get(recipe, {}).get(tuple(key_path))

    def dataset_key_line(self, dataset: str, key_path: str | None) -> int | None:
        """The line of ``key_path``, written as errors write it (``checks[0].column``), in ``dataset``'s
        file, or of its nearest parent written there; None without a dataset file."""
        lines = self.dataset_lines.get(dataset)
        if not lines:
            return None
        return line_of(parse_path(key_path or ""), lines)

    def recipe_fingerprint(self, name: str) -> str:
        """A hash of the recipe's spec and code: it changes when the recipe must be rebuilt."""
        recipe = self.recipes[name]
        payload = json.dumps(recipe.model_dump(mode="json", by_alias=True), sort_keys=True)
        payload += "\0" + self.code.get(name, "")
        places = {d: self.data_place(d) for d in [*recipe.inputs, *recipe.outputs]}
        payload += "\0" + json.dumps(places, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def data_place(self, dataset: str) -> dict[str, object]:
        """Where ``dataset`` lives and how it is read: its connection (and where that points), its table or
        file, the column types it declares. A recipe is outdated when any of these changes for one of its
        inputs or outputs: moving an output and moving it back must not serve the old table."""
        spec = self.dataset(dataset)
        connection = self.connection_of(dataset)
        conn_spec = self.config.connections.get(connection)
        where = conn_spec.model_dump(mode="json", by_alias=True) if conn_spec is not None else {}
        return {"connection": connection,
                "at": {k: where[k] for k in ("type", "path", "schema", "host", "port", "dbname", "root") if k in where},
                "table": spec.table_name, "path": spec.path, "format": spec.format,
                "types": {c: str(t) for c, t in (spec.types or {}).items()}}


def load_project(root: str | Path) -> Project:
    """Load ``root/tideflow.yaml``, ``datasets/*.yaml`` and ``recipes/*.yaml``, check names and graph."""
    root = Path(root).resolve()
    config_path = root / PROJECT_FILE
    if not config_path.is_file():
        raise ProjectError(f"no {PROJECT_FILE} in {root}: expected a Tideflow project directory (see 'tide init')")
    data, lines = read_yaml(config_path, PROJECT_FILE)
    _require_mapping(data, PROJECT_FILE)
    config = validate(ProjectConfig, data, shown=PROJECT_FILE, lines=lines, vocabulary_of=ProjectConfig)

    datasets, dataset_files, dataset_lines = _load_datasets(root, config)
    recipes, recipe_files, recipe_lines, code = _load_recipes(root)
    graph = build_graph(recipes, recipe_files, recipe_lines)
    # Outputs without a dataset file live on the default connection under their own name.
    for recipe in recipes.values():
        for out in recipe.outputs:
            datasets.setdefault(out, DatasetSpec(name=out))
    _check_inputs(recipes, datasets, recipe_files, recipe_lines)
    for name, spec in datasets.items():
        if spec.virtual and name not in graph.producer:
            raise ProjectError(f"dataset {name!r} is virtual but no recipe writes it: a source must be stored",
                               file=dataset_files.get(name), line=dataset_lines.get(name, {}).get(("virtual",)),
                               key_path="virtual")
    project = Project(root=root, config=config, datasets=datasets, recipes=recipes, graph=graph,
                      files={**dataset_files, **recipe_files}, code=code, lines=recipe_lines,
                      dataset_files=dataset_files, dataset_lines=dataset_lines, config_lines=lines)
    check_tables(project)
    return project


def _load_datasets(
    root: Path, config: ProjectConfig,
) -> tuple[dict[str, DatasetSpec], dict[str, str], dict[str, dict[KeyPath, int]]]:
    """``datasets/*.yaml``: the specs, their files and the lines of their keys, by dataset name."""
    datasets: dict[str, DatasetSpec] = {}
    files: dict[str, str] = {}
    dataset_lines: dict[str, dict[KeyPath, int]] = {}
    for path in sorted((root / "datasets").glob("*.y*ml")):
        shown = f"datasets/{path.name}"
        data, lines = read_yaml(path, shown)
        _require_mapping(data, shown)
        data.setdefault("name", path.stem)
        spec = validate(DatasetSpec, data, shown=shown, lines=lines, vocabulary_of=DatasetSpec)
        if spec.name in datasets:
            raise ProjectError(f"dataset {spec.name!r} is declared twice (also in {files[spec.name]})", file=shown)
        _check_connection(spec, config, shown, lines, root)
        datasets[spec.name] = spec
        files[spec.name] = shown
        dataset_lines[spec.name] = lines
    return datasets, files, dataset_lines


def _load_recipes(
    root: Path,
) -> tuple[dict[str, RecipeBase], dict[str, str], dict[str, dict[KeyPath, int]], dict[str, str]]:
    """``recipes/*.yaml``: the recipes, their files, the lines of their keys and their code, by name."""
    recipes: dict[str, RecipeBase] = {}
    files: dict[str, str] = {}
    recipe_lines: dict[str, dict[KeyPath, int]] = {}
    code: dict[str, str] = {}
    for path in sorted((root / "recipes").glob("*.y*ml")):
        shown = f"recipes/{path.name}"
        data, lines = read_yaml(path, shown)
        _require_mapping(data, shown)
        data.setdefault("name", path.stem)
        if "type" not in data:
            raise ProjectError(f"missing the key 'type' (one of {', '.join(RECIPE_TYPES)})", file=shown, line=1,
                               key_path="type")
        # strings remember their line: an expression error found when the recipe is planned names it
        recipe = validate(recipe_adapter, located(data, lines), shown=shown, lines=lines,
                          vocabulary_of=type(_probe(data)))
        if recipe.name in recipes:
            raise ProjectError(f"recipe {recipe.name!r} is declared twice (also in {files[recipe.name]})",
                               file=shown)
        code_text = read_code(root, recipe, shown, lines)
        if code_text is not None:
            code[recipe.name] = code_text
            if isinstance(recipe, SqlRecipe) and recipe.sql is None:
                recipe = recipe.model_copy(update={"sql": code_text})  # the loader reads the file in
        recipes[recipe.name] = recipe
        files[recipe.name] = shown
        recipe_lines[recipe.name] = lines
    return recipes, files, recipe_lines, code


def _check_inputs(
    recipes: dict[str, RecipeBase], datasets: dict[str, DatasetSpec], files: dict[str, str],
    lines: dict[str, dict[KeyPath, int]],
) -> None:
    """Every input is a declared dataset or a recipe's output."""
    for name, recipe in recipes.items():
        for i, inp in enumerate(recipe.inputs):
            if inp not in datasets:
                known = lines[name]
                raise ProjectError(
                    f"input {inp!r} is neither declared in datasets/ nor written by a recipe"
                    f"{did_you_mean(inp, datasets)}",
                    file=files[name], line=known.get(("inputs", i)) or known.get(("inputs",)),
                    key_path="inputs",
                )


def _probe(data: dict[str, object]) -> RecipeBase:
    """The recipe class for ``data['type']`` (for error suggestions); RecipeBase if the type is wrong."""
    from tideflow.recipes import (
        DistinctRecipe,
        EvaluateRecipe,
        GroupRecipe,
        JoinRecipe,
        PivotRecipe,
        PrepareRecipe,
        SampleRecipe,
        ScoreRecipe,
        SortRecipe,
        SplitRecipe,
        StackRecipe,
        TopNRecipe,
        WindowRecipe,
    )

    classes: dict[str, type[RecipeBase]] = {
        "prepare": PrepareRecipe, "group": GroupRecipe, "join": JoinRecipe, "window": WindowRecipe,
        "stack": StackRecipe, "distinct": DistinctRecipe, "sort": SortRecipe, "top_n": TopNRecipe,
        "split": SplitRecipe, "sample": SampleRecipe, "pivot": PivotRecipe, "sql": SqlRecipe,
        "python": PythonRecipe, "score": ScoreRecipe, "evaluate": EvaluateRecipe,
    }
    cls = classes.get(str(data.get("type")), RecipeBase)
    return cls.model_construct()


def _require_mapping(data: Any, shown: str) -> None:
    """A project file holds a mapping of keys: say what it holds otherwise, in words."""
    if data is None:
        raise ProjectError("the file is empty: expected a mapping of keys", file=shown, line=1)
    if not isinstance(data, dict):
        raise ProjectError(f"expected a mapping of keys, got {describe_value(data)}", file=shown, line=1)


def _check_connection(
    spec: DatasetSpec, config: ProjectConfig, shown: str, lines: dict[KeyPath, int], root: Path,
) -> None:
    conn_name = spec.connection or config.defaults.connection
    if conn_name not in config.connections:
        raise ProjectError(
            f"unknown connection {conn_name!r}{did_you_mean(conn_name, config.connections)} "
            f"(declared: {', '.join(config.connections)})",
            file=shown, line=lines.get(("connection",)), key_path="connection",
        )
    conn = config.connections[conn_name]
    if conn.type == "files" and not spec.path:
        raise ProjectError(f"a dataset on the files connection {conn_name!r} needs 'path' (a file under "
                           f"{conn.root}/)", file=shown, line=lines.get(("connection",)), key_path="path")
    if conn.type != "files" and spec.path:
        raise ProjectError(f"'path' is for files connections; {conn_name!r} is {conn.type}: use 'table'",
                           file=shown, line=lines.get(("path",)), key_path="path")
    if conn.type == "files" and spec.path:
        _check_file(spec.path, spec.format, conn_name, conn.root, root, shown, lines)
    if spec.types and (conn.type != "files" or spec.file_format != "csv"):
        what = f"a {spec.file_format} file, which carries its types" if conn.type == "files" else \
            f"a table on {conn.type} connection {conn_name!r}, which has its types"
        raise ProjectError(f"'types' is for CSV files, whose reader guesses column types; {spec.name!r} is {what}",
                           file=shown, line=lines.get(("types",)), key_path="types")


def _check_file(
    path: str, fmt: str | None, conn_name: str, conn_root: str, root: Path, shown: str, lines: dict[KeyPath, int],
) -> None:
    """The path stays under the connection's root and names a format the files connection reads."""
    base = (root / conn_root).resolve()
    if not (base / path).resolve().is_relative_to(base):
        raise ProjectError(
            f"path {path!r} leaves the root of connection {conn_name!r} ({conn_root}/): expected a path inside it",
            file=shown, line=lines.get(("path",)), key_path="path",
        )
    endings = ", ".join(e for es in FILE_FORMATS.values() for e in es)
    by_path = format_of_path(path)
    if fmt is None and by_path is None:
        suffix = "".join(Path(path).suffixes[-2:]) or "no extension"
        raise ProjectError(
            f"cannot tell the format of {path!r}: expected a path ending in {endings} (or a 'format' key: "
            f"{' or '.join(FILE_FORMATS)}), got {suffix}",
            file=shown, line=lines.get(("path",)), key_path="path",
        )
    if fmt is not None and by_path is not None and fmt != by_path:
        raise ProjectError(
            f"format {fmt!r} does not match the path {path!r}: expected {by_path!r} (the format of its "
            f"extension) or a path ending in {' or '.join(FILE_FORMATS[fmt])}, got {fmt!r}",
            file=shown, line=lines.get(("format",)), key_path="format",
        )
