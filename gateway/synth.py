"""Synthetic answers for tests, benchmarks and demos: reproducible from a seed, never in production.

`generate(db, period, answers, seed)` writes respondents, submissions and countable answers as
the webhook would (one countable answer per respondent x period x type x indicator), spread over
the quarter, with a quality per unit so scores differ between places. The same seed gives the same
rows. Respondents are SHA-256 digests of `synthetic:<seed>:<n>`: no phone number is involved.

Rules:
- the draws come from one `random.Random(seed)` in a fixed order (unit, instant, then each answer),
  whatever the database: the rows depend on the seed only, never on how they are written;
- each respondent is new and answers each indicator once, so the countable-answer unique index
  (respondent x period x type x indicator) and the submissions' idempotency keys always hold;
- rows are written in batches, each batch in its own transaction and in foreign-key order
  (respondents, then submissions, then answers); the quarter's row comes with the first batch, so
  a quarter never shows without answers. On PostgreSQL a batch is three `COPY … FROM STDIN`
  (1M answers in 26 s with every index and constraint in place, 6 s without, against 84 s for
  executemany INSERTs); on SQLite, executemany INSERTs.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from gateway.db import Database
from gateway.models import Answer, InstitutionUnit, Respondent, Submission
from gateway.periods import ensure_period
from scoring.periods import quarter_bounds

BATCH = 5000  # SQLite: answers per transaction
COPY_BATCH = 200_000  # PostgreSQL: answers per transaction (three COPYs); bounds the memory held
INDICATORS = (("contact", 2), ("bribe", 2), ("trust", 4), ("respect", 4), ("change", 3))
VERSION = "synthetic"
CHANNEL = "ussd"
LANGUAGE = "fr"

# COPY's column lists, in the order the rows below are formatted.
RESPONDENT_COLUMNS = "id, phone_hash, key_version, created_at, last_seen_at, language"
SUBMISSION_COLUMNS = ("id, idempotency_key, respondent_id, channel, period, unit_id, location_id, "
                      "institution_type, indicator, option, value, survey_version, received_at")
ANSWER_COLUMNS = ("respondent_id, period, institution_type, indicator, unit_id, value, "
                  "survey_version, channel, submission_id, received_at")


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


@dataclass
class Batch:
    """Rows for one transaction. An answer row also carries what its submission needs:
    (submission id, respondent id, unit id, type, indicator, value, instant, idempotency key)."""

    people: list[tuple[int, str, datetime]] = field(default_factory=list)
    answers: list[tuple[int, int, int, str, str, int | None, datetime, str]] = field(
        default_factory=list)


def _batches(rng: random.Random, period: str, seed: int, answers: int, *, units: list[Any],
             first_respondent: int, first_submission: int, size: int) -> Iterator[Batch]:
    """The synthetic rows, `size` answers or so at a time (a respondent is never split)."""
    start, end = quarter_bounds(period)
    span = (end - start).total_seconds() - 1
    quality = {uid: rng.random() for uid, _ in units}
    weights = [rng.paretovariate(1.2) for _ in units]  # a few busy units, many quiet ones
    # Cumulative weights once, not on every draw: `choices` then draws exactly as with `weights`.
    cumulative = list(accumulate(weights))
    written = 0
    respondent_id, submission_id = first_respondent, first_submission
    batch = Batch()
    while written < answers:
        unit_id, kind = rng.choices(units, cum_weights=cumulative)[0]
        at = start + timedelta(seconds=rng.random() * span)
        digest = hashlib.sha256(f"synthetic:{seed}:{respondent_id}".encode()).hexdigest()
        batch.people.append((respondent_id, digest, at))
        for code, value in _answers(rng, quality[unit_id]):
            key = f"synthetic:{seed}:{respondent_id}:{kind}:{code}"
            batch.answers.append((submission_id, respondent_id, unit_id, kind, code, value, at,
                                  key))
            submission_id += 1
            written += 1
        respondent_id += 1
        if len(batch.answers) >= size:
            yield batch
            batch = Batch()
    if batch.people:
        yield batch


def _insert_batch(session: Session, period: str, batch: Batch) -> None:
    """SQLite (and any other database): executemany INSERTs, through the models' types."""
    session.execute(insert(Respondent), [
        {"id": rid, "phone_hash": digest, "key_version": 0, "created_at": at,
         "last_seen_at": at, "language": LANGUAGE} for rid, digest, at in batch.people])
    subs, rows = [], []
    for sid, rid, unit_id, kind, code, value, at, key in batch.answers:
        common = {"respondent_id": rid, "period": period, "unit_id": unit_id,
                  "institution_type": kind, "indicator": code, "value": value,
                  "survey_version": VERSION, "channel": CHANNEL, "received_at": at}
        subs.append({**common, "id": sid, "idempotency_key": key, "location_id": None,
                     "option": "9" if value is None else str(value)})
        rows.append({**common, "submission_id": sid})
    session.execute(insert(Submission), subs)
    session.execute(insert(Answer), rows)


