"""``regex_extract`` takes only patterns every engine reads the same way: the rest is refused when the
project is loaded, naming the file, the line, the key and the construct (the differential tests run the
accepted subset on DuckDB, PostgreSQL and the memory engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tideflow.errors import ProjectError
from tideflow.project import load_project
from tideflow.recipes.regex import portable_regex_problem

ACCEPTED = [r"^([a-z]+)", r"([0-9]{1,3})-(\d+)", r"(?:ab|cd)+x$", r"[]a-]+", r"[^]a]", r"\.\*\\", r"a{2,}",
            r"[\d\s\w]+\S", r"(a|b)*", "[{}]", r"\{\}", "日本(語)", r"(jan|feb|mar)-([0-9]{2})", r"a{255}",
            r"[a-z-]", r"\-\[\]"]
REFUSED = {
    r"Y*?([0-9]{1,3})": "a lazy quantifier",
    r"(ab)+?": "a lazy quantifier",
    r"(cat|category)": "an alternation whose branches can match different lengths",
    r"x(?:a|bc)": "an alternation whose branches can match different lengths",
    r"[a[b]]": "a '[' inside a class",
    r"[+--]": "'--' inside a class",
    r"[a&&b]": "'&&' inside a class",
    r"\<word\>": r"the escape \<",
    "\\€": r"the escape \€",
    r"(?#note)a": "a comment (?#...)",
    r"(?u)a": "inline flags",
    r"a{300}": "a repeat count over 255",
    r"\b([a-z]+)\b": r"the escape \b (a backspace on PostgreSQL",
    r"[[:alpha:]]+": "a POSIX class",
    r"(?i)(abc)": "inline flags",
    r"(?i:a)b": "inline flags",
    r"(?P<x>a)": "a named group",
    r"a(?=b)": "a look-ahead or look-behind",
    r"(?<!a)b": "a look-ahead or look-behind",
    r"(a)\1": r"the escape \1",
    r"a\Z": r"the escape \Z",
    r"\u00dc": r"the escape \u",
    r"\x41": r"the escape \x",
    "a{": "a brace that is not a quantifier",
    "a{,3}": "a brace that is not a quantifier",
    "a}": "a brace that is not a quantifier",
    "(a": "invalid regular expression: missing ), unterminated subpattern",
}


@pytest.mark.parametrize("pattern", ACCEPTED)
def test_the_portable_subset_is_accepted(pattern: str) -> None:
    assert portable_regex_problem(pattern) is None


@pytest.mark.parametrize("pattern", list(REFUSED))
def test_what_engines_read_differently_is_refused(pattern: str) -> None:
    problem = portable_regex_problem(pattern)
    assert problem is not None and problem.startswith(REFUSED[pattern]), problem


def test_the_loader_names_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "datasets").mkdir()
    (tmp_path / "recipes").mkdir()
    (tmp_path / "tideflow.yaml").write_text("name: t\n")
    (tmp_path / "datasets" / "t.yaml").write_text("table: t\n")
    (tmp_path / "recipes" / "r.yaml").write_text(
        "type: prepare\ninputs: t\noutputs: out\nsteps:\n"
        "  - op: regex_extract\n    column: s\n    pattern: 'x*?([0-9]+)'\n    output: n\n")
    with pytest.raises(ProjectError) as caught:
        load_project(tmp_path)
    message = str(caught.value)
    assert message.startswith("recipes/r.yaml:7 at steps[0].pattern"), message
    assert "expected a pattern every engine reads the same way, got a lazy quantifier" in message
    assert "in 'x*?([0-9]+)'" in message
