"""The Africa's Talking SMS webhooks: `POST /at/<WEBHOOK_TOKEN>/sms` and `.../sms/delivery`.

Rules (DESIGN §4, §7):
- a wrong token is a 404, as for USSD;
- an incoming message is handled in one transaction (`sms_inbox.handle`) and answered `200 OK`
  once it is stored; AT retries until it gets a 200, so a message already stored (same `id`)
  is answered 200 and changes nothing, and a database failure is a 503 (AT tries again) — never a
  500, never a half-written row; a message whose handling fails otherwise (a bug, a broken
  config) would fail on every retry: it is stored bare, marked `error`, and acknowledged, so it
  is not lost when AT gives up; replies and score refreshes are enqueued after the commit, best
  effort (the sweeper catches what Redis lost);
- malformed requests get a 400 that names the field; the phone number is normalised, kept only
  as its pseudonym and in the vault, and never logged;
- delivery reports update the message they name; one for a message we do not know is
  acknowledged (200) and ignored;
- every incoming message is counted by outcome (`gateway_sms_incoming`: stored, duplicate,
  kept_unhandled, retry_later for a 503, bad_request for a 400).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

from flask import Blueprint, Response, request
from sqlalchemy.exc import SQLAlchemyError

from gateway import metrics, outbox
from gateway.answers import adopt_previous_digest
from gateway.db import within_hop_budget
from gateway.phones import InvalidPhone, normalise, pseudonym
from gateway.sms_inbox import Inbound, handle, keep_unhandled
from gateway.state import GatewayState
from gateway.ussd import check_token
from scoring.keys import REFRESH_PERIOD, refresh_job_id

log = logging.getLogger(__name__)
bp = Blueprint("sms", __name__)

_AT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
MAX_TEXT = 2000


def _plain(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


def _bad(field: str) -> Response:
    return _plain(f"{field} is missing or malformed", 400)


def _short(value: str | None, limit: int) -> str | None:
    """A field as stored: stripped, at most `limit` characters, without NUL (PostgreSQL text
    cannot hold it: the row would be refused and the message retried until AT gives up)."""
    value = (value or "").replace("\x00", "").strip()
    return value[:limit] or None


@bp.post("/at/<token>/sms")
def incoming(token: str) -> Response:
    gw = check_token(token)
    response, outcome = _incoming(gw)
    metrics.sms_incoming.labels(outcome).inc()
    return response


def _incoming(gw: GatewayState) -> tuple[Response, str]:
    """The reply to one incoming message, and its outcome (a metrics label)."""
    form = request.form
    at_id = form.get("id", "").strip()
    if not _AT_ID.match(at_id):
        return _bad("id"), "bad_request"
    try:
        e164 = normalise(form.get("from", ""))
    except InvalidPhone:
        return _bad("from"), "bad_request"
    text = form.get("text")
    if text is None or len(text) > MAX_TEXT:
        return _bad("text"), "bad_request"
    text = text.replace("\x00", "@")  # GSM-7's "@" is code 0: some routes pass it on as NUL
    message = Inbound(
        at_id=at_id, e164=e164, phone_hash=pseudonym(e164, gw.settings.phone_hash_key),
        text=text, short_code=_short(form.get("to"), 20), link_id=_short(form.get("linkId"), 100),
        network_code=_short(form.get("networkCode"), 10), at_date=_short(form.get("date"), 40))
    try:
        ctx = gw.sms_context()
        previous = gw.settings.phone_hash_key_previous
        with gw.db.transaction() as session:
            within_hop_budget(session)
            if previous:
                adopt_previous_digest(session, message.phone_hash, pseudonym(e164, previous),
                                      gw.settings.phone_hash_key_version)
            handled = handle(session, ctx, message, datetime.now(UTC))
    except SQLAlchemyError:
        log.warning("incoming SMS %s not stored; Africa's Talking will retry", at_id,
                    exc_info=True)
        return _plain("temporarily unavailable", 503), "retry_later"
    except Exception:
        log.exception("incoming SMS %s not handled; kept as an error", at_id)
        kept = _keep_unhandled(gw, message)
        return kept, "kept_unhandled" if kept.status_code == 200 else "retry_later"
    if handled is None:
        return _plain("OK (already received)"), "duplicate"
    for period in sorted({cell.period for cell in handled.cells}):
        gw.queue.enqueue(REFRESH_PERIOD, period, job_id=refresh_job_id(period))
    outbox.enqueue(gw.queue, handled.outbound)
    return _plain("OK"), "stored"


def _keep_unhandled(gw: GatewayState, message: Inbound) -> Response:
    try:
        with gw.db.transaction() as session:
            within_hop_budget(session)
            keep_unhandled(session, gw.sms_context(), message, datetime.now(UTC))
    except Exception:
        log.exception("incoming SMS %s could not be kept; Africa's Talking will retry",
                      message.at_id)
        return _plain("temporarily unavailable", 503)
    return _plain("OK (kept for staff: it could not be handled)")


@bp.post("/at/<token>/sms/delivery")
def delivery_report(token: str) -> Response:
    gw = check_token(token)
    form = request.form
    message_id = form.get("id", "").strip()
    if not _AT_ID.match(message_id):
        return _bad("id")
    status = form.get("status", "").replace("\x00", "").strip()
    if not status or len(status) > 40:
        return _bad("status")
    try:
        with gw.db.transaction() as session:
            within_hop_budget(session)
            known = outbox.apply_report(session, message_id, status,
                                        _short(form.get("failureReason"), 100),
                                        datetime.now(UTC))
    except SQLAlchemyError:
        log.warning("delivery report not stored; Africa's Talking will retry", exc_info=True)
        return _plain("temporarily unavailable", 503)
    except Exception:
        log.exception("delivery report not handled")
        return _plain("temporarily unavailable", 503)
    if not known:
        log.info("delivery report for an unknown message id %s ignored", message_id)
    return _plain("OK")
