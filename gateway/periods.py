"""Period rows: a quarter exists, `open`, from its first answer on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from gateway.db import insert_for
from gateway.models import Period

OPEN, IN_REVIEW, LOCKED = "open", "in_review", "locked"


def ensure_period(session: Session, code: str, now: datetime) -> None:
    stmt = insert_for(session, Period).values(code=code, status=OPEN, opened_at=now)
    session.execute(stmt.on_conflict_do_nothing(index_elements=["code"]))
