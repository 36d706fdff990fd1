"""What the staff overview shows, read from the database (no Flask here).

Rules: counts only, never a number or a pseudonym; a province-limited account sees the answers
of its province only (`province` filters by the province of the answer's unit; USSD sessions and
SMS have no province until they answer, so their counts are the gateway's); quarters are
local-time quarters (Africa/Lubumbashi).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Subquery, case, func, select
from sqlalchemy.orm import Session, aliased

from gateway.models import (
    Answer,
    Feedback,
    InstitutionUnit,
    Location,
    Period,
    SmsInbound,
    UssdSession,
)
from gateway.places import places_under
from scoring.periods import quarter_bounds


@dataclass
class LanguageRow:
    language: str
    sessions: int
    completed: int

    @property
    def completion(self) -> float | None:
        return self.completed / self.sessions if self.sessions else None


@dataclass
class Overview:
    period: str
    status: str
    respondents: int
    answers: int
    sessions: int
    completed: int
    sms: int
    feedback_new: int
    by_province: list[tuple[str, str, int, int]] = field(default_factory=list)
    by_language: list[LanguageRow] = field(default_factory=list)

    @property
    def completion(self) -> float | None:
        return self.completed / self.sessions if self.sessions else None


def province_of_unit() -> Subquery:
    """(unit_id, province_code) of every unit, whatever the level of its location."""
    place, parent, grand = aliased(Location), aliased(Location), aliased(Location)
    code = func.coalesce(
        case((place.level == "province", place.code)),
        case((parent.level == "province", parent.code)),
        grand.code)
    return (select(InstitutionUnit.id.label("unit_id"), code.label("province_code"))
            .join(place, place.id == InstitutionUnit.location_id)
            .outerjoin(parent, parent.id == place.parent_id)
            .outerjoin(grand, grand.id == parent.parent_id)).subquery()


def overview(session: Session, period: str, province: str | None = None) -> Overview:
    start, end = quarter_bounds(period)
    status = session.scalar(select(Period.status).where(Period.code == period)) or "open"
    units_sq = province_of_unit()
    answers = (select(Answer.respondent_id, units_sq.c.province_code)
               .join(units_sq, units_sq.c.unit_id == Answer.unit_id)
               .where(Answer.period == period))
    if province:
        answers = answers.where(units_sq.c.province_code == province)
    answers_sq = answers.subquery()
    respondents = session.scalar(select(func.count(func.distinct(answers_sq.c.respondent_id))))
    answer_count = session.scalar(select(func.count()).select_from(answers_sq))
    names = dict(session.execute(select(Location.code, Location.name)
                                 .where(Location.level == "province")).all())
    by_province = [
        (code, names.get(code, code), int(people), int(count))
        for code, people, count in session.execute(
            select(answers_sq.c.province_code,
                   func.count(func.distinct(answers_sq.c.respondent_id)), func.count())
            .group_by(answers_sq.c.province_code)
            .order_by(answers_sq.c.province_code)).all()]
    sessions_q = (select(UssdSession.language, func.count(),
                         func.sum(case((UssdSession.ended.is_(True), 1), else_=0)))
                  .where(UssdSession.started_at >= start, UssdSession.started_at < end)
                  .group_by(UssdSession.language))
    by_language = sorted((LanguageRow(lang or "?", int(n), int(done or 0))
                          for lang, n, done in session.execute(sessions_q).all()),
                         key=lambda row: row.language)
    sms = session.scalar(select(func.count()).select_from(SmsInbound).where(
        SmsInbound.received_at >= start, SmsInbound.received_at < end))
    new_feedback = select(func.count()).select_from(Feedback).where(Feedback.status == "new")
    allowed = places_under(session, province)
    if allowed is not None:
        new_feedback = new_feedback.join(Location, Location.id == Feedback.location_id).where(
            Location.code.in_(sorted(allowed)))
    feedback_new = session.scalar(new_feedback)
    return Overview(
        period=period, status=status, respondents=int(respondents or 0),
        answers=int(answer_count or 0),
        sessions=sum(r.sessions for r in by_language),
        completed=sum(r.completed for r in by_language),
        sms=int(sms or 0), feedback_new=int(feedback_new or 0),
        by_province=by_province, by_language=by_language)
