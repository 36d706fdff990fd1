"""Closing the loop: the quarter's result, by SMS, to the citizens who asked for it.

Rules:
- only a locked quarter is broadcast, from its published snapshot (the numbers the RBF engine
  got, suppression included: a cell below MIN_RESPONDENTS says "too few answers", never a score);
- only to respondents who sent RESULTATS/MATOKEO/MBANO, have not opted out, whose number the vault
  still holds and whose locality is known; each gets their locality's score per institution type
  (or the nearest level above that has one: a tribunal serves a whole territory), in their SMS
  language, in one GSM-7 message (the improvement words are dropped if it would not fit);
- each message is keyed `broadcast:<period>:v<version>:<respondent>`: broadcasting twice queues
  nothing twice.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flows.gsm import GSM7, encoding_of
from gateway.models import Location, PhoneVault, Respondent
from gateway.outbox import queue_sms
from gateway.quarters import LOCKED, LifecycleError, latest_snapshot
from gateway.smsconfig import SmsConfig

TYPES = ("police", "justice", "administration")


def results_message(sms: SmsConfig, language: str, period: str, place: str,
                    items: dict[str, dict[str, Any]]) -> str:
    """The one message for one locality; the improvement words go if it would be two parts."""
    for with_trend in (True, False):
        parts = []
        for institution in TYPES:
            inst = sms.text(language, f"inst_{institution}")
            item = items.get(institution)
            if item is None or item.get("score") is None:
                parts.append(sms.text(language, "result_few", inst=inst))
                continue
            text = sms.text(language, "result_score", inst=inst, score=round(item["score"]))
            verdict = (item.get("improvement") or {}).get("verdict")
            if with_trend and verdict in ("improved", "not_improved"):
                text += " " + sms.text(language, "better" if verdict == "improved"
                                       else "not_better")
            parts.append(text)
        body = sms.text(language, "results", period=period, place=place, items=", ".join(parts))
        encoding = encoding_of(body)
        if encoding.name == GSM7 and encoding.single:
            return body
    return body


def broadcast_results(session: Session, period: str, sms: SmsConfig, now: datetime) -> list[int]:
    """Queue the result message of `period` for everyone who asked; the new message ids."""
    snapshot = latest_snapshot(session, period)
    if snapshot is None:
        raise LifecycleError(f"{period} has no published snapshot: lock it first")
    document = json.loads(snapshot.document)
    if document.get("status") != LOCKED:
        raise LifecycleError(f"{period} is not locked")
    by_place: dict[tuple[str, str], dict[str, Any]] = {}
    for item in document["items"]:
        if item["level"] != "unit":
            by_place[(item["location"]["code"], item["type"])] = item
    locations = {row.id: row for row in session.scalars(select(Location))}
    recipients = session.execute(
        select(Respondent.id, Respondent.sms_language, Respondent.last_location_id)
        .join(PhoneVault, PhoneVault.respondent_id == Respondent.id)
        .where(Respondent.results_opt_in_at.is_not(None),
               Respondent.sms_opted_out_at.is_(None),
               Respondent.last_location_id.is_not(None),
               PhoneVault.purge_after > now)
        .order_by(Respondent.id)).all()
    queued: list[int] = []
    for respondent_id, language, location_id in recipients:
        place = locations.get(location_id) if location_id is not None else None
        if place is None:
            continue
        items = {t: found for t in TYPES
                 if (found := _nearest(by_place, locations, place, t)) is not None}
        body = results_message(sms, language or sms.default_language, period, place.ussd_name,
                               items)
        new_id = queue_sms(session, respondent_id=respondent_id, kind="broadcast",
                           language=language or sms.default_language, body=body,
                           key=f"broadcast:{period}:v{snapshot.version}:{respondent_id}",
                           now=now)
        if new_id is not None:
            queued.append(new_id)
    return queued


def _nearest(by_place: dict[tuple[str, str], dict[str, Any]], locations: dict[int, Location],
             place: Location, institution: str) -> dict[str, Any] | None:
    current: Location | None = place
    while current is not None:
        item = by_place.get((current.code, institution))
        if item is not None:
            return item
        current = locations.get(current.parent_id) if current.parent_id else None
    return None
