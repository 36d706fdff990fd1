"""The Africa's Talking USSD webhooks: `POST /at/<WEBHOOK_TOKEN>/ussd` and `.../ussd/events`.

Rules (DESIGN §3, §7):
- a wrong token is a 404, indistinguishable from any unknown URL;
- the reply is `text/plain`, `CON ` or `END ` plus at most the screen limit of printable ASCII;
- the screen is a pure function of the flow, the `text` path and the caller's profile at the start
  of the session (replay); for a consented caller, the answers in the path, the profile and the
  session are stored, idempotently, in one transaction *before* the reply, then the touched score
  cells are enqueued for refresh, best effort; nothing is stored before consent;
- whatever fails behind it (database down, a bug), the caller gets a polite `END` in their
  language, never an HTTP 500; malformed requests get a 400 whose body names the field;
- every hop is counted and timed by the kind of screen it got (`gateway.metrics`: `con`, `end`,
  `polite_end` for the apology after a failure, `bad_request`).
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from datetime import UTC, datetime

from flask import Blueprint, Response, abort, request
from sqlalchemy import literal, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

import flows
from flows.effects import UpdateProfile, WithdrawAnswer
from flows.engine import Context, Profile, Resume
from gateway import metrics
from gateway.answers import (
    UnknownUnit,
    adopt_previous_digest,
    mark_dirty,
    store_answers,
    withdraw_answers,
)
from gateway.db import insert_for, within_hop_budget
from gateway.models import Respondent, UssdEvent, UssdSession
from gateway.phones import InvalidPhone, normalise, pseudonym
from gateway.sessions import (
    has_consented,
    profile_from_json,
    profile_of,
    resumable_session,
    save_session,
    sessions_today,
    upsert_caller,
)
from gateway.state import GatewayState, current_gateway
from scoring.keys import REFRESH_PERIOD, refresh_job_id

log = logging.getLogger(__name__)
bp = Blueprint("ussd", __name__)

MAX_TEXT = 1000
MAX_INPUTS = 80
_SESSION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def check_token(token: str) -> GatewayState:
    gw = current_gateway()
    if not hmac.compare_digest(token.encode(), gw.settings.webhook_token.encode()):
        abort(404)
    return gw


def screen_response(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


def polite_end(gw: GatewayState, message_id: str, language: str, status: int = 200,
               field: str | None = None) -> Response:
    text = gw.catalog.text(language, message_id)
    if field is not None:
        text = f"{text} ({field})"
    return screen_response(flows.Screen(True, text).wire(), status)


def _short(value: str | None, limit: int) -> str | None:
    """A field as stored: at most `limit` characters, without NUL (PostgreSQL text cannot hold
    it, and a refused row would make Africa's Talking retry a notification it can never store)."""
    return None if value is None else value.replace("\x00", "")[:limit]


@bp.post("/at/<token>/ussd")
def ussd(token: str) -> Response:
    gw = check_token(token)
    started = time.perf_counter()
    response, screen = _answer(gw)
    metrics.ussd_hops.labels(screen).inc()
    metrics.ussd_hop_seconds.labels(screen).observe(time.perf_counter() - started)
    return response


def _answer(gw: GatewayState) -> tuple[Response, str]:
    """The reply to one hop, and its kind of screen (a metrics label)."""
    language = gw.catalog.default_language
    form = request.form
    session_id = form.get("sessionId", "").strip()
    text = form.get("text", "")
    if not _SESSION_ID.match(session_id):
        return polite_end(gw, "bad_request", language, 400, "sessionId"), "bad_request"
    try:
        e164 = normalise(form.get("phoneNumber", ""))
    except InvalidPhone:
        return polite_end(gw, "bad_request", language, 400, "phoneNumber"), "bad_request"
    path = text.split("*") if text else []
    if len(text) > MAX_TEXT or len(path) > MAX_INPUTS:
        return polite_end(gw, "bad_request", language, 400, "text"), "bad_request"
    previous = gw.settings.phone_hash_key_previous
    hop = _Hop(gw, session_id, pseudonym(e164, gw.settings.phone_hash_key), path,
               _short(form.get("networkCode"), 10),
               previous_hash=pseudonym(e164, previous) if previous else None)
    try:
        response = hop.reply()
    except (SQLAlchemyError, OSError):
        log.warning("ussd hop failed on the database; caller told to retry", exc_info=True)
    except Exception:
        log.exception("ussd hop failed")
    else:
        return response, "con" if response.get_data().startswith(b"CON ") else "end"
    return polite_end(gw, "unavailable", _apology_language(gw, hop)), "polite_end"


def _apology_language(gw: GatewayState, hop: _Hop) -> str:
    """The language to apologise in when the hop failed: the one it had reached, or, when the
    database failed before anything was read, the one its own path chose (a replay without the
    caller's stored profile: a returning caller who did not choose again gets the default)."""
    snapshot = gw.directory.last_known()
    if hop.language != gw.catalog.default_language or not hop.path or snapshot is None:
        return hop.language
    try:
        ctx = Context(gw.catalog, snapshot.directory, hop.language,
                      gw.settings.ussd_screen_limit, Profile(), None)
        return flows.run(gw.flow, hop.path, ctx).language
    except Exception:  # an apology must not fail: the default language it is
        log.warning("no language for the apology", exc_info=True)
        return hop.language


class _Hop:
    """One request: read what is known of the caller, replay, store, reply."""

    def __init__(self, gw: GatewayState, session_id: str, phone_hash: str, path: list[str],
                 network_code: str | None, *, previous_hash: str | None = None) -> None:
        self.gw = gw
        self.previous_hash = previous_hash  # the caller's digest under a retired key
        self.session_id = session_id
        self.phone_hash = phone_hash
        self.path = path
        self.network_code = network_code
        self.language = gw.catalog.default_language

    def reply(self) -> Response:
        """One transaction: read the session or caller, replay, and store if consented."""
        gw = self.gw
        snapshot = gw.directory.get()
        now = datetime.now(UTC)
        try:
            with gw.db.transaction() as session:
                within_hop_budget(session)
                if self.previous_hash is not None:
                    adopt_previous_digest(session, self.phone_hash, self.previous_hash,
                                          gw.settings.phone_hash_key_version)
                start_profile, resume, limited = self._context(session, now)
                self.language = start_profile.language or self.language
                if limited:
                    return polite_end(gw, "limit_reached", self.language)
                ctx = Context(gw.catalog, snapshot.directory, self.language,
                              gw.settings.ussd_screen_limit, start_profile, resume)
                result = flows.run(gw.flow, self.path, ctx)
                self.language = result.language
                update_ = next((e for e in result.effects if isinstance(e, UpdateProfile)), None)
                cells = set()
                if update_ is not None:  # consented: now, or in an earlier session
                    respondent_id = upsert_caller(
                        session, self.phone_hash, gw.settings.phone_hash_key_version, update_,
                        location_ids=snapshot.location_ids, now=now)
                    cells = store_answers(
                        session, respondent_id=respondent_id, channel="ussd",
                        session_key=self.session_id, effects=result.answers,
                        unit_ids=snapshot.unit_ids, location_ids=snapshot.location_ids,
                        survey_version=gw.flow.version, now=now, mark=False,
                    )
                    withdrawals = [e for e in result.effects if isinstance(e, WithdrawAnswer)]
                    if withdrawals:
                        cells |= withdraw_answers(session, respondent_id=respondent_id, now=now,
                                                  withdrawals=withdrawals, mark=False)
                    mark_dirty(session, cells, now)  # once, sorted: no lock-order deadlock
                    save_session(session, session_id=self.session_id, respondent_id=respondent_id,
                                 start_profile=start_profile, resume=resume, result=result,
                                 network_code=self.network_code, now=now)
        except UnknownUnit:
            gw.directory.invalidate()
            raise
        for period in sorted({cell.period for cell in cells}):
            gw.queue.enqueue(REFRESH_PERIOD, period, job_id=refresh_job_id(period))
        return screen_response(result.screen.wire())

    def _context(self, session: Session, now: datetime) -> tuple[Profile, Resume | None, bool]:
        """The profile this session replays from, a session to offer resuming, and the day limit."""
        settings = self.gw.settings
        # The session and the caller in one statement, so one snapshot: read apart, a copy of this
        # hop committing in between would show no session but a consented caller, and the first
        # hop would replay as a returning caller's.
        one = select(literal(1).label("one")).subquery()
        row, respondent = session.execute(
            select(UssdSession, Respondent).select_from(one)
            .outerjoin(UssdSession, UssdSession.session_id == self.session_id)
            .outerjoin(Respondent, Respondent.phone_hash == self.phone_hash)).one()
        if row is not None:
            resume = None
            if row.resume_path is not None:
                resume = Resume(tuple(row.resume_path), profile_from_json(row.resume_profile),
                                row.resumed_from or "")
            return profile_from_json(row.start_profile), resume, False
        profile = profile_of(session, respondent)
        if respondent is None or not has_consented(respondent, self.gw.flow):
            return profile, None, False
        if sessions_today(session, respondent.id, now) >= settings.max_sessions_per_day:
            return profile, None, True
        resume = None
        if not self.path:  # a dial-through means a fresh start
            resume = resumable_session(session, respondent.id, now, settings.resume_window)
        return profile, resume, False


_EVENT_FIELDS = ("sessionId", "status")


@bp.post("/at/<token>/ussd/events")
def ussd_events(token: str) -> Response:
    """End-of-session notifications, kept for the drop-off funnel; the phone number is dropped."""
    gw = check_token(token)
    form = request.form
    session_id = form.get("sessionId", "").strip()
    if not _SESSION_ID.match(session_id):
        return Response("sessionId is missing or malformed", status=400, mimetype="text/plain")
    try:
        with gw.db.transaction() as session:
            last_node = session.scalar(
                select(UssdSession.last_node).where(UssdSession.session_id == session_id))
            stmt = insert_for(session, UssdEvent).values(
                session_id=session_id,
                status=_short(form.get("status"), 20) or "Unknown",
                hops_count=_int(form.get("hopsCount")),
                duration_ms=_int(form.get("durationInMillis")),
                last_node=last_node,
                last_app_response=_short(form.get("lastAppResponse"), 200),
                error_message=_short(form.get("errorMessage"), 200),
                network_code=_short(form.get("networkCode"), 10),
                service_code=_short(form.get("serviceCode"), 40),
                cost=_short(form.get("cost"), 40),
                at_date=_short(form.get("date"), 40),
                received_at=datetime.now(UTC),
            )
            session.execute(stmt.on_conflict_do_nothing(index_elements=["session_id"]))
    except SQLAlchemyError:
        log.warning("ussd event not stored; Africa's Talking will retry", exc_info=True)
        return Response("temporarily unavailable", status=503, mimetype="text/plain")
    except Exception:
        log.exception("ussd event not stored")
        return Response("temporarily unavailable", status=503, mimetype="text/plain")
    return Response("OK", mimetype="text/plain")


def _int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 <= number < 2**31 else None
