"""The Africa's Talking USSD webhook: `POST /at/<WEBHOOK_TOKEN>/ussd`.

Rules (DESIGN §3, §7):
- a wrong token is a 404, indistinguishable from any unknown URL;
- the reply is `text/plain`, `CON ` or `END ` plus at most the screen limit of printable ASCII;
- the screen is a pure function of the flow and the `text` path (replay); answers in the path are
  stored, idempotently, in one transaction *before* the reply, then their cells are enqueued for
  refresh, best effort;
- whatever fails behind it (database down, a bug), the caller gets a polite `END` in their
  language, never an HTTP 500; malformed requests get a 400 whose body names the field.
"""

from __future__ import annotations

import hmac
import logging
import re
from datetime import UTC, datetime

from flask import Blueprint, Response, abort, request
from sqlalchemy.exc import SQLAlchemyError

import flows
from flows.engine import Context
from gateway.answers import UnknownUnit, store_answers, upsert_respondent
from gateway.phones import InvalidPhone, normalise, pseudonym
from gateway.state import GatewayState, current_gateway
from scoring.keys import REFRESH_CELL

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


def polite_end(
    gw: GatewayState, message_id: str, language: str, status: int = 200, field: str | None = None
) -> Response:
    text = gw.catalog.text(language, message_id)
    if field is not None:
        text = f"{text} ({field})"
    return screen_response(flows.Screen(True, text).wire(), status)


@bp.post("/at/<token>/ussd")
def ussd(token: str) -> Response:
    gw = check_token(token)
    language = gw.catalog.default_language
    form = request.form
    session_id = form.get("sessionId", "").strip()
    text = form.get("text", "")
    if not _SESSION_ID.match(session_id):
        return polite_end(gw, "bad_request", language, 400, "sessionId")
    try:
        e164 = normalise(form.get("phoneNumber", ""))
    except InvalidPhone:
        return polite_end(gw, "bad_request", language, 400, "phoneNumber")
    path = text.split("*") if text else []
    if len(text) > MAX_TEXT or len(path) > MAX_INPUTS:
        return polite_end(gw, "bad_request", language, 400, "text")
    try:
        return _hop(gw, session_id, e164, path, language)
    except (SQLAlchemyError, OSError):
        log.warning("ussd hop failed on the database; caller told to retry", exc_info=True)
    except Exception:
        log.exception("ussd hop failed")
    return polite_end(gw, "unavailable", language)


def _hop(gw: GatewayState, session_id: str, e164: str, path: list[str], language: str) -> Response:
    snapshot = gw.directory.get()
    ctx = Context(gw.catalog, snapshot.directory, language, gw.settings.ussd_screen_limit)
    result = flows.run(gw.flow, path, ctx)
    if result.effects:
        now = datetime.now(UTC)
        try:
            with gw.db.transaction() as session:
                respondent_id = upsert_respondent(
                    session,
                    pseudonym(e164, gw.settings.phone_hash_key),
                    gw.settings.phone_hash_key_version,
                    now,
                )
                cells = store_answers(
                    session,
                    respondent_id=respondent_id,
                    channel="ussd",
                    session_key=session_id,
                    effects=result.effects,
                    unit_ids=snapshot.unit_ids,
                    location_ids=snapshot.location_ids,
                    survey_version=gw.flow.version,
                    now=now,
                )
        except UnknownUnit:
            gw.directory.invalidate()
            raise
        for cell in sorted(cells):
            gw.queue.enqueue(
                REFRESH_CELL, cell.period, cell.unit_id, cell.indicator, job_id=cell.job_id
            )
    return screen_response(result.screen.wire())
