"""Triggers: a small cron parser, the missed-run policy (pure), and what data triggers observe.

Time triggers use standard 5-field cron (minute hour day-of-month month day-of-week) in a named
time zone; ``@hourly``, ``@daily``, ``@weekly``, ``@monthly`` and ``@yearly`` are accepted. When
both day fields are restricted a day matches either of them (as in Vixie cron).

``time_firings`` is the whole scheduling decision: a pure function of the cron, the last scheduled
time already handled, ``now``, the grace window and the ``missed`` policy. A scheduled time that
passed more than ``grace_s`` ago (the node was down, asleep or busy) is *missed*: with
``missed: skip`` it is recorded and not run; with ``missed: run_once`` all missed times together
cause one run. Nothing is ever caught up silently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tideflow.errors import a

MissedPolicy = Literal["skip", "run_once"]

_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}), ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_SEARCH_DAYS = 366 * 5


class CronError(ValueError):
    """A cron expression is invalid; the message names the field, expected and got."""


def _value(text: str, field: str, low: int, high: int, names: dict[str, int]) -> int:
    key = text.lower()
    if key in names:
        return names[key]
    try:
        number = int(text)
    except ValueError:
        hint = f" or a name ({', '.join(names)})" if names else ""
        raise CronError(f"{field}: expected a number {low}-{high}{hint}, got {text!r}") from None
    if not low <= number <= high:
        raise CronError(f"{field}: expected a number {low}-{high}, got {number}")
    return number


def _field(text: str, field: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise CronError(f"{field}: expected a step of 1 or more after '/', got {step_text!r}")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = _value(a, field, low, high, names), _value(b, field, low, high, names)
            if first > last:
                raise CronError(f"{field}: a range must go up, got {base!r}")
        else:
            first = _value(base, field, low, high, names)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression. ``next_after`` works on wall-clock time in ``tz``."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def _day_ok(self, day: dt.date) -> bool:
        in_days = day.day in self.days
        in_weekdays = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays

    def next_after(self, when: dt.datetime) -> dt.datetime:
        """The first scheduled wall-clock minute strictly after ``when`` (naive, local to the trigger)."""
        t = when.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        limit = t + dt.timedelta(days=_SEARCH_DAYS)
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + dt.timedelta(days=32)).replace(day=1)
            elif not self._day_ok(t.date()):
                t = t.replace(hour=0, minute=0) + dt.timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + dt.timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += dt.timedelta(minutes=1)
            else:
                return t
        raise CronError(f"{self.expression!r} never fires (no matching day in {_SEARCH_DAYS // 366} years)")


def parse_cron(expression: str) -> Cron:
    """Parse a 5-field cron expression (or an @macro); raise ``CronError`` naming the bad field."""
    text = _MACROS.get(expression.strip().lower(), expression.strip())
    parts = text.split()
    if len(parts) != 5:
        raise CronError(f"expected 5 fields (minute hour day-of-month month day-of-week) or one of "
                        f"{', '.join(_MACROS)}, got {len(parts)} field(s) in {expression!r}")
    sets = [_field(p, name, low, high, names) for p, (name, low, high, names) in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in sets[4])
    cron = Cron(expression=expression, minutes=sets[0], hours=sets[1], days=sets[2], months=sets[3],
                weekdays=weekdays, days_restricted=parts[2] != "*", weekdays_restricted=parts[4] != "*")
    cron.next_after(dt.datetime(2000, 1, 1))  # e.g. "0 0 31 2 *" never fires
    return cron


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: expected an IANA name such as 'UTC' or "
                         "'Europe/Paris'") from None


def scheduled_between(cron: Cron, tz: str, after_s: float, until_s: float, limit: int = 10_000) -> list[float]:
    """Scheduled times (epoch seconds) in ``(after_s, until_s]``, at most ``limit`` of them."""
    info = zone(tz)
    local = dt.datetime.fromtimestamp(after_s, info).replace(tzinfo=None)
    out: list[float] = []
    while len(out) < limit:
        local = cron.next_after(local)
        epoch = local.replace(tzinfo=info).timestamp()
        if epoch > until_s:
            break
        if epoch > after_s:
            out.append(epoch)
    return out


@dataclass(frozen=True)
class TimeFiring:
    """What a time trigger does now: ``run`` or not, the missed times, the new ``last_s`` to store."""

    run: bool
    on_time: list[float]
    missed: list[float]
    last_s: float


def time_firings(cron: Cron, tz: str, last_s: float | None, now_s: float, *, grace_s: float,
                 missed: MissedPolicy) -> TimeFiring:
    """The scheduling decision of one time trigger (pure).

    ``last_s`` is the latest scheduled time already handled (None on a node's first start: nothing
    before ``now_s`` counts as missed). Times within ``grace_s`` of ``now_s`` are on time.
    """
    if last_s is None:
        return TimeFiring(run=False, on_time=[], missed=[], last_s=now_s)
    due = scheduled_between(cron, tz, last_s, now_s)
    if not due:
        return TimeFiring(run=False, on_time=[], missed=[], last_s=last_s)
    on_time = [t for t in due if now_s - t <= grace_s]
    late = [t for t in due if now_s - t > grace_s]
    run = bool(on_time) or (bool(late) and missed == "run_once")
    return TimeFiring(run=run, on_time=on_time, missed=late, last_s=due[-1])


def result_digest(rows: Iterable[Any]) -> str:
    """A stable digest of a query result (rows as tuples or dicts)."""
    h = hashlib.sha256()
    for row in rows:
        h.update(repr(row).encode())
        h.update(b"\n")
    return h.hexdigest()[:32]


def check_read_only(sql: str, dialect: str) -> str | None:
    """None when ``sql`` is one read-only query (SELECT / UNION / WITH ... SELECT), else why not."""
    import sqlglot
    from sqlglot import exp

    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as err:
        from tideflow.recipes.expressions import syntax_problem

        return syntax_problem(err, sql, what=f"{dialect} query")[0]
    except RecursionError:
        from tideflow.recipes.expressions import TOO_DEEP

        return f"the {dialect} query is {TOO_DEEP}"
    if len(statements) != 1:
        return f"expected exactly one SELECT statement, got {len(statements)}"
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        return f"expected a read-only SELECT, got {a(tree.key.upper())} statement"
    writes = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Command,
              exp.Into, exp.Copy)
    for node in tree.walk():
        if isinstance(node, writes):
            return f"expected a read-only SELECT, found {node.key.upper()} inside it"
    return None
