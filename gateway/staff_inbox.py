"""Staff pages on what citizens said and did: the SMS feedback inbox, the USSD drop-off funnel and
the integrity flags (`/staff/...`, under `gateway.staff`'s rules).

Rules:
- feedback shows its text (numbers in it were masked on arrival), language, place, institution,
  category, tags and status, never a number; an answer goes out by SMS through the vault
  (`gateway.feedback`), and every tag, answer and closing is in the audit log;
- a province-limited account sees the feedback of its province only (feedback without a known
  place is for unrestricted accounts);
- the funnel counts USSD sessions of the quarter by the screen they ended on, by language: a
  session not ended by the flow was dropped there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import case, func, select
from werkzeug.wrappers import Response as BaseResponse

from gateway import outbox
from gateway.accounts import audit
from gateway.feedback import CannotReply, answer_feedback
from gateway.models import Feedback, IntegrityFlag, Location, UssdSession
from gateway.places import places_under
from gateway.staff import current_staff, load_staff, login_required, staff_headers
from gateway.staff_scores import _period_arg
from gateway.state import current_gateway
from scoring.periods import quarter_bounds

bp = Blueprint("staff_inbox", __name__, url_prefix="/staff")
bp.before_request(load_staff)
bp.after_request(staff_headers)
STATUSES = ("new", "answered", "closed")
CATEGORIES = ("feedback", "complaint")
MAX_TAGS = 8
ACTIVE_SECONDS = 180  # operators end a USSD session after about three minutes


def _allowed_places() -> set[str] | None:
    staff = current_staff()
    assert staff is not None
    with current_gateway().db.session() as session:
        return places_under(session, staff.province_code)


def feedback_rows() -> Sequence[tuple[Feedback, str | None, str | None]]:
    """The feedback the request's filters ask for, as this account may see it."""
    status = request.args.get("status", "new")
    category = request.args.get("category", "")
    language = request.args.get("language", "")
    if status not in (*STATUSES, "all") or category not in ("", *CATEGORIES):
        abort(400)
    allowed = _allowed_places()
    query = (select(Feedback, Location.name, Location.code)
             .outerjoin(Location, Location.id == Feedback.location_id)
             .order_by(Feedback.id.desc()).limit(300))
    if status != "all":
        query = query.where(Feedback.status == status)
    if category:
        query = query.where(Feedback.category == category)
    if language:
        query = query.where(Feedback.language == language[:8])
    if allowed is not None:  # in SQL, before the limit: the newest of this province
        query = query.where(Location.code.in_(sorted(allowed)))
    with current_gateway().db.session() as session:
        rows = [(item, place, code) for item, place, code in session.execute(query).all()
                if allowed is None or code in allowed]
        for item, _place, _code in rows:
            session.expunge(item)
    return rows


@bp.get("/feedback")
@login_required()
def inbox() -> str:
    rows = feedback_rows()
    return render_template("staff/feedback.html", rows=rows,
                           status=request.args.get("status", "new"),
                           category=request.args.get("category", ""),
                           language=request.args.get("language", ""), statuses=STATUSES,
                           categories=CATEGORIES)


def _feedback_or_404(feedback_id: int) -> Feedback:
    if feedback_id >= 2**31:
        abort(404)
    allowed = _allowed_places()
    with current_gateway().db.session() as session:
        item = session.get(Feedback, feedback_id)
        if item is None:
            abort(404)
        code = session.scalar(select(Location.code).where(Location.id == item.location_id))
        if allowed is not None and code not in allowed:
            abort(404)
        session.expunge(item)
    return item


@bp.post("/feedback/<int:feedback_id>/tags")
@login_required("admin", "reviewer", "analyst")
def tag(feedback_id: int) -> BaseResponse:
    staff = current_staff()
    assert staff is not None
    _feedback_or_404(feedback_id)
    tags = sorted({t.strip().lower()[:30] for t in request.form.get("tags", "").split(",")
                   if t.strip()})[:MAX_TAGS]
    now = datetime.now(UTC)
    with current_gateway().db.transaction() as session:
        item = session.get(Feedback, feedback_id)
        assert item is not None
        item.tags = tags
        audit(session, staff, "feedback.tag", f"#{feedback_id}", now, tags=tags)
    return redirect(url_for("staff_inbox.inbox", status="all"))


