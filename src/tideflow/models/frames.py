"""How a model's input frame holds missing text: one definition for the Lab, the scorers and the API node."""

from __future__ import annotations

from typing import Any

import numpy as np


def text_values(values: list[Any]) -> Any:
    """An object array of strings with NaN, not None, for a missing value: scikit-learn's imputers
    (``missing_values=nan``) see only NaN as missing, and would pass a None on as a category of its own,
    while the model's SQL and compiled scorers impute every NULL."""
    array = np.asarray(values, dtype=object)
    if array.ndim != 1:  # e.g. a list of lists: build the 1-d object array element by element
        array = np.empty(len(values), dtype=object)
        array[:] = values
    array[[v is None for v in array]] = np.nan
    return array


_NUMPY_KIND = {"double": "float64", "integer": "int64", "boolean": "bool"}


def records_frame(records: list[dict[str, Any]], schema: dict[str, str]) -> Any:
    """A pandas frame of ``records`` (JSON-like values: None is the missing value) with the columns of
    ``schema`` (feature -> type), as the API node scores: float64 with NaN for numbers (an ``integer`` column
    with a missing value too), bool and int64 when complete, object arrays (``text_values``) otherwise."""
    import math

    import pandas as pd

    columns: dict[str, Any] = {}
    for name, kind in schema.items():
        values = [r[name] for r in records]
        dtype = _NUMPY_KIND.get(kind)
        if dtype == "float64" or (dtype == "int64" and any(v is None for v in values)):
            columns[name] = np.array([math.nan if v is None else v for v in values], dtype="float64")
        elif dtype is not None and all(v is not None for v in values):
            columns[name] = np.array(values, dtype=dtype)
        else:
            columns[name] = text_values(values)
    return pd.DataFrame(columns)
