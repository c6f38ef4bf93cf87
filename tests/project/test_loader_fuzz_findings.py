"""What a fuzzing audit of the loader found: each case is refused at load with a located, worded error
(never a raw Python exception), or loads as it should."""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb
import pytest
import yaml

from tideflow.errors import GraphError, ProjectError
from tideflow.project import load_project
from tideflow.project.yamlfile import loads

from .helpers import CONFIG, make

SORT = "type: sort\ninputs: src\noutputs: s\norder_by: [{column: id}]\n"  # 4 lines


# ---------------------------------------------------------------- A. two datasets, one table

TOP = "type: sort\ninputs: merchants\noutputs: {out}\norder_by: [{{column: id}}]\n"


def test_an_output_stored_in_the_table_of_a_source_is_refused(tmp_path: Path) -> None:
    root = make(tmp_path, {"top.yaml": TOP.format(out="top")},
                {"merchants": "table: merchants\n", "top": "table: merchants\n"})
    with pytest.raises(GraphError, match=r"^datasets/top.yaml:1 at table: datasets 'merchants' "
                                         r"\(datasets/merchants.yaml\) and 'top' \(datasets/top.yaml\) are stored in "
                                         r"one table: expected a table of its own for each dataset, got table "
                                         r"'merchants' for both, on connection 'warehouse' \(schema main\); building "
                                         r"'top' would overwrite 'merchants': give 'top' another 'table'$"):
        load_project(root)


def test_a_table_name_in_another_case_is_the_same_table(tmp_path: Path) -> None:
    root = make(tmp_path, {"top.yaml": TOP.format(out="top")},
                {"merchants": "table: merchants\n", "top": "description: best\ntable: Merchants\n"})
    with pytest.raises(GraphError, match=r"^datasets/top.yaml:2 at table: datasets 'merchants' .* got table "
                                         r"'Merchants' for 'top' and 'merchants' for 'merchants', one table in any "
                                         r"case \(DuckDB ignores the case of names\), on connection 'warehouse'"):
        load_project(root)


def test_an_output_named_like_a_source_in_another_case_is_refused(tmp_path: Path) -> None:
    root = make(tmp_path, {"top.yaml": TOP.format(out="Merchants")}, {"merchants": "table: merchants\n"})
    with pytest.raises(GraphError, match=r"^recipes/top.yaml:3 at outputs\[0\]: datasets 'merchants' "
                                         r"\(datasets/merchants.yaml\) and 'Merchants' \(an output of "
                                         r"recipes/top.yaml, stored under its own name\) are stored in one table: .*"
                                         r"building 'Merchants' would overwrite 'merchants': rename the output, or "
                                         r"declare it in datasets/Merchants.yaml with another 'table'$"):
        load_project(root)


def test_two_outputs_in_one_table_name_both_files(tmp_path: Path) -> None:
    recipes = {"a.yaml": SORT.replace("outputs: s", "outputs: a"), "b.yaml": SORT.replace("outputs: s", "outputs: b")}
    root = make(tmp_path, recipes, {"src": "table: src\n", "a": "table: shared\n", "b": "table: SHARED\n"})
    with pytest.raises(GraphError, match=r"^datasets/b.yaml:1 at table: datasets 'a' \(datasets/a.yaml\) and 'b' "
                                         r"\(datasets/b.yaml\) are stored in one table: .*building 'b' would "
                                         r"overwrite 'a'"):
        load_project(root)


def test_two_connections_to_one_duckdb_file_share_its_tables(tmp_path: Path) -> None:
    config = CONFIG + "  again: {type: duckdb, path: .tide/warehouse.duckdb}\n"
    root = make(tmp_path, {}, {"src": "table: src\n", "copy": "connection: again\ntable: SRC\n"}, config=config)
    with pytest.raises(GraphError, match=r"^datasets/src.yaml:1 at table: datasets 'copy' \(datasets/copy.yaml\) "
                                         r"and 'src' \(datasets/src.yaml\) are stored in one table: .*on connections "
                                         r"'again' and 'warehouse' \(one database\) \(schema main\); two sources on "
                                         r"one table are one dataset under two names"):
        load_project(root)


