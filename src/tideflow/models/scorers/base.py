"""The ``Scorer`` protocol and what every scorer shares: inputs, links, labels, the saved header."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from tideflow.models.scorers._prep import Batch, Preprocessor
from tideflow.models.sql.plan import Feature, ModelPlan

Outputs = dict[str, np.ndarray]


@runtime_checkable
class Scorer(Protocol):
    """A compiled model: ``prediction`` and, for classifiers, ``proba_<class>`` per class."""

    kind: str
    family: str
    input_columns: list[str]
    output_names: list[str]

    def predict(self, batch: Batch) -> Outputs: ...

    def predict_one(self, record: dict[str, Any]) -> dict[str, Any]: ...

    def save(self, path: str | Path) -> None: ...


class Head:
    """Everything after the margins: link, probabilities and labels (numpy, float64)."""

    def __init__(self, link: str, classes: list[Any] | None, label_rule: str, sigmoid_scale: float = 1.0,
                 float32: bool = False) -> None:
        self.link = link
        self.classes = classes
        self.label_rule = label_rule
        self.sigmoid_scale = sigmoid_scale
        self.float32 = float32
        self.class_array = np.asarray(classes, dtype=object) if classes is not None else None
        self.names = ["prediction"] + ([f"proba_{c}" for c in classes] if classes is not None else [])

    def outputs(self, margins: np.ndarray) -> Outputs:
        """``margins`` (n, n_margins) -> named outputs."""
        link = self.link
        if self.float32:
            margins = margins.astype(np.float32)
        if link == "logistic":
            z = margins[:, 0]
            if self.float32:
                p1 = (np.float32(1.0) / (np.exp(-z.astype(np.float64)).astype(np.float32) + np.float32(1.0)))
                proba = np.column_stack([np.float32(1.0) - p1, p1]).astype(np.float64)
            else:
                p1 = 1.0 / (1.0 + np.exp(np.minimum(-self.sigmoid_scale * z.astype(np.float64), 700.0)))
                proba = np.column_stack([1.0 - p1, p1])
            value = proba[:, 1]
        elif link == "softmax":
            m = margins.astype(np.float64)
            e = np.exp(m - m.max(axis=1, keepdims=True))
            proba = e / e.sum(axis=1, keepdims=True)
            value = proba
        elif link == "exp":
            value = np.exp(margins[:, 0].astype(np.float64))
            proba = None
        elif link == "none":
            proba = margins.astype(np.float64)
            value = proba
        elif link == "proba1":
            p1 = margins[:, 0].astype(np.float64)
            proba = np.column_stack([1.0 - p1, p1])
            value = proba
        else:
            value = margins[:, 0].astype(np.float64)
            proba = None
        if self.classes is None:
            return {"prediction": np.asarray(value, dtype=np.float64).reshape(len(margins), -1)[:, 0]}
        assert proba is not None and self.class_array is not None
        rule = self.label_rule
        if rule == "margin_gt0":
            idx = (margins[:, 0] > 0).astype(np.intp)
        elif rule == "margin_ge0":
            idx = (margins[:, 0] >= 0).astype(np.intp)
        elif rule == "proba_gt_half":
            idx = (proba[:, 1] > 0.5).astype(np.intp)
        elif rule == "argmax_margin":
            idx = np.argmax(margins, axis=1)
        else:
            idx = np.argmax(proba, axis=1)
        out: Outputs = {"prediction": self.class_array[idx]}
        for k, name in enumerate(self.names[1:]):
            out[name] = proba[:, k]
        return out

    def to_json(self) -> dict[str, Any]:
        return {"link": self.link, "classes": self.classes, "label_rule": self.label_rule,
                "sigmoid_scale": self.sigmoid_scale, "float32": self.float32}

    @classmethod
    def from_plan(cls, plan: ModelPlan) -> Head:
        from tideflow.models.sql.plan import TreesPlan

        model = plan.model
        return cls(plan.link, list(plan.classes) if plan.classes is not None else None, plan.label_rule,
                   model.sigmoid_scale if isinstance(model, TreesPlan) else 1.0,
                   model.float32 if isinstance(model, TreesPlan) else False)


def features_to_json(features: list[Feature]) -> list[dict[str, Any]]:
    return [{"column": f.column, "ops": [list(op) for op in f.ops],
             "category": None if f.category is None else [f.category[0]]} for f in features]


def features_from_json(data: list[dict[str, Any]]) -> list[Feature]:
    return [Feature(d["column"], tuple(tuple(op) for op in d["ops"]),
                    None if d["category"] is None else (d["category"][0],)) for d in data]


class BaseScorer:
    """Preprocessing + margins + head; subclasses provide ``_margins`` or override ``predict``."""

    kind = "base"

    def __init__(self, family: str, input_columns: list[str], features: list[Feature], head: Head) -> None:
        self.family = family
        self.input_columns = list(input_columns)
        self.features = features
        self.prep = Preprocessor(features, self.input_columns)
        self.head = head
        self.output_names = head.names

    def _margins(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, batch: Batch) -> Outputs:
        return self._predict_matrix(self.prep.transform(batch))

    def _predict_matrix(self, x: np.ndarray) -> Outputs:
        return self.head.outputs(self._margins(x))

    def predict_one(self, record: dict[str, Any]) -> dict[str, Any]:
        """One record (column -> value; a missing key is an error) -> plain Python outputs."""
        try:
            x = self.prep.transform_one(record)
        except KeyError as err:
            raise KeyError(f"missing input column {err.args[0]!r}; expected {self.input_columns}") from None
        out = self._predict_matrix(x)
        return {k: v[0].item() if isinstance(v[0], np.generic) else v[0] for k, v in out.items()}

    def header(self) -> dict[str, Any]:
        return {"kind": self.kind, "family": self.family, "input_columns": self.input_columns,
                "features": features_to_json(self.features), "head": self.head.to_json()}

    def _write_header(self, path: Path, extra: dict[str, Any] | None = None) -> None:
        path.mkdir(parents=True, exist_ok=True)
        data = self.header() | (extra or {})
        (path / "scorer.json").write_text(json.dumps(data, indent=1, default=_json_default))

    def save(self, path: str | Path) -> None:
        raise NotImplementedError


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in scorer.json")
