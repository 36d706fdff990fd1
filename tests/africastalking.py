"""Africa's Talking USSD callbacks as AT sends them: form-encoded POSTs, `text` accumulating.

Field names and shapes are those of AT's USSD API (sessionId `ATUid_…`, E.164 `phoneNumber`,
`networkCode` MCC+MNC: 63001 Vodacom, 63002 Airtel, 63086 Orange, 63090 Africell in DRC), and of
its end-of-session notification (status Success / Incomplete / Failed, hopsCount, …).
"""

from __future__ import annotations

import uuid
from typing import Any

TOKEN = "test-webhook-token-0123456789"
USSD_URL = f"/at/{TOKEN}/ussd"
EVENTS_URL = f"/at/{TOKEN}/ussd/events"
SERVICE_CODE = "*384*2026#"

# A first-time caller: 1 French, 1 consent, 1 Nord-Kivu, 1 Goma (ville), 1 commune of Goma,
# 1 police (one police unit there, so no unit screen).
FIRST_TIME_GOMA_POLICE = ["1", "1", "1", "1", "1", "1"]
GOMA_POLICE_UNIT = "NK-V-GOM-GOM-PNC"
GOMA_COMMUNE = "NK-V-GOM-GOM"
INDICATORS = ("contact", "trust", "respect", "change")  # bribe only after contact = yes


def rating(*, trust: str = "3", respect: str = "3", change: str = "3", contact: str = "2",
           bribe: str | None = None, another: str | None = "2") -> list[str]:
    """The question inputs for one institution, then "rate another?" (2 = no, END)."""
    inputs = [contact, *([bribe or "2"] if contact == "1" else []), trust, respect, change]
    return inputs + ([another] if another is not None else [])


def first_time_goma_police(**answers: Any) -> list[str]:
    return [*FIRST_TIME_GOMA_POLICE, *rating(**answers)]


def new_session_id() -> str:
    return "ATUid_" + uuid.uuid4().hex


def ussd_form(session_id: str, phone: str, text: str, network: str = "63001") -> dict[str, str]:
    return {
        "sessionId": session_id,
        "serviceCode": SERVICE_CODE,
        "phoneNumber": phone,
        "networkCode": network,
        "text": text,
    }


def end_of_session(session_id: str, phone: str, status: str = "Incomplete", hops: int = 3,
                   last: str = "CON Territoire ou ville:") -> dict[str, str]:
    return {
        "sessionId": session_id,
        "serviceCode": SERVICE_CODE,
        "networkCode": "63002",
        "phoneNumber": phone,
        "status": status,
        "cost": "KES 0.0000",
        "durationInMillis": "41230",
        "hopsCount": str(hops),
        "input": "1",
        "lastAppResponse": last,
        "errorMessage": "",
        "date": "2026-11-27 08:15:02",
    }


def play(client: Any, phone: str, inputs: list[str], *, session_id: str | None = None,
         url: str = USSD_URL, hops: int | None = None) -> list[tuple[int, str]]:
    """Play a session hop by hop (all of it, or its first `hops` hops, as a dropped call would);
    returns (status, body) of every hop."""
    sid = session_id or new_session_id()
    out = []
    count = len(inputs) + 1 if hops is None else hops
    for hop in range(count):
        text = "*".join(inputs[:hop])
        response = client.post(url, data=ussd_form(sid, phone, text))
        out.append((response.status_code, response.get_data(as_text=True)))
    return out


# --- SMS ----------------------------------------------------------------------------------------
# Incoming messages as AT posts them (form-encoded: from, to, text, date, id, linkId,
# networkCode), and its delivery reports (id, status, phoneNumber, networkCode, failureReason,
# retryCount).

SMS_URL = f"/at/{TOKEN}/sms"
DELIVERY_URL = f"/at/{TOKEN}/sms/delivery"
SHORT_CODE = "2026"


def new_sms_id() -> str:
    return str(uuid.uuid4())


def sms_form(phone: str, text: str, *, at_id: str | None = None, network: str = "63001",
             date: str = "2026-11-27 08:15:02") -> dict[str, str]:
    return {
        "from": phone,
        "to": SHORT_CODE,
        "text": text,
        "date": date,
        "id": at_id or new_sms_id(),
        "linkId": "SampleLinkId" + uuid.uuid4().hex[:8],
        "networkCode": network,
    }


def delivery_report(message_id: str, phone: str, status: str = "Success",
                    failure_reason: str = "", retry_count: str = "0") -> dict[str, str]:
    return {
        "id": message_id,
        "status": status,
        "phoneNumber": phone,
        "networkCode": "63002",
        "failureReason": failure_reason,
        "retryCount": retry_count,
    }
