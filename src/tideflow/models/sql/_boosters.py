"""LightGBM and XGBoost models as tree plans, read from their own JSON dumps."""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

import numpy as np

from tideflow.errors import UnsupportedPushdown
from tideflow.models.sql.floats import f32_lt_bound
from tideflow.models.sql.plan import Feature, ModelPlan, Tree, TreesPlan, py_value

_LGB_IDENTITY = {"regression", "regression_l1", "huber", "fair", "quantile", "mape", "lambdarank", "rank_xendcg"}
_LGB_EXP = {"poisson", "gamma", "tweedie"}


def _lgb_tree(structure: dict[str, Any], where: str, offset: int) -> Tree:
    feature: list[int] = []
    bound: list[float] = []
    missing_left: list[bool] = []
    zero_missing: list[bool] = []
    left: list[int] = []
    right: list[int] = []
    values: list[float] = []

    def visit(node: dict[str, Any]) -> int:
        idx = len(feature)
        feature.append(-1)
        bound.append(0.0)
        missing_left.append(False)
        zero_missing.append(False)
        left.append(-1)
        right.append(-1)
        values.append(0.0)
        if "leaf_value" in node:
            values[idx] = float(node["leaf_value"])
            return idx
        if node["decision_type"] != "<=":
            raise UnsupportedPushdown(where, "LightGBM categorical splits are not supported; one-hot encode instead")
        thr = float(node["threshold"])
        feature[idx] = int(node["split_feature"])
        bound[idx] = thr
        kind = node.get("missing_type", "None")
        if kind == "None":  # NaN becomes 0.0, then the comparison decides
            missing_left[idx] = thr >= 0.0
        elif kind == "Zero":
            zero_missing[idx] = True
            missing_left[idx] = bool(node["default_left"])
        else:
            missing_left[idx] = bool(node["default_left"])
        left_idx = visit(node["left_child"])
        right_idx = visit(node["right_child"])
        left[idx], right[idx] = left_idx, right_idx
        return idx

    visit(structure)
    n = len(feature)
    return Tree(
        np.asarray(feature, dtype=np.int64), np.asarray(bound), np.zeros(n, dtype=bool),
        np.asarray(missing_left, dtype=bool), np.asarray(zero_missing, dtype=bool),
        np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64),
        np.asarray(values).reshape(-1, 1), offset,
    )


