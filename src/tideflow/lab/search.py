"""Search strategies: which configuration trial N tries. Grid, random, and Bayesian (Optuna TPE).

Trial N trains the algorithm ``N mod len(algorithms)`` (spec order), so every algorithm gets its
share of the budget. Every strategy is deterministic given the seed and the results told to it in
trial order, which is what makes ``resume`` and re-runs reproduce the same search.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tideflow.lab.algorithms import ALGORITHMS, Param
from tideflow.lab.specs import ModelSpec, SearchParam


@dataclass(frozen=True)
class Config:
    trial_id: int
    algorithm: str
    params: dict[str, Any]


def search_space(spec: ModelSpec, algorithm: str) -> dict[str, SearchParam]:
    """The algorithm's default space with the spec's overrides."""
    algo = ALGORITHMS[algorithm]
    space = {name: SearchParam.model_validate(value) for name, value in algo.default_space().items()}
    space.update(spec.algorithms.get(algorithm, {}))
    return space


def _cast(param: Param, value: Any) -> Any:
    if param.kind == "int" and value is not None:
        return round(float(value))
    if param.kind == "float" and value is not None:
        return float(value)
    return value


def _grid_values(param: Param, search: SearchParam, points: int) -> list[Any]:
    if search.kind == "fixed":
        return [_cast(param, search.value)]
    if search.kind == "choices":
        return [_cast(param, v) for v in search.choices or []]
    low, high = float(search.low or 0.0), float(search.high or 0.0)
    if low == high:
        return [_cast(param, low)]
    raw = np.geomspace(low, high, points) if search.log else np.linspace(low, high, points)
    values: list[Any] = []
    for v in raw:
        cast = _cast(param, float(v)) if param.kind == "int" else round(float(v), 8)
        if cast not in values:
            values.append(cast)
    return values


def _sample(param: Param, search: SearchParam, rng: np.random.Generator) -> Any:
    if search.kind == "fixed":
        return _cast(param, search.value)
    if search.kind == "choices":
        choices = list(search.choices or [])
        return _cast(param, choices[int(rng.integers(len(choices)))])
    low, high = float(search.low or 0.0), float(search.high or 0.0)
    if param.kind == "int":
        if search.log:
            value = math.exp(rng.uniform(math.log(low), math.log(high + 1)))
            return int(min(high, max(low, math.floor(value))))
        return int(rng.integers(int(low), int(high) + 1))
    if search.log:
        return round(float(math.exp(rng.uniform(math.log(low), math.log(high)))), 8)
    return round(float(rng.uniform(low, high)), 8)


class Searcher:
    """Asks for the configuration of trial N; is told how it scored."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.algorithms = list(spec.algorithms)
        self.spaces = {a: search_space(spec, a) for a in self.algorithms}
        self._grid: list[tuple[str, dict[str, Any]]] | None = None
        self._studies: dict[str, Any] = {}
        self._pending: dict[int, tuple[str, Any]] = {}

    @property
    def size(self) -> int | None:
        """How many configurations exist (grid), or None when unbounded."""
        return len(self._grid_list()) if self.spec.strategy == "grid" else None

    def ask(self, trial_id: int) -> Config | None:
        strategy = self.spec.strategy
        if strategy == "grid":
            grid = self._grid_list()
            if trial_id >= len(grid):
                return None
            algorithm, params = grid[trial_id]
            return Config(trial_id, algorithm, dict(params))
        algorithm = self.algorithms[trial_id % len(self.algorithms)]
        if strategy == "random":
            rng = np.random.default_rng([self.spec.seed, trial_id])
            space = self.spaces[algorithm]
            params = {name: _sample(ALGORITHMS[algorithm].params[name], s, rng) for name, s in space.items()}
            return Config(trial_id, algorithm, params)
        return self._ask_optuna(trial_id, algorithm)

    def tell(self, trial_id: int, score: float | None, *, pruned: bool = False, rung: int = 0) -> None:
        """The score at the highest rung reached (None when the trial failed)."""
        if trial_id not in self._pending:
            return
        _, trial = self._pending.pop(trial_id)
        algorithm = self.algorithms[trial_id % len(self.algorithms)]
        study = self._studies[algorithm]
        from optuna.trial import TrialState

        if score is None or math.isnan(score):
            study.tell(trial, state=TrialState.FAIL)
        elif pruned:
            trial.report(score, step=rung)
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, score)

    # ------------------------------------------------------------------ internals

    def _grid_list(self) -> list[tuple[str, dict[str, Any]]]:
        if self._grid is None:
            per_algorithm: list[list[tuple[str, dict[str, Any]]]] = []
            for algorithm in self.algorithms:
                params = ALGORITHMS[algorithm].params
                space = self.spaces[algorithm]
                names = list(space)
                axes = [_grid_values(params[n], space[n], self.spec.grid_points) for n in names]
                per_algorithm.append([(algorithm, dict(zip(names, combo, strict=True)))
                                      for combo in itertools.product(*axes)])
            self._grid = [c for group in itertools.zip_longest(*per_algorithm) for c in group if c is not None]
        return self._grid

    def _ask_optuna(self, trial_id: int, algorithm: str) -> Config:
        import optuna

        if algorithm not in self._studies:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            seed = self.spec.seed * 1000 + self.algorithms.index(algorithm)
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)
            direction: Literal["maximize", "minimize"] = "maximize" if self.spec.higher_is_better else "minimize"
            self._studies[algorithm] = optuna.create_study(direction=direction, sampler=sampler)
        study = self._studies[algorithm]
        dists: dict[str, Any] = {}
        fixed: dict[str, Any] = {}
        for name, search in self.spaces[algorithm].items():
            param = ALGORITHMS[algorithm].params[name]
            if search.kind == "fixed":
                fixed[name] = _cast(param, search.value)
            elif search.kind == "choices":
                dists[name] = optuna.distributions.CategoricalDistribution([_cast(param, c) for c in search.choices
                                                                            or []])
            elif param.kind == "int":
                dists[name] = optuna.distributions.IntDistribution(int(search.low or 0), int(search.high or 0),
                                                                   log=search.log)
            elif search.low == search.high:
                fixed[name] = float(search.low or 0.0)
            else:
                dists[name] = optuna.distributions.FloatDistribution(float(search.low or 0.0),
                                                                     float(search.high or 0.0), log=search.log)
        trial = study.ask(dists)
        self._pending[trial_id] = (algorithm, trial)
        params = {**{k: _cast(ALGORITHMS[algorithm].params[k], v) for k, v in trial.params.items()}, **fixed}
        ordered = {name: params[name] for name in self.spaces[algorithm]}
        return Config(trial_id, algorithm, ordered)
