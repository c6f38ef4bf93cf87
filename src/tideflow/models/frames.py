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
