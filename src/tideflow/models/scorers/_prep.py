"""The pipeline's preprocessing compiled to numpy: grouped vector ops and dict one-hot lookups."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from tideflow.models.sql.plan import Feature, py_value

Batch = Any  # pyarrow.Table | pandas.DataFrame | Mapping[str, array-like] | numpy 2-D array


def _float_column(values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in "fiub":
        return arr.astype(np.float64, copy=False)
    return np.array([math.nan if py_value(v) is None else float(v) for v in arr.tolist()], dtype=np.float64)


def _key(value: Any) -> Any:
    if type(value) is str:
        return value
    value = py_value(value)
    return ("__missing__",) if value is None else value


def columns_of(batch: Batch, names: list[str], input_columns: list[str]) -> dict[str, np.ndarray]:
    """The named columns of a batch as numpy arrays."""
    if isinstance(batch, np.ndarray):
        if batch.ndim == 1:
            batch = batch.reshape(1, -1)
        if batch.shape[1] != len(input_columns):
            raise ValueError(f"expected {len(input_columns)} columns {input_columns}, got {batch.shape[1]}")
        pos = {c: i for i, c in enumerate(input_columns)}
        return {n: batch[:, pos[n]] for n in names}
    module = type(batch).__module__
    out: dict[str, np.ndarray] = {}
    missing = [n for n in names if n not in (batch.column_names if module.startswith("pyarrow") else batch)]
    if missing:
        raise KeyError(f"missing input columns {missing}")
    for n in names:
        if module.startswith("pyarrow"):
            out[n] = batch.column(n).to_numpy(zero_copy_only=False)
        elif module.startswith("pandas"):
            out[n] = batch[n].to_numpy()
        else:
            arr = np.asarray(batch[n])
            if arr.dtype.kind in "US":  # keep None/NaN in text columns (numpy would make them 'nan')
                arr = np.asarray(batch[n], dtype=object)
            out[n] = arr
    return out


class Preprocessor:
    """Features of a ``ModelPlan`` as a float64 matrix, without scikit-learn."""

    def __init__(self, features: list[Feature], input_columns: list[str]) -> None:
        self.features = features
        self.input_columns = input_columns
        self.n_features = len(features)
        # numeric: grouped by op signature so each group is a handful of vector ops
        groups: dict[tuple[str, ...], list[int]] = {}
        for j, f in enumerate(features):
            if not f.is_indicator:
                groups.setdefault(tuple(op[0] for op in f.ops), []).append(j)
        self.numeric_columns = list(dict.fromkeys(f.column for f in features if not f.is_indicator))
        col_pos = {c: i for i, c in enumerate(self.numeric_columns)}
        self.groups: list[tuple[np.ndarray, np.ndarray, list[tuple[str, Any]]]] = []
        for signature, positions in groups.items():
            src = np.array([col_pos[features[j].column] for j in positions], dtype=np.intp)
            ops: list[tuple[str, Any]] = []
            for k, name in enumerate(signature):
                if name == "clip":
                    params: Any = (np.array([features[j].ops[k][1] for j in positions]),
                                   np.array([features[j].ops[k][2] for j in positions]))
                else:
                    params = np.array([float(features[j].ops[k][1]) for j in positions])
                ops.append((name, params))
            self.groups.append((np.array(positions, dtype=np.intp), src, ops))
        # categorical: per column, fill value and value -> output positions
        self.categorical: dict[str, tuple[Any, dict[Any, list[int]]]] = {}
        for j, f in enumerate(features):
            if f.category is None:
                continue
            fills = [op[1] for op in f.ops if op[0] == "fill"]
            _fill, table = self.categorical.setdefault(f.column, (fills[0] if fills else None, {}))
            table.setdefault(_key(f.category[0]), []).append(j)

        # single records: the same float64 operations in plain Python (no numpy call per feature)
        self._numeric_one: list[tuple[int, str, tuple[tuple[str, Any], ...]]] = [
            (j, f.column, tuple((op[0], op[1:] if op[0] == "clip" else op[1]) for op in f.ops))
            for j, f in enumerate(features) if not f.is_indicator
        ]

    def transform_one(self, record: Mapping[str, Any]) -> np.ndarray:
        """One record (column -> value) as a (1, n_features) matrix."""
        row = [0.0] * self.n_features
        nan = math.nan
        for j, column, ops in self._numeric_one:
            v = record[column]
            x = nan if v is None else float(v)
            for name, p in ops:
                if name == "fill":
                    if x != x:
                        x = p
                elif name == "sub":
                    x = x - p
                elif name == "div":
                    x = x / p
                elif name == "mul":
                    x = x * p
                elif name == "add":
                    x = x + p
                else:  # clip; NaN stays NaN as in numpy.clip
                    x = x if x != x else min(max(x, p[0]), p[1])
            row[j] = x
        for column, (fill, table) in self.categorical.items():
            k = _key(record[column])
            if fill is not None and k == ("__missing__",):
                k = _key(fill)
            hit = table.get(k)
            if hit is not None:
                for j in hit:
                    row[j] = 1.0
        return np.array([row], dtype=np.float64)

    def transform(self, batch: Batch) -> np.ndarray:
        is_arrow = type(batch).__module__.startswith("pyarrow")
        names = self.numeric_columns + ([] if is_arrow else list(self.categorical))
        cols = columns_of(batch, names, self.input_columns)
        if is_arrow:
            missing = [c for c in self.categorical if c not in batch.column_names]
            if missing:
                raise KeyError(f"missing input columns {missing}")
            cols |= {c: batch.column(c) for c in self.categorical}
        n = len(next(iter(cols.values()))) if cols else 0
        out = np.zeros((n, self.n_features), dtype=np.float64)
        if self.numeric_columns:
            raw = np.column_stack([_float_column(cols[c]) for c in self.numeric_columns])
            for positions, src, ops in self.groups:
                x = raw[:, src]
                for name, p in ops:
                    if name == "fill":
                        x = np.where(np.isnan(x), p, x)
                    elif name == "sub":
                        x = x - p
                    elif name == "div":
                        x = x / p
                    elif name == "mul":
                        x = x * p
                    elif name == "add":
                        x = x + p
                    elif name == "clip":
                        x = np.clip(x, p[0], p[1])
                out[:, positions] = x
        for column, (fill, table) in self.categorical.items():
            self._one_hot(cols[column], fill, table, out)
        return out

    @staticmethod
    def _one_hot(values: Any, fill: Any, table: dict[Any, list[int]], out: np.ndarray) -> None:
        """Set the indicator columns: dictionary-encode, look up each distinct value once."""
        import pyarrow as pa

        if isinstance(values, pa.ChunkedArray | pa.Array):
            arr = values
        else:
            try:
                arr = pa.array(np.asarray(values, dtype=object), from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):  # mixed types: one row at a time
                fill_key = _key(fill) if fill is not None else None
                for i, v in enumerate(np.asarray(values, dtype=object).tolist()):
                    k = _key(v)
                    hit = table.get(fill_key if fill_key is not None and k == ("__missing__",) else k)
                    if hit is not None:
                        out[i, hit] = 1.0
                return
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        encoded = arr.dictionary_encode()
        dictionary = encoded.dictionary.to_pylist()
        fill_key = _key(fill) if fill is not None else ("__missing__",)
        pos = np.array([(table.get(_key(v)) or [-1])[0] for v in dictionary] + [(table.get(fill_key) or [-1])[0]],
                       dtype=np.intp)
        codes = encoded.indices.fill_null(len(dictionary)).to_numpy(zero_copy_only=False).astype(np.intp)
        target = pos[codes]
        rows = np.flatnonzero(target >= 0)
        out[rows, target[rows]] = 1.0
