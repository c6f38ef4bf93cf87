"""Recipe expressions that sqlglot cannot read: one ExpressionError in words, never a sqlglot traceback."""

from __future__ import annotations

import pickle

import pytest

from tideflow.errors import ExpressionError
from tideflow.recipes import FilterStep
from tideflow.recipes.base import SourceText
from tideflow.recipes.expressions import parse_checked, parse_expression
from tideflow.recipes.types import ColumnType

WHERE = "recipes/r.yaml at steps[0].expr"


@pytest.mark.parametrize(("text", "match"), [
    ('"amount > 0', r"^recipes/r.yaml at steps\[0\]\.expr: syntax error: unclosed double quote at column 1: "
                    r"expected a closing \"; double quotes name a column, single quotes make a string "
                    r"in expression '\"amount > 0'$"),
    ("status = 'paid", r"^recipes/r.yaml at steps\[0\]\.expr: syntax error: unclosed single quote at column 10"),
    ("status = 'it''s", r"unclosed single quote at column 10"),
    ("status <> ", r"^recipes/r.yaml at steps\[0\]\.expr: incomplete expression: '<>' at column 8 needs a "
                   r"right-hand side in expression 'status <> '$"),
    ("a b c", r"syntax error: unexpected 'c' at column 5 in expression"),
    ("(a + 1", r"syntax error: expected '\)' after '1' at column 6"),
    ("a between 1", r"incomplete expression: BETWEEN needs '<low> AND <high>'"),
])
def test_syntax_errors_are_expression_errors_in_words(text: str, match: str) -> None:
    with pytest.raises(ExpressionError, match=match) as info:
        parse_expression(text, where=WHERE)
    assert "<class" not in str(info.value) and "sqlglot" not in str(info.value)
    assert "\x1b" not in str(info.value)


def test_an_expression_from_a_project_file_names_its_line() -> None:
    text = SourceText("amout * 2", 12)
    with pytest.raises(ExpressionError, match=r"^recipes/r.yaml:12 at steps\[0\]\.expr: unknown column 'amout': "
                                              r"did you mean 'amount'\?"):
        parse_checked(text, {"amount": ColumnType.DOUBLE}, where=WHERE)
    with pytest.raises(ExpressionError, match=r"^recipes/r.yaml:12 at steps\[0\]\.expr: syntax error"):
        parse_expression(SourceText("'x", 12), where=WHERE)


def test_an_expression_typed_in_code_has_no_line() -> None:
    with pytest.raises(ExpressionError, match=r"^recipes/r.yaml at steps\[0\]\.expr: unknown column 'amout'"):
        parse_checked("amout * 2", {"amount": ColumnType.DOUBLE}, where=WHERE)


def test_expression_fields_keep_the_line_and_stay_plain_text() -> None:
    step = FilterStep.model_validate({"op": "filter", "expr": SourceText("a > 1", 7)})
    assert step.expr == "a > 1" and getattr(step.expr, "line", None) == 7
    assert step.model_dump(mode="json") == {"op": "filter", "expr": "a > 1", "rules": None, "match": "all",
                                            "action": "keep"}
    copy = pickle.loads(pickle.dumps(step))
    assert copy == step and getattr(copy.expr, "line", None) == 7


@pytest.mark.parametrize(("data", "kind"), [
    ({"op": "round", "columns": ["a"], "decimals": True}, "int_type"),
    ({"op": "round", "columns": ["a"], "decimals": "2"}, "int_type"),
    ({"op": "bin", "column": "a", "output": "b", "width": True}, "float_type"),
])
def test_wrong_types_are_not_coerced(data: dict[str, object], kind: str) -> None:
    from pydantic import TypeAdapter, ValidationError

    from tideflow.recipes import PrepareStep

    with pytest.raises(ValidationError) as info:
        TypeAdapter(PrepareStep).validate_python(data)
    assert info.value.errors()[0]["type"] == kind


def test_model_recipe_messages_use_the_right_article() -> None:
    from pydantic import ValidationError

    from tideflow.recipes import EvaluateRecipe

    with pytest.raises(ValidationError, match=r"an evaluate recipe reads exactly one input, got 2"):
        EvaluateRecipe.model_validate({"name": "e", "type": "evaluate", "inputs": ["a", "b"], "outputs": "m",
                                       "model": "fraud"})


@pytest.mark.parametrize(("pattern", "refused"), [
    ("pa\\", True), ("pa\\\\", False), ("pa\\\\\\", True), ("50\\%", False), ("\\", True), ("%", False)])
def test_a_like_pattern_ending_in_a_lone_backslash_is_refused_when_planned(pattern: str, refused: bool) -> None:
    text = f"s LIKE '{pattern}' OR s ILIKE '{pattern}'"
    if not refused:
        parse_checked(text, {"s": ColumnType.STRING})
        return
    with pytest.raises(ExpressionError, match=r"LIKE pattern '.*' ends with a lone backslash, the escape character"):
        parse_checked(text, {"s": ColumnType.STRING}, where="recipes/r.yaml at steps[0].expr")
