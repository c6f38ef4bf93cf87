"""docs/monitoring.md is part of the contract: its YAML example validates and its checks run."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tideflow.monitoring import Batch, DriftThresholds, Monitor, MonitorSpec, run_drift_checks

from .conftest import transactions

DOC = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_yaml_example_validates_and_its_checks_run(monitored_project: Path) -> None:
    blocks = [b for b in yaml_blocks() if b.startswith("# monitoring/")]
    assert len(blocks) == 1
    spec = MonitorSpec.model_validate(yaml.safe_load(blocks[0]))
    assert [c.label for c in spec.checks] == ["no_overall_drift", "amount_stable", "drifting_features", "auc_holds"]
    assert spec.drift_thresholds() == DriftThresholds()  # the example shows the defaults
    monitor = Monitor(monitored_project / ".tide", thresholds=DriftThresholds(domain_trees=30))
    evaluation = monitor.evaluate("fraud", None, Batch(transactions(1500, seed=1), "dataset:tx"),
                                  Batch(transactions(800, seed=2), "dataset:tx_same"), now=1.0, record=False)
    outcomes, skipped = run_drift_checks(spec.checks, evaluation)
    assert skipped == [] and {o.outcome for o in outcomes} == {"ok"}


def test_documented_defaults_match_the_code() -> None:
    text = DOC.read_text()
    defaults = DriftThresholds()
    for name in ("alpha", "psi_threshold", "psi_bins", "psi_eps", "max_categories", "min_expected",
                 "domain_auc_threshold", "domain_z", "domain_max_rows", "auc_drop", "relative_increase"):
        row = re.search(rf"^\| `{name}` \| ([^|]+) \|", text, flags=re.M)
        assert row is not None, name
        assert float(row.group(1)) == float(getattr(defaults, name)), name
