"""Reporters: tell people how a scenario run went (a webhook, a log file).

A report is a flat JSON object: ``scenario``, ``run_id``, ``outcome``, ``failed_step``, ``message``,
``trigger``, ``started_at``, ``finished_at``, ``steps`` (name, type, outcome, attempts, seconds).
The webhook POSTs it (retrying with exponential backoff); the log file appends one JSON line.
Secrets (a URL or header values taken from the environment) never appear in messages or logs:
errors name the reporter and the environment variable, never its value.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tideflow.automation.scenarios import LogFileReporter, WebhookReporter

Reporter = WebhookReporter | LogFileReporter


class ReportError(Exception):
    """A report could not be delivered; the message holds no secret."""


@dataclass(frozen=True)
class Delivery:
    reporter: str
    ok: bool
    attempts: int
    message: str


def wants(reporter: Reporter, outcome: str) -> bool:
    """Whether ``reporter`` reports a run that ended with ``outcome`` (succeeded / failed)."""
    if reporter.on == "always":
        return True
    return (reporter.on == "failure") == (outcome == "failed")


def _env(name: str, reporter: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ReportError(f"reporter {reporter!r}: environment variable {name} is not set")
    return value


def _post(reporter: WebhookReporter, body: bytes) -> None:
    url = reporter.url if reporter.url is not None else _env(str(reporter.url_env), reporter.name)
    headers = {"Content-Type": "application/json", "User-Agent": "tideflow-automation"}
    headers.update(reporter.headers)
    headers.update({h: _env(var, reporter.name) for h, var in reporter.headers_env.items()})
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    where = f"${reporter.url_env}" if reporter.url_env else str(reporter.url)
    try:
        with urllib.request.urlopen(request, timeout=reporter.timeout_s) as response:
            response.read()
    except urllib.error.HTTPError as err:
        raise ReportError(f"reporter {reporter.name!r}: {where} answered HTTP {err.code}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ReportError(f"reporter {reporter.name!r}: cannot reach {where}: {type(reason).__name__}") from None


def send_webhook(reporter: WebhookReporter, report: dict[str, Any], *, sleep: Any = time.sleep) -> Delivery:
    """POST ``report``; retry ``reporter.retries`` times with exponential backoff."""
    body = json.dumps(report, default=str).encode()
    attempts = 0
    last = ""
    for attempt in range(reporter.retries + 1):
        attempts = attempt + 1
        try:
            _post(reporter, body)
            return Delivery(reporter.name, True, attempts, "delivered")
        except ReportError as err:
            last = str(err)
            if "is not set" in last:
                break
            if attempt < reporter.retries:
                sleep(reporter.backoff_s * 2 ** attempt)
    return Delivery(reporter.name, False, attempts, f"{last} (after {attempts} attempt(s))")


def write_log_line(reporter: LogFileReporter, report: dict[str, Any], project_root: Path) -> Delivery:
    path = project_root / reporter.path
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"at": stamp, **report}, default=str) + "\n")
    return Delivery(reporter.name, True, 1, f"appended to {reporter.path}")


def deliver(reporter: Reporter, report: dict[str, Any], project_root: Path) -> Delivery:
    """Send ``report`` through ``reporter``; never raises for a delivery problem."""
    if isinstance(reporter, WebhookReporter):
        return send_webhook(reporter, report)
    try:
        return write_log_line(reporter, report, project_root)
    except OSError as err:
        return Delivery(reporter.name, False, 1, f"reporter {reporter.name!r}: cannot write {reporter.path}: {err}")