def test_tables_of_other_schemas_connections_files_and_virtual_datasets_may_share_a_name(tmp_path: Path) -> None:
    config = CONFIG + ("  other: {type: duckdb, path: .tide/other.duckdb}\n  staging: {type: duckdb, schema: stg}\n"
                       "  raw: {type: files, root: data}\n")
    datasets = {"src": "table: src\n", "a": "connection: other\ntable: src\n", "b": "connection: staging\ntable: src\n",
                "c": "connection: raw\npath: src.csv\n", "v": "virtual: true\ntable: src\n"}
    recipes = {"v.yaml": SORT.replace("outputs: s", "outputs: v"), "s.yaml": SORT.replace("inputs: src", "inputs: v")}
    assert set(load_project(make(tmp_path, recipes, datasets, config=config)).datasets) >= {"a", "b", "c", "v"}


# ---------------------------------------------------------------- B. YAML that never ends

def test_deep_nesting_is_refused_with_its_line(tmp_path: Path) -> None:
    root = make(tmp_path, {"s.yaml": SORT + "description: " + "[" * 2000 + "]" * 2000 + "\n"})
    with pytest.raises(ProjectError, match=r"^recipes/s.yaml:5: nesting too deep at line 5: expected at most 100 "
                                           r"levels of lists and mappings inside one another$"):
        load_project(root)


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    root = make(tmp_path, {"s.yaml": SORT + "description: &a [*a]\n"})
    with pytest.raises(ProjectError, match=r"^recipes/s.yaml:5: a recursive alias at line 5: \*a is used inside "
                                           r"the value it names \(&a at line 5\), which would never end"):
        load_project(root)


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    # 300 bytes, 10^6 values once expanded: 7 s and a gigabyte before (each further level: ten times that)
    bomb = "description: &a0 [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"zz{i}: &a{i} [{','.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 6))
    root = make(tmp_path, {"s.yaml": SORT + bomb})
    started = time.monotonic()
    with pytest.raises(ProjectError, match=r"^recipes/s.yaml:9: the file is too large: the value at line 9 holds "
                                           r"more than 100,000 values \(an alias counts its anchor's values each time "
                                           r"it is used\): expected at most 100,000 in one file$"):
        load_project(root)
    assert time.monotonic() - started < 5


def test_loads_refuses_with_a_yaml_error_that_callers_already_handle() -> None:
    with pytest.raises(yaml.YAMLError, match="recursive alias"):
        loads("a: &a [*a]\n")
    with pytest.raises(yaml.YAMLError, match="nesting too deep"):
        loads("[" * 5000 + "]" * 5000)


def test_aliases_within_the_bounds_still_load(tmp_path: Path) -> None:
    root = make(tmp_path, {"s.yaml": "type: sort\ninputs: &in [src]\noutputs: s\norder_by: [{column: id}]\n"
                                     "description: &d text\n",
                           "t.yaml": "type: distinct\ninputs: *in_src\noutputs: t\n".replace("*in_src", "[s]")})
    assert load_project(root).recipes["s"].description == "text"


# ---------------------------------------------------------------- C. connection settings with bounds

@pytest.mark.parametrize(("setting", "match"), [
    ("warehouse: {type: duckdb, threads: 100000000000}",
     r"^tideflow.yaml:3 at connections.warehouse.threads: Input should be less than or equal to 1024 "
     r"\(got 100000000000\)$"),
    ("pg: {type: postgres, dbname: d, user: u, connect_timeout_s: 99999999999}",
     r"^tideflow.yaml:3 at connections.pg.connect_timeout_s: Input should be less than or equal to 3600 "
     r"\(got 99999999999\)$"),
])
def test_connection_settings_have_an_upper_bound(tmp_path: Path, setting: str, match: str) -> None:
    root = make(tmp_path, {}, config=f"name: t\nconnections:\n  {setting}\n")
    with pytest.raises(ProjectError, match=match):
        load_project(root)


# ---------------------------------------------------------------- D. code files that cannot be read

SQL = "type: sql\ninputs: src\noutputs: q\nfile: {file}\n"  # 'file' on line 4
PY = "type: python\ninputs: src\noutputs: p\nfile: p.py\n"


