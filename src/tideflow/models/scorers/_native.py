"""Native numpy scorers: linear models as a dot product; trees by vectorised traversal (fallback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tideflow.models.scorers.base import BaseScorer, Head
from tideflow.models.sql.plan import Feature, ModelPlan, Tree, TreesPlan


class LinearScorer(BaseScorer):
    """``margins = X @ coef.T + intercept`` after the compiled preprocessing."""

    kind = "numpy_linear"

    def __init__(self, family: str, input_columns: list[str], features: list[Feature], head: Head,
                 coef: np.ndarray, intercept: np.ndarray) -> None:
        super().__init__(family, input_columns, features, head)
        self.coef_t = np.ascontiguousarray(np.asarray(coef, dtype=np.float64).T)
        self.intercept = np.asarray(intercept, dtype=np.float64)

    def _margins(self, x: np.ndarray) -> np.ndarray:
        return x @ self.coef_t + self.intercept

    def save(self, path: str | Path) -> None:
        path = Path(path)
        self._write_header(path)
        np.savez(path / "linear.npz", coef=self.coef_t.T, intercept=self.intercept)

    @classmethod
    def load(cls, path: Path, header: dict[str, Any], family: str, columns: list[str], features: list[Feature],
             head: Head) -> LinearScorer:
        data = np.load(path / "linear.npz")
        return cls(family, columns, features, head, data["coef"], data["intercept"])


class TreeScorer(BaseScorer):
    """Trees traversed level by level for all rows at once (exact plan semantics; a fallback)."""

    kind = "numpy_trees"

    def __init__(self, family: str, input_columns: list[str], features: list[Feature], head: Head,
                 plan: TreesPlan, n_margins: int) -> None:
        super().__init__(family, input_columns, features, head)
        self.plan = plan
        self.n_margins = n_margins

    @staticmethod
    def _leaves(tree: Tree, x: np.ndarray) -> np.ndarray:
        node = np.zeros(len(x), dtype=np.int64)
        rows = np.arange(len(x))
        while True:
            feat = tree.feature[node]
            active = feat >= 0
            if not active.any():
                return node
            v = x[rows, np.maximum(feat, 0)]
            bound = tree.bound[node]
            test = np.where(tree.strict[node], v < bound, v <= bound)
            missing = np.isnan(v) | (tree.zero_missing[node] & (np.abs(v) <= 1.0000000180025095e-35))
            left = np.where(missing, tree.missing_left[node], test)
            node = np.where(active, np.where(left, tree.left[node], tree.right[node]), node)

    def _margins(self, x: np.ndarray) -> np.ndarray:
        plan = self.plan
        dtype = np.float32 if plan.float32 else np.float64
        out = np.tile(plan.base.astype(dtype), (len(x), 1))
        for tree in plan.trees:
            leaf = self._leaves(tree, x)
            k = tree.values.shape[1]
            out[:, tree.offset : tree.offset + k] += tree.values[leaf].astype(dtype)
        if plan.divisor is not None:
            out = out / plan.divisor
        return out

    def save(self, path: str | Path) -> None:
        import pickle

        path = Path(path)
        self._write_header(path, {"n_margins": self.n_margins})
        (path / "trees.pkl").write_bytes(pickle.dumps(self.plan))

    @classmethod
    def load(cls, path: Path, header: dict[str, Any], family: str, columns: list[str], features: list[Feature],
             head: Head) -> TreeScorer:
        import pickle

        plan = pickle.loads((path / "trees.pkl").read_bytes())  # written by save() above, with the model version
        return cls(family, columns, features, head, plan, int(header["n_margins"]))


def linear_from_plan(plan: ModelPlan) -> LinearScorer:
    from tideflow.models.sql.plan import LinearPlan

    assert isinstance(plan.model, LinearPlan)
    return LinearScorer(plan.family, list(plan.input_columns), list(plan.features), Head.from_plan(plan),
                        plan.model.coef, plan.model.intercept)


def trees_from_plan(plan: ModelPlan) -> TreeScorer:
    assert isinstance(plan.model, TreesPlan)
    return TreeScorer(plan.family, list(plan.input_columns), list(plan.features), Head.from_plan(plan),
                      plan.model, plan.n_margins)
