"""Loading project files: located errors with suggestions, graph checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tideflow.errors import GraphError, ProjectError
from tideflow.project import load_project

from .helpers import CONFIG, make


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
    with pytest.raises(GraphError, match=r"^recipes/b.yaml:3 at outputs\[0\]: dataset 'out' is written by two "
                                         r"recipes: 'a' \(recipes/a.yaml\) and 'b' \(recipes/b.yaml\)"):
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


# ---------------------------------------------------------------- audit: bad input, clear errors

PREPARE = "type: prepare\ninputs: src\noutputs: clean\nsteps:\n"


def test_sql_file_with_an_unclosed_quote_names_the_file_and_line(tmp_path: Path) -> None:
    root = make(tmp_path, {"q.yaml": "type: sql\ninputs: src\noutputs: q\nfile: q.sql\n"})
    (root / "recipes" / "q.sql").write_text("SELECT id,\n  'abc AS label\nFROM src\n")
    with pytest.raises(ProjectError, match=r"^recipes/q.sql:2: syntax error in the duckdb query: unclosed single "
                                           r"quote at line 2, column 3: expected a closing '$"):
        load_project(root)


def test_inline_sql_syntax_error_names_the_key(tmp_path: Path) -> None:
    root = make(tmp_path, {"q.yaml": "type: sql\ninputs: src\noutputs: q\nsql: SELECT a FROM src WHERE\n"})
    with pytest.raises(ProjectError, match=r"^recipes/q.yaml:4 at sql: incomplete duckdb query: 'WHERE' at "
                                           r"column 19 needs something after it$") as info:
        load_project(root)
    assert "class" not in str(info.value) and "sqlglot" not in str(info.value)


def test_duplicate_key_in_a_step_names_both_lines_and_the_path(tmp_path: Path) -> None:
    root = make(tmp_path, {"c.yaml": PREPARE + "  - op: round\n    columns: [a]\n    decimals: 2\n    decimals: 3\n"})
    with pytest.raises(ProjectError, match=r"^recipes/c.yaml:8 at steps\[0\]\.decimals: the key 'decimals' is "
                                           r"written twice \(lines 7 and 8\): expected each key once"):
        load_project(root)


def test_duplicate_top_level_block_in_tideflow_yaml(tmp_path: Path) -> None:
    config = CONFIG + "defaults:\n  engine: sql\ndefaults:\n  parallelism: 3\n"
    root = make(tmp_path, {}, config=config)
    with pytest.raises(ProjectError, match=r"^tideflow.yaml:6 at defaults: the key 'defaults' is written twice "
                                           r"\(lines 4 and 6\)"):
        load_project(root)


def test_keys_merged_with_an_anchor_may_be_overridden(tmp_path: Path) -> None:
    root = make(tmp_path, {"c.yaml": PREPARE + "  - &r {op: round, columns: [a], decimals: 2}\n"
                                               "  - {<<: *r, decimals: 3}\n"})
    assert load_project(root).recipes["c"].steps[1].decimals == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize(("step", "match"), [
    ("  - {op: round, columns: [a], decimals: true}\n",
     r"^recipes/c.yaml:5 at steps\[0\]\.decimals: Input should be a valid integer \(got a boolean true\)$"),
    ("  - {op: round, columns: [a], decimals: '2'}\n",
     r"steps\[0\]\.decimals: Input should be a valid integer \(got a string '2': remove the quotes\)$"),
    ("  - {op: filter, expr: 2025-01-01}\n",
     r"^recipes/c.yaml:5 at steps\[0\]\.expr: Input should be a valid string \(got a date 2025-01-01: quote it, "
     r"as in '2025-01-01', to keep it as text\)$"),
])
def test_values_of_the_wrong_type_are_not_coerced(tmp_path: Path, step: str, match: str) -> None:
    root = make(tmp_path, {"c.yaml": PREPARE + step})
    with pytest.raises(ProjectError, match=match):
        load_project(root)


def test_parallelism_must_be_an_integer(tmp_path: Path) -> None:
    root = make(tmp_path, {}, config=CONFIG + "defaults:\n  parallelism: \"4\"\n")
    with pytest.raises(ProjectError, match=r"^tideflow.yaml:5 at defaults\.parallelism: Input should be a valid "
                                           r"integer \(got a string '4': remove the quotes\)$"):
        load_project(root)


def test_yaml_integers_still_fill_number_fields(tmp_path: Path) -> None:
    config = CONFIG + "compute:\n  profiles:\n    default: {cpu: 2, memory_gb: 4}\n"
    root = make(tmp_path, {"b.yaml": PREPARE + "  - {op: bin, column: a, output: b, width: 5}\n"}, config=config)
    project = load_project(root)
    assert project.recipes["b"].steps[0].width == 5.0  # type: ignore[attr-defined]
    assert project.config.compute.profiles["default"].cpu == 2.0


def test_empty_file_says_it_is_empty(tmp_path: Path) -> None:
    root = make(tmp_path, {}, {"src": ""})
    with pytest.raises(ProjectError, match=r"^datasets/src.yaml:1: the file is empty: expected a mapping of keys$"):
        load_project(root)


def test_a_list_instead_of_a_mapping_is_said_in_words(tmp_path: Path) -> None:
    root = make(tmp_path, {"g.yaml": "- type: group\n"})
    with pytest.raises(ProjectError, match=r"^recipes/g.yaml:1: expected a mapping of keys, got a list$"):
        load_project(root)


def test_a_mapping_where_a_list_is_expected_is_said_in_words(tmp_path: Path) -> None:
    root = make(tmp_path, {"g.yaml": "type: group\ninputs: src\noutputs: g\nkeys: {a: 1}\n"
                                     "aggregations: [{fn: count}]\n"})
    with pytest.raises(ProjectError, match=r"^recipes/g.yaml:4 at keys: Input should be a valid list "
                                           r"\(got a mapping\)$"):
        load_project(root)


def test_a_scalar_where_a_mapping_is_expected_names_no_class(tmp_path: Path) -> None:
    root = make(tmp_path, {}, config=CONFIG + "defaults: 5\n")
    with pytest.raises(ProjectError, match=r"^tideflow.yaml:4 at defaults: expected a mapping of keys, "
                                           r"got an integer 5$"):
        load_project(root)


def test_output_listed_twice_is_not_two_writers(tmp_path: Path) -> None:
    root = make(tmp_path, {"d.yaml": "type: distinct\ninputs: src\noutputs: [x, x]\n"})
    with pytest.raises(GraphError, match=r"^recipes/d.yaml:3 at outputs\[1\]: recipe 'd' lists output 'x' twice: "
                                         r"expected each output once$"):
        load_project(root)


def test_recipe_writing_its_own_input_is_not_a_cycle(tmp_path: Path) -> None:
    root = make(tmp_path, {"d.yaml": "type: distinct\ninputs: src\noutputs: src\n"})
    with pytest.raises(GraphError, match=r"^recipes/d.yaml:3 at outputs: recipe 'd' reads and writes the same "
                                         r"dataset 'src'"):
        load_project(root)


def test_unknown_input_names_the_line(tmp_path: Path) -> None:
    root = make(tmp_path, {"a.yaml": "type: distinct\noutputs: x\ninputs: [src, scr]\n"})
    with pytest.raises(ProjectError, match=r"^recipes/a.yaml:3 at inputs: input 'scr' is neither declared"):
        load_project(root)


# ---------------------------------------------------------------- files datasets

FILES = CONFIG + "  raw: {type: files, root: data}\n"


@pytest.mark.parametrize(("dataset", "match"), [
    ("connection: raw\npath: orders.csv\nformat: parquet\n",
     r"^datasets/orders.yaml:3 at format: format 'parquet' does not match the path 'orders.csv': expected 'csv' "
     r"\(the format of its extension\) or a path ending in .parquet or .pq, got 'parquet'$"),
    ("connection: raw\npath: orders.xlsx\n",
     r"^datasets/orders.yaml:2 at path: cannot tell the format of 'orders.xlsx': expected a path ending in .csv, "
     r".csv.gz, .tsv, .parquet, .pq \(or a 'format' key: csv or parquet\), got .xlsx$"),
    ("connection: raw\npath: ../../../../etc/passwd\n",
     r"^datasets/orders.yaml:2 at path: path '../../../../etc/passwd' leaves the root of connection 'raw' "
     r"\(data/\): expected a path inside it$"),
    ("connection: raw\n",
     r"^datasets/orders.yaml:1 at path: a dataset on the files connection 'raw' needs 'path'"),
])
def test_file_datasets_are_checked_at_load(tmp_path: Path, dataset: str, match: str) -> None:
    root = make(tmp_path, {}, {"orders": dataset}, config=FILES)
    with pytest.raises(ProjectError, match=match):
        load_project(root)


@pytest.mark.parametrize("dataset", [
    "connection: raw\npath: orders.csv\n",
    "connection: raw\npath: sub/orders.csv.gz\nformat: csv\n",
    "connection: raw\npath: orders.parquet\n",
    "connection: raw\npath: orders.txt\nformat: csv\n",  # an explicit format covers any other extension
])
def test_file_datasets_that_load(tmp_path: Path, dataset: str) -> None:
    assert load_project(make(tmp_path, {}, {"orders": dataset}, config=FILES)).datasets["orders"].path


def test_yes_is_not_a_boolean(tmp_path: Path) -> None:
    root = make(tmp_path, {}, {"src": "table: src\nvirtual: yes\n"})
    with pytest.raises(ProjectError, match=r"^datasets/src.yaml:2 at virtual: Input should be a valid boolean "
                                           r"\(got a string 'yes': write true or false\)$"):
        load_project(root)
