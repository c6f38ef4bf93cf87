"""Loading project files: located errors with suggestions, graph checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tideflow.errors import GraphError, ProjectError
from tideflow.project import load_project

CONFIG = "name: t\nconnections:\n  warehouse: {type: duckdb}\n"


def make(tmp_path: Path, recipes: dict[str, str], datasets: dict[str, str] | None = None,
         config: str = CONFIG) -> Path:
    (tmp_path / "tideflow.yaml").write_text(config)
    (tmp_path / "datasets").mkdir()
    (tmp_path / "recipes").mkdir()
    for name, text in (datasets if datasets is not None else {"src": "table: src\n"}).items():
        (tmp_path / "datasets" / f"{name}.yaml").write_text(text)
    for name, text in recipes.items():
        (tmp_path / "recipes" / name).write_text(text)
    return tmp_path


def test_valid_project_loads_with_defaults(tmp_path: Path) -> None:
    root = make(tmp_path, {"clean.yaml": "type: prepare\ninputs: src\noutputs: clean\nsteps:\n"
                                         "  - op: filter\n    expr: a > 1\n"})
    project = load_project(root)
    assert project.recipes["clean"].inputs == ["src"]
    assert project.connection_of("clean") == "warehouse"
    assert project.graph.producer == {"clean": "clean"}
    assert project.graph.sources() == ["src"]


def test_unknown_recipe_type_suggests_nearest(tmp_path: Path) -> None:
    root = make(tmp_path, {"daily.yaml": "type: gruop\ninputs: src\noutputs: d\n"})
    with pytest.raises(ProjectError, match=r"recipes/daily.yaml:1 at type: .*got 'gruop': did you mean 'group'\?"):
        load_project(root)


def test_unknown_step_op_names_line_and_path(tmp_path: Path) -> None:
    root = make(tmp_path, {"c.yaml": "type: prepare\ninputs: src\noutputs: c\nsteps:\n"
                                     "  - op: filter\n    expr: a > 1\n  - op: fliter\n    expr: x\n"})
    with pytest.raises(ProjectError, match=r"recipes/c.yaml:7 at steps\[1\]\.op: .*did you mean 'filter'\?"):
        load_project(root)


def test_unknown_key_is_an_error_with_suggestion(tmp_path: Path) -> None:
    root = make(tmp_path, {"g.yaml": "type: group\ninputs: src\noutputs: g\nkeys: [a]\n"
                                     "aggregations:\n  - fn: sum\n    colum: b\n"})
    with pytest.raises(ProjectError, match=r"g.yaml:7 at aggregations\[0\]\.colum: unknown key 'colum': "
                                           r"did you mean 'column'\?"):
        load_project(root)


def test_bad_value_says_expected_and_got(tmp_path: Path) -> None:
    root = make(tmp_path, {"s.yaml": "type: top_n\ninputs: src\noutputs: s\norder_by: [{column: a}]\nfirst: -3\n"})
    with pytest.raises(ProjectError, match=r"s.yaml:5 at first: .*greater than or equal to 0.*got -3"):
        load_project(root)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    root = make(tmp_path, {"bad.yaml": "type: prepare\ninputs: [src\noutputs: x\n"})
    with pytest.raises(ProjectError, match=r"recipes/bad.yaml:\d+: invalid YAML"):
        load_project(root)


def test_two_recipes_writing_one_dataset_names_both(tmp_path: Path) -> None:
    root = make(tmp_path, {"a.yaml": "type: sort\ninputs: src\noutputs: out\norder_by: [{column: x}]\n",
                           "b.yaml": "type: distinct\ninputs: src\noutputs: out\n"})
    with pytest.raises(GraphError, match=r"dataset 'out' is written by two recipes: 'a' .* and 'b'"):
        load_project(root)


def test_cycle_names_the_recipes(tmp_path: Path) -> None:
    root = make(tmp_path, {"a.yaml": "type: distinct\ninputs: [src, y]\noutputs: x\n",
                           "b.yaml": "type: distinct\ninputs: x\noutputs: y\n"})
    with pytest.raises(GraphError, match=r"cycle through recipes: .*(a -> b|b -> a)"):
        load_project(root)


def test_unknown_input_suggests_dataset(tmp_path: Path) -> None:
    root = make(tmp_path, {"a.yaml": "type: distinct\ninputs: scr\noutputs: x\n"})
    with pytest.raises(ProjectError, match=r"input 'scr' is neither declared .*did you mean 'src'\?"):
        load_project(root)


def test_unknown_connection_suggests(tmp_path: Path) -> None:
    root = make(tmp_path, {}, {"src": "connection: warehose\n"})
    with pytest.raises(ProjectError, match=r"datasets/src.yaml:1 at connection: unknown connection 'warehose': "
                                           r"did you mean 'warehouse'\?"):
        load_project(root)


def test_sql_recipe_reads_its_file_and_rejects_escapes(tmp_path: Path) -> None:
    root = make(tmp_path, {"q.yaml": "type: sql\ninputs: src\noutputs: q\nfile: q.sql\n"})
    (root / "recipes" / "q.sql").write_text("SELECT * FROM src")
    project = load_project(root)
    assert project.code["q"] == "SELECT * FROM src"
    (root / "recipes" / "q.yaml").write_text("type: sql\ninputs: src\noutputs: q\nfile: ../../etc/passwd\n")
    with pytest.raises(ProjectError, match=r"expected a file inside recipes/"):
        load_project(root)


def test_password_in_project_file_is_rejected(tmp_path: Path) -> None:
    config = CONFIG + "  pg: {type: postgres, dbname: d, user: u, password: hunter2}\n"
    root = make(tmp_path, {}, config=config)
    with pytest.raises(ProjectError, match=r"connections\.pg\.password: unknown key 'password'") as info:
        load_project(root)
    assert "hunter2" not in str(info.value)


def test_missing_project_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"no tideflow.yaml in .*tide init"):
        load_project(tmp_path)


def test_recipe_fingerprint_changes_with_spec_and_code(tmp_path: Path) -> None:
    root = make(tmp_path, {"q.yaml": "type: sql\ninputs: src\noutputs: q\nfile: q.sql\n"})
    (root / "recipes" / "q.sql").write_text("SELECT * FROM src")
    first = load_project(root).recipe_fingerprint("q")
    (root / "recipes" / "q.sql").write_text("SELECT 1 AS a FROM src")
    assert load_project(root).recipe_fingerprint("q") != first