@bp.post("/feedback/<int:feedback_id>/answer")
@login_required("admin", "reviewer", "analyst")
def answer(feedback_id: int) -> BaseResponse:
    staff = current_staff()
    assert staff is not None
    _feedback_or_404(feedback_id)
    gw = current_gateway()
    now = datetime.now(UTC)
    text = request.form.get("text", "")[:480]
    try:
        with gw.db.transaction() as session:
            new_id = answer_feedback(session, feedback_id, text, sms=gw.sms, vault=gw.vault,
                                     now=now)
            audit(session, staff, "feedback.answer", f"#{feedback_id}", now,
                  queued=new_id is not None)
    except CannotReply as exc:
        flash(_("Not sent: %(why)s", why=str(exc)))
        return redirect(url_for("staff_inbox.inbox", status="all"))
    if new_id is not None:
        outbox.enqueue(gw.queue, [new_id])
    flash(_("Answer to #%(id)d queued: it goes out by SMS; the number stays hidden.",
            id=feedback_id))
    return redirect(url_for("staff_inbox.inbox", status="all"))


@bp.post("/feedback/<int:feedback_id>/close")
@login_required("admin", "reviewer", "analyst")
def close(feedback_id: int) -> BaseResponse:
    staff = current_staff()
    assert staff is not None
    _feedback_or_404(feedback_id)
    now = datetime.now(UTC)
    with current_gateway().db.transaction() as session:
        item = session.get(Feedback, feedback_id)
        assert item is not None
        item.status = "closed"
        audit(session, staff, "feedback.close", f"#{feedback_id}", now)
    return redirect(url_for("staff_inbox.inbox"))


def funnel_rows(period: str) -> tuple[list[tuple[str, str, int, int, int]], int]:
    """(last screen, language, sessions, finished there, dropped there), and all sessions.

    A session the caller continued later (Continue on the next dial) did not stop there: only the
    session that carried on counts. A session still in progress (a hop within the operator's
    three minutes) has not stopped either."""
    start, end = quarter_bounds(period)
    active_since = datetime.now(UTC) - timedelta(seconds=ACTIVE_SECONDS)
    continued = select(UssdSession.resumed_from).where(UssdSession.resumed_from.is_not(None))
    with current_gateway().db.session() as session:
        rows = session.execute(
            select(UssdSession.last_node, UssdSession.language, func.count(),
                   func.sum(case((UssdSession.ended.is_(True), 1), else_=0)))
            .where(UssdSession.started_at >= start, UssdSession.started_at < end,
                   UssdSession.session_id.not_in(continued),
                   (UssdSession.ended.is_(True)) | (UssdSession.updated_at < active_since))
            .group_by(UssdSession.last_node, UssdSession.language)).all()
    total = sum(int(n) for _, _, n, _ in rows) or 1
    table = sorted(((node, language or "?", int(n), int(done or 0), int(n) - int(done or 0))
                    for node, language, n, done in rows),
                   key=lambda r: (-r[4], r[0], r[1]))
    return table, total


@bp.get("/funnel")
@login_required()
def funnel() -> str:
    period = _period_arg()
    table, total = funnel_rows(period)
    return render_template("staff/funnel.html", period=period, rows=table, total=total)


def flag_rows(period: str) -> list[tuple[str, str, datetime, datetime, str]]:
    with current_gateway().db.session() as session:
        rows = session.scalars(select(IntegrityFlag).where(IntegrityFlag.period == period)
                               .order_by(IntegrityFlag.window_start)).all()
        return [(f.kind, f.subject, f.window_start, f.window_end, f.detail) for f in rows]


@bp.get("/flags")
@login_required()
def flags() -> str:
    staff = current_staff()
    if staff is not None and staff.province_code:
        abort(403)  # flags name cells of every province
    period = _period_arg()
    return render_template("staff/flags.html", period=period, items=flag_rows(period))