@pytest.mark.parametrize(("content", "match"), [
    ("SELECT 'café' AS c FROM src".encode("latin-1"),
     r"^recipes/q.yaml:4 at file: recipes/q.sql is not UTF-8 text: byte 0xe9 at line 1 is not UTF-8: expected a "
     r"file saved as UTF-8$"),
    ("SELECT 1 AS c FROM src".encode("utf-16"),
     r"^recipes/q.yaml:4 at file: recipes/q.sql is not UTF-8 text \(it looks like UTF-16\): byte 0xff at line 1"),
    (b"SELECT 1 AS a,\n  2 AS b\nFROM src WHERE c = '\xe9'\n",
     r"^recipes/q.yaml:4 at file: recipes/q.sql is not UTF-8 text: byte 0xe9 at line 3 is not UTF-8"),
])
def test_a_sql_file_that_is_not_utf8_is_said_in_words(tmp_path: Path, content: bytes, match: str) -> None:
    root = make(tmp_path, {"q.yaml": SQL.format(file="q.sql"), "q.sql": content})
    with pytest.raises(ProjectError, match=match):
        load_project(root)


def test_a_python_file_reads_as_python_does(tmp_path: Path) -> None:
    code = "def transform(inputs):\n    return inputs['src']  # café\n"
    root = make(tmp_path, {"p.yaml": PY, "p.py": code.encode("latin-1")})
    with pytest.raises(ProjectError, match=r"^recipes/p.yaml:4 at file: recipes/p.py is not UTF-8 text: byte 0xe9 "
                                           r"at line 2 is not UTF-8: expected a file saved as UTF-8 \(or declare its "
                                           r"encoding in a '# -\*- coding: ... -\*-' line\)$"):
        load_project(root)
    (root / "recipes" / "p.py").write_bytes(("# -*- coding: latin-1 -*-\n" + code).encode("latin-1"))
    assert "café" in load_project(root).code["p"]


def test_a_code_file_that_is_a_symlink_loop_a_directory_or_empty(tmp_path: Path) -> None:
    root = make(tmp_path, {"q.yaml": SQL.format(file="q.sql")})
    os.symlink("q.sql", root / "recipes" / "q.sql")
    with pytest.raises(ProjectError, match=r"^recipes/q.yaml:4 at file: recipes/q.sql is a symbolic link that points "
                                           r"to itself: expected a file$"):
        load_project(root)
    (root / "recipes" / "q.sql").unlink()
    (root / "recipes" / "q.sql").mkdir()
    with pytest.raises(ProjectError, match=r"^recipes/q.yaml:4 at file: recipes/q.sql is a directory: expected a "
                                           r"file$"):
        load_project(root)
    (root / "recipes" / "q.yaml").write_text(SQL.format(file="''"))
    with pytest.raises(ProjectError, match=r"^recipes/q.yaml:4 at file: the file name is empty: expected a file "
                                           r"under recipes/ \(e.g. 'query.sql'\), got an empty text$"):
        load_project(root)


def test_a_missing_code_file_names_the_line_and_the_nearest_file(tmp_path: Path) -> None:
    root = make(tmp_path, {"q.yaml": SQL.format(file="qq.sql"), "q.sql": "SELECT 1 AS a FROM src"})
    with pytest.raises(ProjectError, match=r"^recipes/q.yaml:4 at file: file recipes/qq.sql not found: did you mean "
                                           r"'q.sql'\?$"):
        load_project(root)


# ---------------------------------------------------------------- E. Python recipes checked, never run

def test_a_python_syntax_error_names_the_py_file_and_line(tmp_path: Path) -> None:
    root = make(tmp_path, {"p.yaml": PY, "p.py": "import polars\n\ndef transform(inputs)\n    return 1\n"})
    with pytest.raises(ProjectError, match=r"^recipes/p.py:3: syntax error in the Python code at line 3, column 22: "
                                           r"expected ':'$"):
        load_project(root)


def test_code_python_compiles_but_cannot_run_is_refused_too(tmp_path: Path) -> None:
    root = make(tmp_path, {"p.yaml": PY, "p.py": "return 1\n\ndef transform(inputs):\n    return inputs\n"})
    with pytest.raises(ProjectError, match=r"^recipes/p.py:1: syntax error in the Python code at line 1, column 1: "
                                           r"'return' outside function$"):
        load_project(root)


def test_a_missing_function_lists_the_functions_defined(tmp_path: Path) -> None:
    root = make(tmp_path, {"p.yaml": PY + "function: transfrom\n",
                           "p.py": "def _helper(x):\n    return x\n\ndef transform(inputs):\n    return 1\n"})
    with pytest.raises(ProjectError, match=r"^recipes/p.yaml:5 at function: recipes/p.py defines no function "
                                           r"'transfrom' at its top level: expected 'def transfrom\(inputs\):', got "
                                           r"the functions '_helper', 'transform': did you mean 'transform'\?$"):
        load_project(root)


