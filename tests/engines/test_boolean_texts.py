"""The texts that read as booleans, and the text of a value for a string column, are defined once
(recipes/types.py) and every engine reads them."""

from __future__ import annotations

import pytest

from tideflow.engines.memory import casting
from tideflow.engines.sql import build, casts
from tideflow.recipes.types import FALSE_TEXTS, TRUE_TEXTS, ColumnType, value_text


def test_one_definition_read_by_every_engine() -> None:
    for module in (casting, build, casts):
        assert module.TRUE_TEXTS is TRUE_TEXTS, module.__name__
        assert module.FALSE_TEXTS is FALSE_TEXTS, module.__name__


@pytest.mark.parametrize(("texts", "value"), [(TRUE_TEXTS, True), (FALSE_TEXTS, False)])
def test_each_text_converts_on_both_sides(texts: tuple[str, ...], value: bool) -> None:
    for text in texts:
        for written in (text, f" {text.upper()} "):
            assert casting.cast_value(written, ColumnType.BOOLEAN) is value
            assert casting.convert_value(written, ColumnType.BOOLEAN) is value
            assert build.convert_value(written, ColumnType.BOOLEAN) is value


@pytest.mark.parametrize(("value", "text"), [(True, "true"), (False, "false"), (1e-05, "1e-05"), (2.0, "2.0"),
                                             (-0.0, "-0.0"), (7, "7"), (" x ", " x ")])
def test_a_value_for_a_string_column_has_one_text(value: object, text: str) -> None:
    assert value_text(value) == text
    assert casting.convert_value(value, ColumnType.STRING) == text
    assert build.convert_value(value, ColumnType.STRING) == text
