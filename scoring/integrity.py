"""Integrity flags: patterns staff should look at before locking a quarter. Never an exclusion.

Each flag names its subject (a unit and institution type, or the channel), its window and counts:
- `burst`: an hour in which a unit received far more respondents than its usual hourly rate;
- `first_time_dominated`: a unit cell whose respondents are mostly first seen this quarter, well
  above the quarter's share of newcomers;
- `over_daily_limit`: callers who reached the daily session limit on a local day.
A scan replaces the period's flags (it is idempotent); counting happens in SQL, grouped by hour or
day, so a scan never loads answers one by one. A scan is batch work: on PostgreSQL its transaction
lifts the engine's per-statement timeout (set for USSD hops) to 10 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from gateway.models import Answer, InstitutionUnit, IntegrityFlag, Respondent, UssdSession
from scoring.periods import LOCAL_TZ, quarter_bounds


@dataclass(frozen=True)
class IntegrityRules:
    burst_min: int = 20
    burst_factor: float = 5.0
    first_time_share: float = 0.8
    first_time_min: int = 20
    first_time_margin: float = 0.25
    max_sessions_per_day: int = 20


@dataclass(frozen=True)
class Flag:
    kind: str
    subject: str
    window_start: datetime
    window_end: datetime
    counts: dict[str, Any]
    detail: str


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite returns text for computed datetimes
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _hour(session: Session, column: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", column))  # UTC, whatever the server
    return func.strftime("%Y-%m-%d %H:00:00", column)


def _local_day(session: Session, column: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("Africa/Lubumbashi", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column, "+2 hours")  # Lubumbashi: UTC+2, no DST


def bursts(session: Session, period: str, rules: IntegrityRules) -> list[Flag]:
    """Hours far above a cell's usual rate. Two GROUP BYs: the cells' totals and spans, and only
    the hours that reach `burst_min` (HAVING), so memory does not grow with the answers."""
    spans = {
        (unit_id, kind): (int(total), _aware(first), _aware(last))
        for unit_id, kind, total, first, last in session.execute(
            select(Answer.unit_id, Answer.institution_type,
                   func.count(func.distinct(Answer.respondent_id)),
                   func.min(Answer.received_at), func.max(Answer.received_at))
            .where(Answer.period == period)
            .group_by(Answer.unit_id, Answer.institution_type))
    }
    if not spans:
        return []
    period_last = max(last for _, _, last in spans.values())
    hour = _hour(session, Answer.received_at).label("hour")
    busy = session.execute(
        select(Answer.unit_id, Answer.institution_type, hour,
               func.count(func.distinct(Answer.respondent_id)))
        .where(Answer.period == period)
        .group_by(Answer.unit_id, Answer.institution_type, hour)
        .having(func.count(func.distinct(Answer.respondent_id)) >= rules.burst_min)
    ).all()
    codes = dict(session.execute(select(InstitutionUnit.id, InstitutionUnit.code)).all())
    flags = []
    for unit_id, kind, at, n in busy:
        total, first, _ = spans[(unit_id, kind)]
        start = _aware(at)
        hours = max(24.0, (period_last - first).total_seconds() / 3600 + 1)
        usual = total / hours
        if n >= rules.burst_factor * usual:
            flags.append(Flag("burst", f"{codes.get(unit_id, unit_id)}/{kind}", start,
                              start + timedelta(hours=1),
                              {"respondents": int(n), "usual_per_hour": round(usual, 2)},
                              f"{n} respondents in one hour, usual rate {usual:.2f} per hour"))
    return flags


def first_time_dominated(session: Session, period: str, rules: IntegrityRules) -> list[Flag]:
    start, end = quarter_bounds(period)
    rows = session.execute(
        select(Answer.unit_id, Answer.institution_type,
               func.count(func.distinct(Answer.respondent_id)),
               func.count(func.distinct(Answer.respondent_id)).filter(
                   Respondent.created_at >= start))
        .join(Respondent, Respondent.id == Answer.respondent_id)
        .where(Answer.period == period)
        .group_by(Answer.unit_id, Answer.institution_type)
    ).all()
    codes = dict(session.execute(select(InstitutionUnit.id, InstitutionUnit.code)).all())
    # Relative to the quarter: in a programme's first quarter everybody is new, which is no signal.
    overall = sum(int(r[3]) for r in rows) / max(1, sum(int(r[2]) for r in rows))
    flags = []
    for unit_id, kind, total, new in rows:
        share = new / total
        if (total >= rules.first_time_min and share >= rules.first_time_share
                and share >= overall + rules.first_time_margin):
            flags.append(Flag("first_time_dominated", f"{codes.get(unit_id, unit_id)}/{kind}",
                              start, end, {"respondents": int(total), "first_time": int(new),
                                           "quarter_first_time_share": round(overall, 3)},
                              f"{new} of {total} respondents first seen this quarter "
                              f"(quarter: {overall:.0%})"))
    return flags


def over_daily_limit(session: Session, period: str, rules: IntegrityRules) -> list[Flag]:
    start, end = quarter_bounds(period)
    day = _local_day(session, UssdSession.started_at).label("day")
    per_caller = (
        select(UssdSession.respondent_id, day, func.count().label("sessions"))
        .where(UssdSession.started_at >= start, UssdSession.started_at < end)
        .group_by(UssdSession.respondent_id, day)
        .subquery()
    )
    rows = session.execute(
        select(per_caller.c.day, func.count(), func.max(per_caller.c.sessions))
        .where(per_caller.c.sessions >= rules.max_sessions_per_day)
        .group_by(per_caller.c.day)
    ).all()
    flags = []
    for day_text, callers, most in rows:
        day_start = datetime.fromisoformat(str(day_text)).replace(tzinfo=LOCAL_TZ)
        flags.append(Flag("over_daily_limit", "ussd", day_start, day_start + timedelta(days=1),
                          {"callers": int(callers), "most_sessions": int(most),
                           "limit": rules.max_sessions_per_day},
                          f"{callers} callers reached the limit of {rules.max_sessions_per_day} "
                          f"sessions (most: {most})"))
    return flags


def scan(session: Session, period: str, rules: IntegrityRules, now: datetime) -> list[Flag]:
    """Recompute and store the period's flags, replacing the previous scan's."""
    if session.get_bind().dialect.name == "postgresql":
        # Batch work (a CLI command, the sweeper's review of an ended quarter), never a USSD hop:
        # the engine's 10 s per-statement cap, set for hops, cancelled the hourly COUNT(DISTINCT)
        # of a 10M-answer quarter (14 s). For this transaction only.
        session.execute(text("SET LOCAL statement_timeout = '10min'"))
    flags = (bursts(session, period, rules) + first_time_dominated(session, period, rules)
             + over_daily_limit(session, period, rules))
    session.execute(delete(IntegrityFlag).where(IntegrityFlag.period == period))
    for flag in flags:
        session.add(IntegrityFlag(period=period, kind=flag.kind, subject=flag.subject,
                                  window_start=flag.window_start, window_end=flag.window_end,
                                  counts=flag.counts, detail=flag.detail, created_at=now))
    session.flush()
    return flags