def plan_lightgbm(est: Any, where: str, columns: tuple[str, ...], features: tuple[Feature, ...]) -> ModelPlan:
    is_booster = type(est).__name__ == "Booster"
    booster = est if is_booster else est.booster_
    dump = booster.dump_model()
    objective = str(dump.get("objective", "regression")).split()
    name = objective[0]
    params = dict(p.split(":", 1) for p in objective[1:] if ":" in p)
    per_iteration = int(dump["num_tree_per_iteration"])
    if len(features) != int(dump["max_feature_idx"]) + 1:
        raise UnsupportedPushdown(where, f"the booster has {dump['max_feature_idx'] + 1} features, got {len(features)}")
    sigmoid = 1.0
    if name in ("binary",):
        link = "logistic"
        sigmoid = float(params.get("sigmoid", 1.0))
    elif name in ("cross_entropy", "xentropy"):
        link = "logistic"
    elif name == "multiclass":
        link = "softmax"
    elif name in _LGB_IDENTITY:
        link = "identity"
    elif name in _LGB_EXP:
        link = "exp"
    else:
        raise UnsupportedPushdown(where, f"the LightGBM objective {name!r} is not supported")
    if any(info.get("tree_structure", {}).get("leaf_coeff") for info in dump["tree_info"]) or booster.params.get(
        "linear_tree"
    ):
        raise UnsupportedPushdown(where, "LightGBM linear trees are not supported")
    trees = tuple(
        _lgb_tree(info["tree_structure"], where, i % per_iteration) for i, info in enumerate(dump["tree_info"])
    )
    divisor = float(len(trees) // per_iteration) if dump.get("average_output") else None
    classifier = name in ("binary", "multiclass") and (not is_booster or name == "multiclass")
    if classifier:
        classes = (
            tuple(range(per_iteration)) if is_booster else tuple(py_value(c) for c in np.asarray(est.classes_).tolist())
        )
    else:
        classes = None
    return ModelPlan(
        family="lightgbm", estimator=type(est).__name__, input_columns=columns, features=features,
        model=TreesPlan(trees, np.zeros(per_iteration), divisor=divisor, sigmoid_scale=sigmoid),
        n_margins=per_iteration, link=link, classes=classes,  # type: ignore[arg-type]
        label_rule="argmax_proba" if classifier else "none",
    )


# --------------------------------------------------------------------------------------------------
# XGBoost

_XGB_IDENTITY = {"reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror", "binary:logitraw",
                 "reg:linear", "rank:pairwise", "rank:ndcg", "rank:map"}
_XGB_LOGISTIC = {"binary:logistic", "reg:logistic"}
_XGB_EXP = {"count:poisson", "reg:gamma", "reg:tweedie"}


def _xgb_tree(tree: dict[str, Any], where: str) -> Tree:
    left = np.asarray(tree["left_children"], dtype=np.int64)
    right = np.asarray(tree["right_children"], dtype=np.int64)
    cond = np.asarray(tree["split_conditions"], dtype=np.float32)
    if any(int(t) != 0 for t in tree.get("split_type", [])):
        raise UnsupportedPushdown(where, "XGBoost categorical splits are not supported; one-hot encode instead")
    if int(tree["tree_param"].get("size_leaf_vector", "1")) > 1:
        raise UnsupportedPushdown(where, "XGBoost multi-target trees are not supported")
    n = len(left)
    leaf = left < 0
    feature = np.where(leaf, -1, np.asarray(tree["split_indices"], dtype=np.int64))
    bound = np.zeros(n)
    strict = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(~leaf):
        bound[i], strict[i] = f32_lt_bound(float(cond[i]))  # XGBoost: fl32(x) < split_condition goes left
    values = np.where(leaf, cond.astype(np.float64), 0.0).reshape(-1, 1)
    return Tree(
        feature, bound, strict, np.asarray(tree["default_left"], dtype=bool), np.zeros(n, dtype=bool),
        left, right, values, 0, threshold32=cond,
    )


def eval_tree(tree: Tree, row: np.ndarray) -> int:
    """The leaf a float64 row reaches (the plan's own semantics; used to check plans)."""
    node = 0
    while tree.feature[node] >= 0:
        x = float(row[tree.feature[node]])
        if math.isnan(x) or (tree.zero_missing[node] and abs(x) <= 1.0000000180025095e-35):
            go_left = bool(tree.missing_left[node])
        else:
            go_left = x < tree.bound[node] if tree.strict[node] else x <= tree.bound[node]
        node = int(tree.left[node] if go_left else tree.right[node])
    return node


def _xgb_base_margin(objective: str, base_score: float, where: str) -> np.float32:
    b = np.float32(base_score)
    with np.errstate(all="ignore"):
        if objective in _XGB_LOGISTIC:
            return np.float32(-np.log(np.float32(1.0) / b - np.float32(1.0)))
        if objective in _XGB_EXP:
            return np.float32(np.log(b))
    return b


def _probe_rows(trees: tuple[Tree, ...], n_features: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    thresholds: list[list[float]] = [[] for _ in range(n_features)]
    for tree in trees[:50]:
        for f, b in zip(tree.feature, tree.bound, strict=True):
            if f >= 0 and math.isfinite(b):
                thresholds[int(f)].append(float(b))
    rows = [np.full(n_features, np.nan)]
    for _ in range(15):
        row = np.array([rng.choice(t) + rng.normal() * 1e-3 if t else 0.0 for t in thresholds])
        rows.append(row)
    return np.asarray(rows)


def plan_xgboost(est: Any, where: str, columns: tuple[str, ...], features: tuple[Feature, ...]) -> ModelPlan:
    booster = est.get_booster()
    raw = json.loads(booster.save_raw("json"))
    learner = raw["learner"]
    gb = learner["gradient_booster"]
    if gb.get("name") != "gbtree":
        raise UnsupportedPushdown(where, f"the XGBoost booster {gb.get('name')!r} is not supported; use 'gbtree'")
    missing = getattr(est, "missing", np.nan)
    if missing is not None and not (isinstance(missing, float) and math.isnan(missing)):
        raise UnsupportedPushdown(where, f"XGBoost missing={missing!r}: only NaN (NULL) is supported")
    objective = learner["objective"]["name"]
    params = learner["learner_model_param"]
    n_groups = max(1, int(params.get("num_class", "0")))
    if n_groups > 1:
        raise UnsupportedPushdown(
            where, "multiclass XGBoost is not supported: its float32 softmax cannot be reproduced to 1e-9 in SQL"
        )
    if objective in _XGB_LOGISTIC:
        link = "logistic"
    elif objective in _XGB_EXP:
        link = "exp"
    elif objective in _XGB_IDENTITY:
        link = "identity"
    else:
        raise UnsupportedPushdown(where, f"the XGBoost objective {objective!r} is not supported")
    all_trees = gb["model"]["trees"]
    begin, end = 0, 0
    with contextlib.suppress(AttributeError, TypeError):
        begin, end = est._get_iteration_range(None)
    per_round = int(gb["model"]["gbtree_model_param"].get("num_parallel_tree", "1")) * n_groups
    selected = all_trees[begin * per_round : (end * per_round if end else None)]
    trees = tuple(_xgb_tree(t, where) for t in selected)
    base = _exact_base(booster, objective, float(str(params["base_score"]).strip("[]")), trees, len(features),
                       (begin, end), where)
    classifier = type(est).__name__ == "XGBClassifier"
    return ModelPlan(
        family="xgboost", estimator=type(est).__name__, input_columns=columns, features=features,
        model=TreesPlan(trees, np.array([float(base)]), float32=True), n_margins=1, link=link,  # type: ignore[arg-type]
        classes=tuple(py_value(c) for c in np.asarray(est.classes_).tolist()) if classifier else None,
        label_rule="proba_gt_half" if classifier else "none",
    )


def _exact_base(
    booster: Any, objective: str, base_score: float, trees: tuple[Tree, ...], n_features: int,
    iteration_range: tuple[int, int], where: str,
) -> np.float32:
    """The float32 base margin, checked against XGBoost's own margins on probe rows."""
    rows = _probe_rows(trees, n_features)
    expected = np.asarray(
        booster.inplace_predict(rows, predict_type="margin", iteration_range=iteration_range), dtype=np.float32
    ).reshape(-1)
    leaves = [[np.float32(t.values[eval_tree(t, row), 0]) for t in trees] for row in rows]

    def margins(base: np.float32) -> np.ndarray:
        out = []
        for row_leaves in leaves:
            acc = base
            for v in row_leaves:
                acc = np.float32(acc + v)
            out.append(acc)
        return np.asarray(out, dtype=np.float32)

    guess = _xgb_base_margin(objective, base_score, where)
    candidates = [guess]
    up = down = guess
    for _ in range(64):
        up = np.nextafter(up, np.float32(np.inf))
        down = np.nextafter(down, np.float32(-np.inf))
        candidates += [up, down]
    for candidate in candidates:
        if np.array_equal(margins(candidate), expected):
            return candidate
    raise UnsupportedPushdown(
        where, "the XGBoost model's margins could not be reproduced exactly (float32 check failed)"
    )
