"""Storing answers: the effects of a USSD (later SMS) session, inside the caller's transaction.

Rules (DESIGN §5, §7):
- the respondent row is upserted first; on PostgreSQL that locks it, so two hops of one caller
  never interleave their writes;
- each answer is a `submissions` row keyed `<channel>:<session>:<step>`: a replayed hop changes
  nothing, a changed answer (back, then another choice) updates that row;
- the countable answer (respondent x period x type x indicator) is inserted or replaced; every cell
  it enters or leaves is marked dirty in the same transaction, so no score refresh can be lost;
- a withdrawn answer (a branch now skips its question) keeps its submission, marked withdrawn, and
  leaves the countable answers, whichever session of the quarter gave it;
- what is stored is counted (`gateway_answers_stored`, by channel) when the caller's transaction
  commits, never before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, aliased

from flows import RecordAnswer, WithdrawAnswer
from gateway import metrics
from gateway.db import insert_for
from gateway.models import Answer, DirtyCell, Respondent, Submission
from gateway.periods import ensure_period
from scoring.keys import Cell
from scoring.periods import quarter_of


class UnknownUnit(LookupError):
    """An effect names a unit the directory no longer has (deactivated between hops)."""


def upsert_respondent(session: Session, phone_hash: str, key_version: int, now: datetime) -> int:
    stmt = insert_for(session, Respondent).values(
        phone_hash=phone_hash, key_version=key_version, created_at=now, last_seen_at=now
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=["phone_hash"], set_={"last_seen_at": now}
    ).returning(Respondent.id)
    respondent_id = session.execute(upsert).scalar_one()
    return int(respondent_id)


def adopt_previous_digest(session: Session, phone_hash: str, previous_hash: str,
                          key_version: int) -> bool:
    """Phone-hash key rotation: the caller's row under the retired key's digest takes the current
    key's digest (same row, same id: their answers stay theirs and count once). Nothing happens
    when no row has the old digest, or when one already has the new one. Runs first in the
    caller's transaction, before the row is read or upserted under the current digest."""
    current = aliased(Respondent)
    result = session.execute(
        update(Respondent)
        .where(Respondent.phone_hash == previous_hash,
               ~select(current.id).where(current.phone_hash == phone_hash).exists())
        .values(phone_hash=phone_hash, key_version=key_version))
    return bool(getattr(result, "rowcount", 0))


def mark_dirty(session: Session, cells: Iterable[Cell], now: datetime) -> None:
    for cell in sorted(set(cells), key=lambda c: (c.period, c.unit_id, c.indicator)):
        stmt = insert_for(session, DirtyCell).values(
            period=cell.period,
            unit_id=cell.unit_id,
            indicator=cell.indicator,
            generation=1,
            marked_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["period", "unit_id", "indicator"],
            set_={"generation": DirtyCell.generation + 1, "marked_at": now},
        )
        session.execute(stmt)


def store_answers(
    session: Session,
    *,
    respondent_id: int,
    channel: str,
    session_key: str,
    effects: Sequence[RecordAnswer],
    unit_ids: dict[str, int],
    location_ids: dict[str, int],
    survey_version: str,
    now: datetime,
    mark: bool = True,
) -> set[Cell]:
    """Store what is new or changed among `effects`; return the score cells touched (marked
    dirty here unless `mark` is False: a caller that touches cells twice in one transaction marks
    them once, in one sorted pass, so two transactions never lock marks in opposite orders)."""
    period = quarter_of(now)
    touched: set[Cell] = set()
    stored = 0
    keys = {effect: f"{channel}:{session_key}:{effect.step}" for effect in effects}
    # Every hop replays the whole path: one query finds what earlier hops already stored.
    known = {sub.idempotency_key: sub for sub in session.scalars(
        select(Submission).where(Submission.idempotency_key.in_(set(keys.values()))))
    } if keys else {}
    for effect in effects:
        unit_id = unit_ids.get(effect.unit_code)
        if unit_id is None:
            raise UnknownUnit(effect.unit_code)
        key = keys[effect]
        sub = known.get(key)
        if sub is not None and sub.withdrawn_at is None and (sub.option, sub.unit_id) == (
            effect.option, unit_id
        ):
            continue  # a replayed hop: already stored as given
        if not stored:
            ensure_period(session, period, now)
        if sub is None:
            sub = Submission(
                idempotency_key=key,
                respondent_id=respondent_id,
                channel=channel,
                period=period,
                institution_type=effect.institution_type,
                indicator=effect.indicator,
                survey_version=survey_version,
            )
            session.add(sub)
        sub.unit_id = unit_id
        sub.location_id = location_ids.get(effect.location_code)
        sub.option = effect.option
        sub.value = effect.value
        sub.received_at = now
        sub.withdrawn_at = None
        session.flush()
        touched |= _count(session, sub, now)
        stored += 1
    if mark:
        mark_dirty(session, touched, now)
    metrics.count_on_commit(session, metrics.answers_stored.labels(channel), stored)
    return touched


def withdraw_answers(
    session: Session,
    *,
    respondent_id: int,
    withdrawals: Iterable[WithdrawAnswer],
    now: datetime,
    mark: bool = True,
) -> set[Cell]:
    """Drop the countable answers that a later branch skips (contact "no" after a bribe answer,
    in this session or an earlier one of the quarter) and mark their submissions withdrawn;
    return the cells touched."""
    period = quarter_of(now)
    touched: set[Cell] = set()
    for withdrawal in withdrawals:
        answer = session.scalar(select(Answer).where(
            Answer.respondent_id == respondent_id, Answer.period == period,
            Answer.institution_type == withdrawal.institution_type,
            Answer.indicator == withdrawal.indicator))
        if answer is None:
            continue
        submission = session.get(Submission, answer.submission_id)
        if submission is not None:
            submission.withdrawn_at = now
        touched.add(Cell(answer.period, answer.unit_id, answer.indicator))
        session.delete(answer)
    session.flush()
    if mark:
        mark_dirty(session, touched, now)
    return touched


def _count(session: Session, sub: Submission, now: datetime) -> set[Cell]:
    """Make `sub` the countable answer of its respondent x period x type x indicator."""
    answer = session.scalar(
        select(Answer).where(
            Answer.respondent_id == sub.respondent_id,
            Answer.period == sub.period,
            Answer.institution_type == sub.institution_type,
            Answer.indicator == sub.indicator,
        )
    )
    cells = {Cell(sub.period, sub.unit_id, sub.indicator)}
    if answer is None:
        answer = Answer(
            respondent_id=sub.respondent_id,
            period=sub.period,
            institution_type=sub.institution_type,
            indicator=sub.indicator,
        )
        session.add(answer)
    else:
        cells.add(Cell(answer.period, answer.unit_id, answer.indicator))
    answer.unit_id = sub.unit_id
    answer.value = sub.value
    answer.survey_version = sub.survey_version
    answer.channel = sub.channel
    answer.submission_id = sub.id
    answer.received_at = now
    session.flush()
    return cells
