"""Africa's Talking USSD callbacks as AT sends them: form-encoded POSTs, `text` accumulating.

Field names and shapes are those of AT's USSD API (sessionId `ATUid_…`, E.164 `phoneNumber`,
`networkCode` MCC+MNC: 63001 Vodacom, 63002 Airtel, 63086 Orange, 63090 Africell in DRC).
"""

from __future__ import annotations

import uuid
from typing import Any

TOKEN = "test-webhook-token-0123456789"
USSD_URL = f"/at/{TOKEN}/ussd"
SERVICE_CODE = "*384*2026#"

# A first-time caller in Goma rating the police commune of Goma "4. Bon":
# province 1 Nord-Kivu, territory 1 Goma (ville), commune 1 Goma, type 1 police (one unit there).
GOMA_POLICE = ["1", "1", "1", "1"]
GOMA_POLICE_UNIT = "NK-V-GOM-GOM-PNC"


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


def play(
    client: Any, phone: str, inputs: list[str], session_id: str | None = None, url: str = USSD_URL
) -> list[tuple[int, str]]:
    """Play a whole session hop by hop; returns (status, body) of every hop."""
    sid = session_id or new_session_id()
    out = []
    for hop in range(len(inputs) + 1):
        text = "*".join(inputs[:hop])
        response = client.post(url, data=ussd_form(sid, phone, text))
        out.append((response.status_code, response.get_data(as_text=True)))
    return out
