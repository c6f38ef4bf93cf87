"""Tree ensembles on ONNX Runtime (one intra-op thread), built straight from the plan.

The graph is one ``ai.onnx.ml.TreeEnsembleRegressor`` whose thresholds are the plan's float64
bounds with ``BRANCH_LT``/``BRANCH_LEQ`` per node, so scikit-learn's float32 casts and each
library's ``<``/``<=`` and missing directions carry over exactly (skl2onnx and onnxmltools round
thresholds to float32). XGBoost keeps its native float32 graph. Link and labels run in numpy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tideflow.errors import MissingExtraError, UnsupportedPushdown
from tideflow.models.scorers.base import BaseScorer, Head
from tideflow.models.sql.plan import Feature, ModelPlan, TreesPlan


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise MissingExtraError("onnxruntime", "scoring") from err
    return onnxruntime


def build_onnx(plan: TreesPlan, n_features: int, n_margins: int) -> bytes:
    """Serialized ONNX model computing the raw margins (before divisor and link).

    ``ai.onnx.ml`` opset 5 ``TreeEnsemble``: float64 in, float64 out (opset 3's regressor
    returns float32). A leaf holds one weight, so a tree with several values per leaf (random
    forest classifiers) becomes one tree per value.
    """
    from onnx import TensorProto, helper, numpy_helper

    f32 = plan.float32
    dtype = np.float32 if f32 else np.float64
    roots: list[int] = []
    feat: list[int] = []
    splits: list[float] = []
    modes: list[int] = []
    true_ids: list[int] = []
    true_leaf: list[int] = []
    false_ids: list[int] = []
    false_leaf: list[int] = []
    missing_true: list[int] = []
    leaf_target: list[int] = []
    leaf_weight: list[float] = []
    for tree in plan.trees:
        if tree.zero_missing.any():
            raise UnsupportedPushdown("onnx scorer", "LightGBM zero-as-missing splits have no ONNX form")
        for c in range(tree.values.shape[1]):
            target = tree.offset + c
            if tree.feature[0] < 0:  # a single leaf: a split that goes to the same leaf both ways
                leaf_target.append(target)
                leaf_weight.append(float(tree.values[0, c]))
                roots.append(len(feat))
                feat.append(0)
                splits.append(0.0)
                modes.append(0)
                true_ids.append(len(leaf_weight) - 1)
                false_ids.append(len(leaf_weight) - 1)
                true_leaf.append(1)
                false_leaf.append(1)
                missing_true.append(0)
                continue
            index: dict[int, tuple[int, bool]] = {}
            interior = [i for i in range(len(tree.feature)) if tree.feature[i] >= 0]
            base = len(feat)
            for k, i in enumerate(interior):
                index[i] = (base + k, False)
            for i in range(len(tree.feature)):
                if tree.feature[i] < 0:
                    leaf_target.append(target)
                    leaf_weight.append(float(tree.values[i, c]))
                    index[i] = (len(leaf_weight) - 1, True)
            roots.append(base)
            for i in interior:
                feat.append(int(tree.feature[i]))
                if f32:
                    assert tree.threshold32 is not None
                    splits.append(float(tree.threshold32[i]))
                    modes.append(1)  # BRANCH_LT
                else:
                    splits.append(float(tree.bound[i]))
                    modes.append(1 if tree.strict[i] else 0)  # BRANCH_LT / BRANCH_LEQ
                t_id, t_leaf = index[int(tree.left[i])]
                f_id, f_leaf = index[int(tree.right[i])]
                true_ids.append(t_id)
                true_leaf.append(int(t_leaf))
                false_ids.append(f_id)
                false_leaf.append(int(f_leaf))
                missing_true.append(int(bool(tree.missing_left[i])))
    node = helper.make_node(
        "TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", n_targets=n_margins, aggregate_function=1,
        post_transform=0, tree_roots=roots, nodes_featureids=feat,
        nodes_splits=numpy_helper.from_array(np.asarray(splits, dtype=dtype), "nodes_splits"),
        nodes_modes=numpy_helper.from_array(np.asarray(modes, dtype=np.uint8), "nodes_modes"),
        nodes_truenodeids=true_ids, nodes_trueleafs=true_leaf, nodes_falsenodeids=false_ids,
        nodes_falseleafs=false_leaf, nodes_missing_value_tracks_true=missing_true, leaf_targetids=leaf_target,
        leaf_weights=numpy_helper.from_array(np.asarray(leaf_weight, dtype=dtype), "leaf_weights"),
    )
    elem = TensorProto.FLOAT if f32 else TensorProto.DOUBLE
    graph = helper.make_graph(
        [node], "tideflow_trees", [helper.make_tensor_value_info("X", elem, [None, n_features])],
        [helper.make_tensor_value_info("Y", elem, [None, n_margins])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)])
    model.ir_version = 10
    return bytes(model.SerializeToString())


class OnnxTreeScorer(BaseScorer):
    kind = "onnx_trees"

    def __init__(self, family: str, input_columns: list[str], features: list[Feature], head: Head,
                 onnx_bytes: bytes, divisor: float | None, float32: bool, base: list[float]) -> None:
        super().__init__(family, input_columns, features, head)
        ort = _ort()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # measured: 2 threads were ~2x slower here
        opts.inter_op_num_threads = 1
        self.onnx_bytes = onnx_bytes
        self.session = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
        self.divisor = divisor
        self.float32 = float32
        base_arr = np.asarray(base, dtype=np.float32 if float32 else np.float64)
        self.base = base_arr if np.any(base_arr != 0) else None

    def _margins(self, x: np.ndarray) -> np.ndarray:
        x_in = x.astype(np.float32) if self.float32 else x
        (y,) = self.session.run(None, {"X": x_in})
        if self.base is not None:
            y = y + self.base
        if self.divisor is not None:
            y = y / self.divisor
        return np.asarray(y)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        base = [] if self.base is None else [float(v) for v in self.base]
        self._write_header(path, {"divisor": self.divisor, "float32": self.float32, "base": base})
        (path / "model.onnx").write_bytes(self.onnx_bytes)

    @classmethod
    def load(cls, path: Path, header: dict[str, Any], family: str, columns: list[str], features: list[Feature],
             head: Head) -> OnnxTreeScorer:
        return cls(family, columns, features, head, (path / "model.onnx").read_bytes(), header["divisor"],
                   bool(header["float32"]), header["base"] or [0.0])


def onnx_from_plan(plan: ModelPlan) -> OnnxTreeScorer:
    assert isinstance(plan.model, TreesPlan)
    data = build_onnx(plan.model, len(plan.features), plan.n_margins)
    return OnnxTreeScorer(plan.family, list(plan.input_columns), list(plan.features), Head.from_plan(plan), data,
                          plan.model.divisor, plan.model.float32, [float(v) for v in plan.model.base])