def test_a_function_only_nested_in_a_class_is_not_at_the_top_level(tmp_path: Path) -> None:
    root = make(tmp_path, {"p.yaml": PY, "p.py": "class T:\n    def transform(self, inputs):\n        return inputs\n"})
    with pytest.raises(ProjectError, match=r"^recipes/p.yaml:4 at file: recipes/p.py defines no function "
                                           r"'transform' \(the default of the key 'function'\) at its top level: "
                                           r"expected 'def transform\(inputs\):', got no function$"):
        load_project(root)


@pytest.mark.parametrize("code", [
    "import sys\nsys.exit(3)\n\ndef transform(inputs):\n    return inputs['src']\n",  # loading runs nothing
    "from os.path import join as transform\n",
    "def make():\n    return lambda inputs: inputs['src']\n\ntransform = make()\n",
    "try:\n    import polars\nexcept ImportError:\n    pass\nelse:\n    def transform(inputs):\n        return 1\n",
    "from math import *\n",
])
def test_python_files_binding_the_function_load_without_running(tmp_path: Path, code: str) -> None:
    root = make(tmp_path, {"p.yaml": PY, "p.py": code})
    assert load_project(root).code["p"] == code


# ---------------------------------------------------------------- F. check errors name the dataset file

def test_a_check_error_names_the_dataset_file_not_the_recipe_of_the_same_name(tmp_path: Path) -> None:
    from tideflow.flow import build

    datasets = {"src": "table: src\n", "r": "description: sorted\nchecks:\n  - rule: unique\n    columns: [nope]\n"}
    root = make(tmp_path, {"r.yaml": "type: sort\ninputs: src\noutputs: r\norder_by: [{column: id}]\n"}, datasets)
    (root / ".tide").mkdir()
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    con.execute("CREATE TABLE src AS SELECT range AS id FROM range(3)")
    con.close()
    project = load_project(root)
    assert project.files["r"] == "recipes/r.yaml" and project.dataset_files["r"] == "datasets/r.yaml"
    with pytest.raises(ProjectError, match=r"^datasets/r.yaml:4 at checks\[0\].columns\[0\]: check 'unique\(nope\)': "
                                           r"unknown column 'nope'"):
        build(project)  # refused at planning, before the recipe runs


# ---------------------------------------------------------------- G. keys that are not names

@pytest.mark.parametrize(("key", "got"), [
    ("1", "a number"), ("1.5", "a number"), ("true", "a boolean"), ("null", r"nothing \(null\)"),
    ("2025-01-01", "a date"),
])
def test_a_key_that_is_not_text_is_refused_at_its_line(tmp_path: Path, key: str, got: str) -> None:
    root = make(tmp_path, {"s.yaml": SORT + f"{key}: x\n"})
    with pytest.raises(ProjectError, match=rf"^recipes/s.yaml:5: key {key} at line 5 must be a name \(text\), got "
                                           rf"{got}: quote it, as in '{key}', to keep it as text$"):
        load_project(root)


def test_a_key_that_is_not_text_names_its_mapping(tmp_path: Path) -> None:
    root = make(tmp_path, {}, config=CONFIG + "  1: {type: duckdb}\n")
    with pytest.raises(ProjectError, match=r"^tideflow.yaml:4 at connections: key 1 at line 4 must be a name "
                                           r"\(text\), got a number: quote it, as in '1', to keep it as text$"):
        load_project(root)
    (tmp_path / "tideflow.yaml").write_text(CONFIG + "  '1': {type: duckdb, path: .tide/one.duckdb}\n")
    assert "1" in load_project(tmp_path).config.connections


# ---------------------------------------------------------------- H. a model's own validator, located

def test_an_unknown_default_connection_names_its_key_line_and_the_nearest(tmp_path: Path) -> None:
    root = make(tmp_path, {}, config=CONFIG + "defaults:\n  connection: warehous\n")
    with pytest.raises(ProjectError, match=r"^tideflow.yaml:5 at defaults.connection: unknown connection 'warehous': "
                                           r"expected a declared connection \(warehouse\), got 'warehous': did you "
                                           r"mean 'warehouse'\?$"):
        load_project(root)


