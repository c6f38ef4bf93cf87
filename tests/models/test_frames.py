"""Missing text reaches a model as NaN, so its imputer fills it as the model's SQL and scorers do."""

from __future__ import annotations

import math

import pyarrow as pa
from sklearn.impute import SimpleImputer

from tideflow.lab.data import to_frame
from tideflow.models.frames import text_values
from tideflow.monitoring.frames import model_frame


def test_missing_text_is_nan_and_the_imputer_fills_it() -> None:
    table = pa.table({"country": pa.array(["FR", None, "FR", "DE"]), "amount": pa.array([1.0, None, 3.0, 4.0])})
    for frame in (to_frame(table), model_frame(table, ["country", "amount"])):
        assert isinstance(frame["country"][1], float) and math.isnan(frame["country"][1])
        assert math.isnan(frame["amount"][1])
        filled = SimpleImputer(strategy="most_frequent").fit_transform(frame[["country"]]).ravel().tolist()
        assert filled == ["FR", "FR", "FR", "DE"]  # with None, the imputer would have left it (a category of its own)


def test_text_values_keeps_strings_and_length() -> None:
    values = text_values(["a", None, "it's", ""])
    assert values.dtype == object and len(values) == 4
    assert values[0] == "a" and values[2] == "it's" and values[3] == "" and math.isnan(values[1])
    assert len(text_values([])) == 0
