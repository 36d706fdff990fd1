"""USSD sessions and caller profiles: what makes a session resumable and a caller remembered.

Rules (issue 3, DESIGN §5):
- nothing about a caller is stored before they consent: no respondent row, no session row; a caller
  who refuses leaves no trace but Africa's Talking's own end-of-session notification;
- a session's replay starts from the profile it had at its first stored hop (`start_profile`), so a
  language chosen or a place remembered mid-session never changes how its own path replays;
- dialling again (empty `text`) within RESUME_WINDOW of an unfinished session that recorded an
  answer offers Continue / Restart; starting any newer session makes older ones not resumable;
- at most MAX_SESSIONS_PER_DAY sessions per caller and local day (Africa/Lubumbashi).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from flows import Flow
from flows.effects import UpdateProfile
from flows.engine import RESUME_NODE, Profile, Result, Resume
from gateway.db import insert_for
from gateway.models import Location, Respondent, UssdSession
from gateway.phones import redact_numbers
from scoring.periods import LOCAL_TZ


def profile_of(session: Session, respondent: Respondent | None) -> Profile:
    if respondent is None:
        return Profile()
    locality = None
    if respondent.last_location_id is not None:
        locality = session.scalar(
            select(Location.code).where(Location.id == respondent.last_location_id))
    return Profile(respondent.language, respondent.consent_version, locality)


def profile_from_json(data: dict[str, Any] | None) -> Profile:
    data = data or {}
    return Profile(data.get("language"), data.get("consent_version"), data.get("locality"))


def has_consented(respondent: Respondent | None, flow: Flow) -> bool:
    return respondent is not None and respondent.consent_version == flow.consent_version


def local_day_start(now: datetime) -> datetime:
    local = now.astimezone(LOCAL_TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def sessions_today(session: Session, respondent_id: int, now: datetime) -> int:
    count = session.scalar(
        select(func.count()).select_from(UssdSession).where(
            UssdSession.respondent_id == respondent_id,
            UssdSession.started_at >= local_day_start(now),
        )
    )
    return int(count or 0)


def resumable_session(
    session: Session, respondent_id: int, now: datetime, window: float
) -> Resume | None:
    row = session.scalars(
        select(UssdSession)
        .where(
            UssdSession.respondent_id == respondent_id,
            UssdSession.resumable.is_(True),
            UssdSession.ended.is_(False),
            UssdSession.answered > 0,
            UssdSession.updated_at >= now - timedelta(seconds=window),
        )
        .order_by(UssdSession.updated_at.desc())
        .limit(1)
    ).first()
    if row is None or not row.path:
        return None
    return Resume(tuple(row.path), profile_from_json(row.path_profile), row.session_id)


def upsert_caller(
    session: Session, phone_hash: str, key_version: int, update_: UpdateProfile, *,
    location_ids: dict[str, int], now: datetime,
) -> int:
    """The consented caller's row, created or brought up to date with the profile, in one
    statement (every hop of a consented caller runs it; on PostgreSQL it also locks the row, so
    two hops of one caller never interleave their writes). The consent time moves only when the
    consent version does: SET expressions read the row as it was."""
    location_id = location_ids.get(update_.locality) if update_.locality else None
    stmt = insert_for(session, Respondent).values(
        phone_hash=phone_hash, key_version=key_version, created_at=now, last_seen_at=now,
        language=update_.language or None, consent_version=update_.consent_version,
        consented_at=now, last_location_id=location_id,
    )
    changes: dict[str, Any] = {
        "last_seen_at": now,
        "consent_version": update_.consent_version,
        "consented_at": case(
            (Respondent.consent_version.is_distinct_from(update_.consent_version), now),
            else_=Respondent.consented_at),
    }
    if update_.language:
        changes["language"] = update_.language
    if location_id is not None:
        changes["last_location_id"] = location_id
    upsert = stmt.on_conflict_do_update(index_elements=["phone_hash"], set_=changes)
    return int(session.execute(upsert.returning(Respondent.id)).scalar_one())


def _kept(path: Sequence[str]) -> list[str]:
    """The inputs of a path as stored: a phone number typed into a menu (not an option, so the
    screen refused it, and replaying the masked input refuses it the same way) is masked."""
    return [redact_numbers(step) for step in path]


def save_session(
    session: Session, *, session_id: str, respondent_id: int, start_profile: Profile,
    resume: Resume | None, result: Result, network_code: str | None, now: datetime,
) -> None:
    """Insert the session at its first stored hop, then keep its path and last screen current."""
    path, profile, answered = _kept(result.path), result.profile, result.answered
    if result.node == RESUME_NODE and resume is not None:
        # Not yet chosen: if the caller drops here, the earlier progress must stay resumable.
        path, profile, answered = _kept(resume.path), resume.profile, 1
    current = {
        "path": path,
        "path_profile": asdict(profile),
        "answered": answered,
        "last_node": result.node,
        "language": result.language,
        "ended": result.screen.end,
        "updated_at": now,
    }
    stmt = insert_for(session, UssdSession).values(
        session_id=session_id, respondent_id=respondent_id, start_profile=asdict(start_profile),
        resume_path=_kept(resume.path) if resume else None,
        resume_profile=asdict(resume.profile) if resume else None,
        resumed_from=resume.origin if resume else None,
        hops=1, resumable=True, network_code=network_code, started_at=now, **current,
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=["session_id"], set_={**current, "hops": UssdSession.hops + 1}
    ).returning(UssdSession.hops)
    if session.execute(upsert).scalar_one() > 1:
        return  # not the session's first stored hop: older sessions were superseded then
    # A newer session supersedes the caller's older ones: they are never offered again.
    session.execute(
        update(UssdSession)
        .where(UssdSession.respondent_id == respondent_id, UssdSession.session_id != session_id,
               UssdSession.resumable.is_(True))
        .values(resumable=False)
    )
