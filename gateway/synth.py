"""Synthetic answers for tests, benchmarks and demos: reproducible from a seed, never in production.

`generate(db, period, answers, seed)` writes respondents, submissions and countable answers as
the webhook would (one countable answer per respondent x period x type x indicator), spread over
the quarter, with a quality per unit so scores differ between places. The same seed gives the same
rows. Respondents are SHA-256 digests of `synthetic:<seed>:<n>`: no phone number is involved.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select, text

from gateway.db import Database
from gateway.models import Answer, InstitutionUnit, Respondent, Submission
from gateway.periods import ensure_period
from scoring.periods import quarter_bounds

BATCH = 5000
INDICATORS = (("contact", 2), ("bribe", 2), ("trust", 4), ("respect", 4), ("change", 3))
VERSION = "synthetic"


def _value(rng: random.Random, points: int, quality: float) -> int | None:
    if rng.random() < 0.06:
        return None  # don't know
    # Values lean towards the unit's quality (0 worst .. 1 best).
    x = min(0.999, max(0.0, rng.gauss(quality, 0.25)))
    return 1 + int(x * points)


def _answers(rng: random.Random, quality: float) -> list[tuple[str, int | None]]:
    """One respondent's answers: the bribe question only after contact = yes."""
    out: list[tuple[str, int | None]] = []
    for code, points in INDICATORS:
        if code == "bribe" and out[0][1] != 1:
            continue
        out.append((code, _value(rng, points, quality)))
    return out


def generate(db: Database, period: str, answers: int, seed: int,
             progress: Callable[[int], None] | None = None) -> int:
    """Insert about `answers` countable answers for `period`; returns how many were written."""
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not a secret
    start, end = quarter_bounds(period)
    span = (end - start).total_seconds() - 1
    with db.session() as session:
        units = session.execute(select(InstitutionUnit.id, InstitutionUnit.type)
                                .where(InstitutionUnit.active.is_(True))
                                .order_by(InstitutionUnit.id)).all()
        first_id = int(session.scalar(select(func.coalesce(func.max(Respondent.id), 0))) or 0) + 1
        first_sub = int(session.scalar(select(func.coalesce(func.max(Submission.id), 0))) or 0) + 1
    quality = {uid: rng.random() for uid, _ in units}
    weights = [rng.paretovariate(1.2) for _ in units]  # a few busy units, many quiet ones
    written = 0
    respondent_id, submission_id = first_id, first_sub
    people: list[dict[str, Any]] = []
    subs: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []

    def flush() -> None:
        with db.transaction() as session:
            ensure_period(session, period, start)
            if people:
                session.execute(insert(Respondent), people)
            if subs:
                session.execute(insert(Submission), subs)
            if rows:
                session.execute(insert(Answer), rows)
        if progress is not None:
            progress(len(rows))
        people.clear()
        subs.clear()
        rows.clear()

    while written < answers:
        unit_id, kind = rng.choices(units, weights)[0]
        at = start + timedelta(seconds=rng.random() * span)
        digest = hashlib.sha256(f"synthetic:{seed}:{respondent_id}".encode()).hexdigest()
        people.append({"id": respondent_id, "phone_hash": digest, "key_version": 0,
                       "created_at": at, "last_seen_at": at, "language": "fr"})
        for code, value in _answers(rng, quality[unit_id]):
            key = f"synthetic:{seed}:{respondent_id}:{kind}:{code}"
            common = {"respondent_id": respondent_id, "period": period, "unit_id": unit_id,
                      "institution_type": kind, "indicator": code, "value": value,
                      "survey_version": VERSION, "channel": "ussd", "received_at": at}
            subs.append({**common, "id": submission_id, "idempotency_key": key,
                         "location_id": None, "option": "9" if value is None else str(value)})
            rows.append({**common, "submission_id": submission_id})
            submission_id += 1
            written += 1
        respondent_id += 1
        if len(rows) >= BATCH:
            flush()
    flush()
    if db.dialect == "postgresql":  # explicit ids: move the sequences past them
        with db.transaction() as session:
            for table in ("respondents", "submissions"):
                session.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT MAX(id) FROM {table}))"))
    return written
