"""Automation: scenarios (triggers, steps, reporters), bundles and the deployer."""

from tideflow.automation.bundles import BundleError, create_bundle, verify_bundle
from tideflow.automation.deploy import deploy_bundle, node_status, rollback
from tideflow.automation.node import Node
from tideflow.automation.runs import RunHistory, RunRecord
from tideflow.automation.scenarios import ScenarioSpec
from tideflow.automation.scenarios_loading import load_scenario, load_scenarios, parse_scenario
from tideflow.automation.scenarios_run import ScenarioBusy, run_scenario
from tideflow.automation.triggers import CronError, parse_cron

__all__ = [
    "BundleError",
    "CronError",
    "Node",
    "RunHistory",
    "RunRecord",
    "ScenarioBusy",
    "ScenarioSpec",
    "create_bundle",
    "deploy_bundle",
    "load_scenario",
    "load_scenarios",
    "node_status",
    "parse_cron",
    "parse_scenario",
    "rollback",
    "run_scenario",
    "verify_bundle",
]