def test_min_workers_above_max_workers_names_the_key(tmp_path: Path) -> None:
    config = CONFIG + ("compute:\n  cluster:\n    node_types:\n      cpu:\n        min_workers: 3\n"
                       "        max_workers: 1\n")
    root = make(tmp_path, {}, config=config)
    with pytest.raises(ProjectError, match=r"^tideflow.yaml:8 at compute.cluster.node_types.cpu.min_workers: "
                                           r"expected at most max_workers \(1\), got 3$"):
        load_project(root)


def test_a_model_validator_error_does_not_say_got_a_mapping(tmp_path: Path) -> None:
    root = make(tmp_path, {"q.yaml": "type: sql\ninputs: src\noutputs: q\nsql: SELECT 1 AS a\nfile: q.sql\n"})
    with pytest.raises(ProjectError, match=r"^recipes/q.yaml:5 at file: a sql recipe takes exactly one of 'sql' or "
                                           r"'file'$"):
        load_project(root)


@pytest.mark.parametrize(("recipe", "match"), [
    ("type: prepare\ninputs: src\noutputs: p\nsteps:\n  - op: filter\n    expr: id > 1\n"
     "    rules: [{column: id, op: gt, value: 1}]\n",
     r"^recipes/r.yaml:7 at steps\[0\].rules: a filter step takes exactly one of 'expr' or 'rules'$"),
    ("type: prepare\ninputs: src\noutputs: p\nsteps:\n  - op: bin\n    column: id\n    output: b\n"
     "    edges: [3, 1]\n",
     r"^recipes/r.yaml:8 at steps\[0\].edges: expected at least two strictly ascending numbers, got \[3.0, 1.0\]$"),
    ("type: top_n\ninputs: src\noutputs: t\norder_by: [{column: id}]\nfirst: 0\n",
     r"^recipes/r.yaml:5 at first: top_n needs 'first' and/or 'last' greater than 0$"),
    ("type: split\ninputs: src\noutputs: [a, b]\nrandom:\n  key: [id]\n  ratios: {a: 0.9, b: 0.9}\n",
     r"^recipes/r.yaml:6 at random.ratios: random split ratios must be >= 0 and sum to at most 1, got 1.8$"),
    ("type: group\ninputs: src\noutputs: g\naggregations:\n  - {fn: sum, output: s}\n",
     r"^recipes/r.yaml:5 at aggregations\[0\].column: aggregation 'sum' needs a 'column'$"),
])
def test_a_recipe_validator_error_names_its_key_and_line(tmp_path: Path, recipe: str, match: str) -> None:
    """Pydantic puts a model validator's error on the model (a recipe's line 1 or its step's line);
    ``key_error`` names the key the rule is about."""
    with pytest.raises(ProjectError, match=match):
        load_project(make(tmp_path, {"r.yaml": recipe}))


# ---------------------------------------------------------------- project files that cannot be read

def test_a_project_file_that_cannot_be_read_is_said_in_words(tmp_path: Path) -> None:
    root = make(tmp_path, {"s.yaml": SORT})
    os.symlink("nowhere.yaml", root / "recipes" / "ghost.yaml")
    with pytest.raises(ProjectError, match=r"^recipes/ghost.yaml: cannot read the file: it does not exist \(or is a "
                                           r"symbolic link to a missing file\)$"):
        load_project(root)
    (root / "recipes" / "ghost.yaml").unlink()
    (root / "recipes" / "dir.yaml").mkdir()
    with pytest.raises(ProjectError, match=r"^recipes/dir.yaml: it is a directory: expected a YAML file$"):
        load_project(root)


@pytest.mark.parametrize(("content", "match"), [
    (SORT.encode() + b"description: caf\xe9\n",
     r"^recipes/s.yaml:5: the file is not UTF-8 text: byte 0xe9 at line 5 is not UTF-8: expected a file saved as "
     r"UTF-8$"),
    (SORT.encode() + b"description: a\x00b\n",
     r"^recipes/s.yaml:5: invalid YAML: the character U\+0000 at line 5 is not allowed in YAML text: expected "
     r"printable text"),
])
def test_a_project_file_that_is_not_text(tmp_path: Path, content: bytes, match: str) -> None:
    with pytest.raises(ProjectError, match=match):
        load_project(make(tmp_path, {"s.yaml": content}))
