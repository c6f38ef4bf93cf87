"""The leaderboard of a search: trials ranked by rung reached, then score. Data only; the CLI draws it."""

from __future__ import annotations

from dataclasses import dataclass

from tideflow.errors import TideflowError
from tideflow.lab.loading import spec_path
from tideflow.lab.store import RunRow, TrialRow, TrialStore
from tideflow.project import Project


def rank(rows: list[TrialRow], higher_is_better: bool) -> list[TrialRow]:
    """Scored trials first: higher rung first, then better score; then unscored, by id."""
    def key(row: TrialRow) -> tuple[int, int, float, int]:
        if row.score is None:
            return (1, 0, 0.0, row.trial_id)
        return (0, -row.rung, -row.score if higher_is_better else row.score, row.trial_id)

    return sorted(rows, key=key)


@dataclass(frozen=True)
class Leaderboard:
    model: str
    run: RunRow | None
    metric: str
    higher_is_better: bool
    rows: list[TrialRow]

    def ranked(self) -> list[TrialRow]:
        return rank(self.rows, self.higher_is_better)

    @property
    def best(self) -> TrialRow | None:
        ranked = self.ranked()
        return ranked[0] if ranked and ranked[0].score is not None else None


def leaderboard(project: Project, name: str, run_id: str | None = None) -> Leaderboard:
    """The trials of the latest run of ``name`` (or of ``run_id``), as stored."""
    spec_path(project, name)  # unknown model -> error with a suggestion
    with TrialStore(project.state_dir) as store:
        runs = store.runs(name)
        if run_id is not None:
            runs = [r for r in runs if r.run_id == run_id]
            if not runs:
                raise TideflowError(f"no run {run_id!r} of model {name!r}")
        if not runs:
            raise TideflowError(f"model {name!r} has not been trained yet: run 'tide lab train {name}'")
        run = runs[0]
        rows = store.trials(run.run_id)
    return Leaderboard(name, run, run.metric, run.higher_is_better, rank(rows, run.higher_is_better))