def _copy_safe(value: str) -> str:
    """COPY's text format gives tab, newline, carriage return and backslash a meaning: the
    strings written unescaped (the period, types, indicator codes) must have none of them."""
    if any(c in value for c in "\t\n\r\\"):
        raise ValueError(f"not writable unescaped by COPY: {value!r}")
    return value


def _copy_payload(period: str, batch: Batch) -> tuple[bytes, bytes, bytes]:
    """COPY text for the respondents, submissions and answers of a batch, formatted here (several
    times faster than per-value adapters). Instants carry their UTC offset: the server stores the
    same instant the INSERT path does."""
    stamps: dict[int, str] = {}
    people = []
    for rid, digest, at in batch.people:
        stamp = stamps[rid] = at.isoformat()
        people.append(f"{rid}\t{digest}\t0\t{stamp}\t{stamp}\t{LANGUAGE}\n")
    subs, rows = [], []
    for sid, rid, unit_id, kind, code, value, _at, key in batch.answers:
        stamp = stamps[rid]
        number = r"\N" if value is None else str(value)
        subs.append(f"{sid}\t{key}\t{rid}\t{CHANNEL}\t{period}\t{unit_id}\t\\N\t{kind}\t{code}\t"
                    f"{'9' if value is None else number}\t{number}\t{VERSION}\t{stamp}\n")
        rows.append(f"{rid}\t{period}\t{kind}\t{code}\t{unit_id}\t{number}\t{VERSION}\t"
                    f"{CHANNEL}\t{sid}\t{stamp}\n")
    return ("".join(people).encode(), "".join(subs).encode(), "".join(rows).encode())


def _copy_batch(db: Database, period: str, payload: tuple[bytes, bytes, bytes]) -> None:
    """One batch in one transaction, in foreign-key order."""
    with db.transaction() as session:
        ensure_period(session, period, quarter_bounds(period)[0])
        dbapi = session.connection().connection.driver_connection
        assert dbapi is not None
        cursor = dbapi.cursor()
        for columns, data in zip((f"respondents ({RESPONDENT_COLUMNS})",
                                  f"submissions ({SUBMISSION_COLUMNS})",
                                  f"answers ({ANSWER_COLUMNS})"), payload, strict=True):
            with cursor.copy(f"COPY {columns} FROM STDIN") as copy:
                copy.write(data)


def _finish(pending: tuple[Future[None], int], progress: Callable[[int], None] | None) -> int:
    future, count = pending
    future.result()
    if progress is not None:
        progress(count)
    return count


def generate(db: Database, period: str, answers: int, seed: int,
             progress: Callable[[int], None] | None = None) -> int:
    """Insert about `answers` countable answers for `period`; returns how many were written."""
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not a secret
    start, _ = quarter_bounds(period)
    postgres = db.dialect == "postgresql"
    with db.session() as session:
        units = session.execute(select(InstitutionUnit.id, InstitutionUnit.type)
                                .where(InstitutionUnit.active.is_(True))
                                .order_by(InstitutionUnit.id)).all()
        first_id = int(session.scalar(select(func.coalesce(func.max(Respondent.id), 0))) or 0) + 1
        first_sub = int(session.scalar(select(func.coalesce(func.max(Submission.id), 0))) or 0) + 1
    if postgres:
        for _, kind in units:
            _copy_safe(kind)
        for code, _ in INDICATORS:
            _copy_safe(code)
        _copy_safe(period)
    written = 0
    batches = _batches(rng, period, seed, answers, units=list(units), first_respondent=first_id,
                       first_submission=first_sub, size=COPY_BATCH if postgres else BATCH)
    if postgres:
        # The server ingests one batch (a thread waiting on the socket, the GIL released) while
        # Python draws and formats the next: two cores busy instead of one at a time. At most one
        # batch is in flight, and its error (if any) is raised here before the next is sent.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="synth-copy") as writer:
            pending: tuple[Future[None], int] | None = None
            for batch in batches:
                payload = _copy_payload(period, batch)
                if pending is not None:
                    written += _finish(pending, progress)
                pending = (writer.submit(_copy_batch, db, period, payload), len(batch.answers))
            if pending is not None:
                written += _finish(pending, progress)
    else:
        for batch in batches:
            with db.transaction() as session:
                ensure_period(session, period, start)
                _insert_batch(session, period, batch)
            written += len(batch.answers)
            if progress is not None:
                progress(len(batch.answers))
    if postgres:  # explicit ids: move the sequences past them
        with db.transaction() as session:
            for table in ("respondents", "submissions"):
                session.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT MAX(id) FROM {table}))"))
    return written
