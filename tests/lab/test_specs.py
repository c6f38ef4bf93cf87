"""Bad model specs fail before any trial starts, naming the file, the line and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tideflow.errors import ProjectError, TideflowError
from tideflow.lab import load_model_spec, parse_model_spec, train
from tideflow.lab.search import Searcher, search_space
from tideflow.project import load_project
from tideflow.project.yamlfile import loads, read_yaml

from .conftest import FRAUD_SPEC, ProjectMaker

BASE = "input: tx\ntarget: is_fraud\ntask: binary\n"


def parse(text: str, tmp: Path | None = None) -> Any:
    """Validate spec text; with ``tmp``, read it from a file so errors carry line numbers."""
    if tmp is None:
        return parse_model_spec(loads(text), shown="models/m.yaml").spec
    path = tmp / "m.yaml"
    path.write_text(text)
    data, lines = read_yaml(path, "models/m.yaml")
    return parse_model_spec(data, shown="models/m.yaml", lines=lines).spec


def test_a_minimal_spec_takes_the_defaults() -> None:
    spec = parse(BASE + "algorithms: [logistic, lightgbm]\n")
    assert list(spec.algorithms) == ["logistic", "lightgbm"]
    assert spec.metric_name == "auc" and spec.strategy == "bayesian" and spec.resources == "default"
    assert spec.early_stopping.method == "asha" and spec.budget.trials == 20


@pytest.mark.parametrize(("text", "match"), [
    (BASE + "algorithms: [logistic, lightgmb]\n", r"models/m.yaml:4 at algorithms.lightgmb: unknown algorithm "
                                                  r"'lightgmb': did you mean 'lightgbm'\?"),
    (BASE + "algorithms: [linear]\n", r"algorithm 'linear' cannot be trained for a binary task: use 'logistic'"),
    (BASE + "algorithms:\n  lightgbm:\n    learning_rate: {low: 0, high: 0.3}\n",
     r"at algorithms.lightgbm.learning_rate: search space outside the valid range of lightgbm.learning_rate: "
     r"expected a number in \(0, inf\], got 0.0"),
    (BASE + "algorithms:\n  random_forest:\n    max_features: [0.5, 1.5]\n",
     r"algorithms.random_forest.max_features: .*got 1.5"),
    (BASE + "algorithms:\n  knn:\n    n_neighbors: {low: 2.5, high: 9}\n", r"expected an integer in \[1, inf\]"),
    (BASE + "algorithms:\n  knn:\n    weights: {low: 1, high: 2}\n", r"weights of knn takes one of 'uniform', "
                                                                    r"'distance': give a list"),
    (BASE + "algorithms:\n  knn:\n    weights: [uniform, gaussian]\n", r"got 'gaussian'"),
    (BASE + "algorithms:\n  xgboost:\n    depth: 3\n", r"unknown parameter 'depth' of xgboost"),
    (BASE + "algorithms:\n  lightgbm:\n    learning_rate: {low: 0.3, high: 0.1}\n",
     r"m.yaml:6 at algorithms.lightgbm.learning_rate: low \(0.3\) is greater than high \(0.1\)"),
    (BASE + "algorithms:\n  lightgbm:\n    reg_lambda: {low: 0, high: 1, log: true}\n", r"a log range needs low > 0"),
    (BASE + "algorithms: [logistic]\nmetric: rmse\n", r"at metric: metric 'rmse' is not for a binary task"),
    (BASE + "algorithms: [logistic]\nstrategy: bayes\n", r"strategy.*expected one of 'grid', 'random' or "
                                                         r"'bayesian', got 'bayes'"),
    (BASE + "algorithms: [logistic]\nsplit: {method: time}\n", r"a time split needs 'column'"),
    (BASE + "algorithms: [logistic]\nbudgett: {trials: 3}\n", r"unknown key 'budgett': did you mean 'budget'\?"),
    (BASE + "algorithms: {}\n", r"algorithms.*at least 1 item"),
])
def test_bad_specs_name_the_field(text: str, match: str, tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=match):
        parse(text, tmp_path)


def test_user_overrides_replace_the_default_search_space() -> None:
    spec = parse(BASE + "algorithms:\n  lightgbm:\n    num_leaves: [15, 31]\n    n_estimators: 100\n")
    space = search_space(spec, "lightgbm")
    assert space["num_leaves"].choices == [15, 31]
    assert space["n_estimators"].kind == "fixed" and space["n_estimators"].value == 100
    assert space["learning_rate"].log and space["learning_rate"].low == 0.01


def test_grid_enumerates_every_combination_round_robin() -> None:
    spec = parse(BASE + "strategy: grid\ngrid_points: 2\nalgorithms:\n  knn: {n_neighbors: [5, 15], p: 2}\n"
                 "  logistic: {C: {low: 0.1, high: 10, log: true}, class_weight: [null]}\n")
    searcher = Searcher(spec)
    configs = [searcher.ask(i) for i in range(searcher.size or 0)]
    assert searcher.size == 2 * 2 + 2
    assert [c.algorithm for c in configs if c][:4] == ["knn", "logistic", "knn", "logistic"]
    assert searcher.ask(searcher.size or 0) is None


def test_random_search_is_a_function_of_seed_and_trial() -> None:
    spec = parse(BASE + "strategy: random\nseed: 3\nalgorithms: [random_forest, lightgbm]\n")
    first = [Searcher(spec).ask(i) for i in range(4)]
    again = [Searcher(spec).ask(i) for i in range(4)]
    assert first == again
    assert first[0] is not None and first[0].algorithm == "random_forest"


def test_unknown_dataset_and_profile_are_caught_when_loading(lab_project: ProjectMaker) -> None:
    root = lab_project({"a": BASE.replace("tx", "txs") + "algorithms: [logistic]\n",
                        "b": BASE + "algorithms: [logistic]\nresources: gpu\n"})
    project = load_project(root)
    with pytest.raises(ProjectError, match=r"models/a.yaml:1 at input: unknown dataset 'txs': did you mean 'tx'\?"):
        load_model_spec(project, "a")
    with pytest.raises(ProjectError, match=r"models/b.yaml:5 at resources: unknown resource profile 'gpu'"):
        load_model_spec(project, "b")
    with pytest.raises(ProjectError, match=r"unknown model 'c'"):
        load_model_spec(project, "c")


def test_a_missing_target_fails_before_any_trial(lab_project: ProjectMaker, lab_runtime: object) -> None:
    root = lab_project({"fraud": FRAUD_SPEC.replace("target: is_fraud", "target: is_fraudd")})
    events: list[str] = []
    with pytest.raises(ProjectError, match=r"models/fraud.yaml:2 at target: target 'is_fraudd' is not a column of "
                                           r"dataset 'tx': did you mean 'is_fraud'\?"):
        train(load_project(root), "fraud", runtime=lab_runtime, on_event=lambda e: events.append(e.kind))
    assert events == []
    assert not (Path(root) / ".tide" / "lab.db").exists()


def test_an_infeasible_profile_fails_before_any_trial(lab_project: ProjectMaker, lab_runtime: object) -> None:
    config = "name: lab\ncompute:\n  profiles:\n    default: {cpu: 1}\n    huge: {cpu: 64, gpu: 8}\n"
    root = lab_project({"fraud": FRAUD_SPEC + "resources: huge\n"}, config=config)
    events: list[str] = []
    with pytest.raises(TideflowError, match=r"models/fraud.yaml at resources"):
        train(load_project(root), "fraud", runtime=lab_runtime, on_event=lambda e: events.append(e.kind))
    assert events == []


def test_rungs_never_add_a_rung_a_hair_below_the_full_resource() -> None:
    from types import SimpleNamespace

    from tideflow.lab.specs import EarlyStoppingSpec
    from tideflow.lab.training import rungs

    def of(**kw: object) -> list[float]:
        return rungs(SimpleNamespace(spec=SimpleNamespace(early_stopping=EarlyStoppingSpec(**kw))))  # type: ignore[arg-type]

    assert of() == [round(1 / 9, 6), round(1 / 3, 6), 1.0]  # 1/9 x 3 x 3 = 0.999...: not a rung of its own
    assert of(min_fraction=0.1111) == [0.1111, 0.3333, 1.0]
    assert of(min_fraction=0.34) == [0.34, 1.0]
    assert of(min_fraction=0.25, reduction_factor=2) == [0.25, 0.5, 1.0]
    assert of(method="none") == [1.0]


def test_promotion_keeps_a_bracket_to_its_share_even_when_it_beats_every_earlier_one() -> None:
    from tideflow.lab.training import promote

    earlier = [0.50, 0.51, 0.52, 0.53, 0.54, 0.55, 0.56, 0.57, 0.58]
    bracket = {10 + i: 0.90 + i / 100 for i in range(9)}  # all better than anything before
    everything = earlier + list(bracket.values())
    assert promote(bracket, everything, 3, higher=True) == [16, 17, 18]  # 1/3 of the bracket, its best
    # a bracket worse than the history: ASHA's global cut-off keeps only its best
    worse = {20 + i: 0.10 + i / 100 for i in range(9)}
    assert promote(worse, everything + list(worse.values()), 3, higher=True) == [28]
    # lower is better (e.g. log loss): the smallest scores go on
    assert promote({1: 0.3, 2: 0.1, 3: 0.2}, [0.3, 0.1, 0.2], 3, higher=False) == [2]
    assert promote({}, everything, 3, higher=True) == []
