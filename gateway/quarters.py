"""The quarter lifecycle: open -> in_review -> locked, and the locked snapshot.

Rules (DESIGN §5, issue 4):
- a period row appears with its first answer, `open`; a quarter without answers cannot be
  reviewed or locked;
- a quarter moves to `in_review` when it ends (a job scheduled with RQ's scheduler for the end of
  the quarter, with the sweeper as a safety net) or when staff say so (`quarter review`);
- locking (only from `in_review`) recomputes every cell from the answers, freezes the published
  items in an immutable snapshot (canonical JSON, its SHA-256, the method version and thresholds)
  and marks the quarter `locked`; answers that arrive later are kept and never change it;
- the period row is locked for the transition (SELECT ... FOR UPDATE on PostgreSQL), so two staff
  members locking at once produce one snapshot.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.models import Period, Snapshot
from gateway.periods import IN_REVIEW, LOCKED, OPEN
from gateway.push import create_deliveries
from gateway.scores import period_items
from scoring.aggregate import recompute_period
from scoring.periods import quarter_bounds
from scoring.report import Method

__all__ = ["IN_REVIEW", "LOCKED", "OPEN", "LifecycleError", "lock", "move_to_review"]


class LifecycleError(ValueError):
    """A transition that the lifecycle does not allow (the message says why)."""


def _locked_row(session: Session, code: str) -> Period:
    row = session.scalars(select(Period).where(Period.code == code).with_for_update()).first()
    if row is None:
        raise LifecycleError(f"{code} has no answers: there is nothing to review or lock")
    return row


def move_to_review(session: Session, code: str, now: datetime) -> Period:
    row = _locked_row(session, code)
    if row.status == LOCKED:
        raise LifecycleError(f"{code} is locked: it cannot go back to review")
    if row.status == OPEN:
        row.status = IN_REVIEW
        row.review_at = now
    return row


def review_ended_quarters(session: Session, now: datetime) -> list[str]:
    """Move every open quarter that has ended to review; returns their codes."""
    moved = []
    for code in session.scalars(select(Period.code).where(Period.status == OPEN)):
        if quarter_bounds(code)[1] <= now:
            move_to_review(session, code, now)
            moved.append(code)
    return moved


def canonical(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def lock(session: Session, code: str, method: Method, now: datetime,
         webhook_urls: tuple[str, ...] = ()) -> Snapshot:
    row = _locked_row(session, code)
    if row.status == LOCKED:
        raise LifecycleError(f"{code} is already locked (snapshot version {row.snapshot_version})")
    if row.status != IN_REVIEW:
        raise LifecycleError(f"{code} is {row.status}: move it to review before locking it")
    recompute_period(session, code, now)
    version = int(session.scalar(select(func.coalesce(func.max(Snapshot.version), 0))
                                 .where(Snapshot.period == code)) or 0) + 1
    document = {
        "period": code,
        "status": LOCKED,
        "version": version,
        "method_version": method.version,
        "thresholds": method.thresholds(),
        "locked_at": now.isoformat(timespec="seconds"),
        "items": period_items(session, code, method),
    }
    text = canonical(document)
    snapshot = Snapshot(period=code, version=version, method_version=method.version,
                        document=text, sha256=hashlib.sha256(text.encode()).hexdigest(),
                        created_at=now)
    session.add(snapshot)
    row.status = LOCKED
    row.locked_at = now
    row.snapshot_version = version
    session.flush()
    # The pushes to the RBF engine are rows of this same transaction: none can be forgotten.
    create_deliveries(session, webhook_urls, code, version, now)
    return snapshot


def latest_snapshot(session: Session, code: str) -> Snapshot | None:
    return session.scalars(select(Snapshot).where(Snapshot.period == code)
                           .order_by(Snapshot.version.desc()).limit(1)).first()
