"""Drift metrics are metrics like any other: each evaluation is recorded in the checks' metric history.

Under the name ``model:<name>`` (``checks_specs.model_history_name``) and the version
``v<model version>@<data version>``, one value per metric of ``Evaluation.metrics()`` (``Measure(kind=metric,
column=feature)``), with the drift checks' outcomes. Dataset checks (``{model: NAME, metric: psi,
column: amount}``) and scenario step conditions read them back from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tideflow.monitoring.evaluation import Evaluation
from tideflow.monitoring.specs import DriftCheckOutcome
from tideflow.project.checks_specs import model_history_name

if TYPE_CHECKING:
    from tideflow.checks import Measure, MetricValue


def metric_values(evaluation: Evaluation) -> dict[Measure, MetricValue]:
    """The evaluation's metrics keyed as the checks' history keys them."""
    from tideflow.checks import Measure  # on use: importing monitoring loads no checks

    return {Measure(kind=metric, column=feature): value for (metric, feature), value in evaluation.metrics().items()}


def record_evaluation(state_path: Path, evaluation: Evaluation,
                      outcomes: Sequence[DriftCheckOutcome] = ()) -> str:
    """Write the evaluation's metrics and drift-check outcomes to the checks' history (``state_path``: the
    project's ``.tide/state.db``); returns the version they are recorded under."""
    from tideflow.checks import CheckOutcome, MetricHistory

    name = model_history_name(evaluation.model)
    version = f"v{evaluation.version}@{evaluation.current.data_version or evaluation.current.fingerprint}"
    checked = [CheckOutcome(dataset=name, check=o.check, rule=o.rule, outcome=o.outcome, expected=o.expected,
                            got=o.got, severity=o.severity) for o in outcomes]
    MetricHistory(state_path).record(name, version, metric_values(evaluation), checked, now=evaluation.created_at)
    return version


__all__ = ["metric_values", "record_evaluation"]
