"""The training data, prepared once: a frame of inputs, the encoded target, the test split, the folds.

``PreparedData`` is what goes to the object store once and is shared by every trial.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from tideflow.lab.features import ColumnPlan, plan_features
from tideflow.lab.loading import ModelFile
from tideflow.lab.specs import ModelSpec
from tideflow.monitoring.frames import model_frame
from tideflow.recipes import ColumnType, Schema


@dataclass
class PreparedData:
    """Inputs and target split into train and test; ``folds`` index into the training rows."""

    spec: ModelSpec
    task: str
    metric: str
    seed: int
    columns: list[str]
    plans: list[ColumnPlan]
    x_train: Any  # pandas.DataFrame
    y_train: np.ndarray
    x_test: Any
    y_test: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]
    classes: list[Any] = field(default_factory=list)
    input_schema: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return int(len(self.y_train) + len(self.y_test))


def arrow_schema(table: pa.Table) -> Schema:
    """Logical types of an Arrow table's columns."""
    out: Schema = {}
    for f in table.schema:
        t = f.type
        if pa.types.is_boolean(t):
            out[f.name] = ColumnType.BOOLEAN
        elif pa.types.is_integer(t):
            out[f.name] = ColumnType.INTEGER
        elif pa.types.is_floating(t) or pa.types.is_decimal(t):
            out[f.name] = ColumnType.DOUBLE
        elif pa.types.is_date(t):
            out[f.name] = ColumnType.DATE
        elif pa.types.is_timestamp(t):
            out[f.name] = ColumnType.TIMESTAMP
        else:
            out[f.name] = ColumnType.STRING
    return out


def to_frame(table: pa.Table) -> Any:
    """A pandas frame with plain dtypes: float64 numbers (NaN for missing), object strings (NaN for
    missing, so the imputers see it), datetime64: the frame every model of the Lab trains and scores on."""
    return model_frame(table, list(table.column_names))


def encode_target(values: list[Any], task: str, positive: Any) -> tuple[np.ndarray, list[Any]]:
    """Class indices 0..k-1 (sorted labels; the positive class last for binary) and the labels."""
    if task == "regression":
        return np.asarray(values, dtype="float64"), []
    labels = sorted({v for v in values if v is not None}, key=lambda v: (str(type(v)), v))
    if task == "binary" and positive is not None:
        match = [label for label in labels if label == positive or str(label) == str(positive)]
        if match:
            labels = [label for label in labels if label != match[0]] + [match[0]]
    index = {label: i for i, label in enumerate(labels)}
    return np.asarray([index[v] for v in values], dtype="int64"), labels


def prepare(model_file: ModelFile, table: pa.Table) -> PreparedData:
    """Split ``table`` into train/test and validation folds, deterministically from the seed."""
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    spec = model_file.spec
    target = table.column(spec.target)
    keep = np.asarray(target.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if not keep.all():
        table = table.filter(pa.array(keep))
    values = table.column(spec.target).to_pylist()
    y, classes = encode_target(values, spec.task, spec.positive_class)
    if spec.task == "binary" and len(classes) != 2:
        raise model_file.error(f"a binary task needs exactly 2 classes in {spec.target!r}, found {len(classes)}"
                               f" ({', '.join(map(repr, classes[:5]))})", "task")
    if spec.task == "multiclass" and len(classes) < 2:
        raise model_file.error(f"a multiclass task needs at least 2 classes in {spec.target!r}", "task")
    frame = to_frame(table)
    plans = plan_features(frame, spec)
    if not plans:
        raise model_file.error("no input column is left after excluding the target and skipped columns",
                               "features")
    columns = [p.column for p in plans]
    schema = arrow_schema(table)
    classify = spec.task != "regression"
    n = len(y)
    split = spec.split
    if split.method == "time":
        order = np.argsort(frame[split.column].to_numpy(), kind="stable")
        cut = round(n * (1 - split.test_ratio))
        train_idx, test_idx = order[:cut], order[cut:]
    else:
        stratify = y if classify and _can_stratify(y, split.test_ratio) else None
        train_idx, test_idx = train_test_split(np.arange(n), test_size=split.test_ratio, random_state=spec.seed,
                                               stratify=stratify)
        train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    x_train = frame.iloc[train_idx][columns].reset_index(drop=True)
    x_test = frame.iloc[test_idx][columns].reset_index(drop=True)
    y_train, y_test = y[train_idx], y[test_idx]
    m = len(y_train)
    folds: list[tuple[np.ndarray, np.ndarray]]
    if split.method == "kfold":
        splitter: Any = StratifiedKFold if classify and _can_stratify(y_train, 1 / split.folds) else KFold
        cv = splitter(n_splits=split.folds, shuffle=True, random_state=spec.seed)
        folds = [(np.asarray(a), np.asarray(b)) for a, b in cv.split(np.zeros(m), y_train)]
    elif split.method == "time":
        cut = round(m * (1 - split.validation_ratio))  # training rows are already in time order
        folds = [(np.arange(cut), np.arange(cut, m))]
    else:
        stratify = y_train if classify and _can_stratify(y_train, split.validation_ratio) else None
        fit, val = train_test_split(np.arange(m), test_size=split.validation_ratio, random_state=spec.seed + 1,
                                    stratify=stratify)
        folds = [(np.sort(fit), np.sort(val))]
    return PreparedData(spec=spec, task=spec.task, metric=spec.metric_name, seed=spec.seed, columns=columns,
                        plans=plans, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, folds=folds,
                        classes=classes, input_schema={c: str(schema[c]) for c in columns})


def _can_stratify(y: np.ndarray, ratio: float) -> bool:
    counts = np.bincount(y) if len(y) else np.array([])
    return bool(len(counts)) and int(counts[counts > 0].min()) >= max(2, int(np.ceil(1 / ratio)))
