"""Sending SMS through Africa's Talking: the one adapter between the gateway and the SDK.

Rules (DESIGN §4):
- the SDK's `SMSService` is built per adapter, not through `africastalking.initialize()` (which
  rebinds module globals under every thread); AT_API_URL replaces its base URL (a sandbox, a
  proxy, the tests' fake server), `/version1` appended as the SDK does;
- every request has the SDK's timeouts (connect, read); a timeout, a refused connection or a
  non-2xx answer is a `SendError` (the caller retries later); a 2xx answer is read recipient by
  recipient, because AT reports per-recipient failures inside a 201: status codes 100, 101 and 102
  are success, the rest are failures, some worth retrying (`RETRYABLE`);
- nothing here logs a number or an answer body (AT's error text may echo the request).
Another aggregator would be another class with the same `send`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from africastalking.Service import AfricasTalkingException
from africastalking.SMS import SMSService

SUCCESS = frozenset({100, 101, 102})  # Processed, Sent, Queued
# RiskHold, InsufficientBalance, InternalServerError, GatewayError, RejectedByGateway: may pass
# later. InvalidSenderId, InvalidPhoneNumber, UnsupportedNumberType, UserInBlacklist,
# CouldNotRoute, DoNotDisturbRejection will not.
RETRYABLE = frozenset({401, 405, 500, 501, 502})
BLACKLISTED = 406
TIMEOUT = (3.05, 10.0)  # seconds: connect, read


class SendError(RuntimeError):
    """The request failed as a whole (timeout, connection, HTTP error): try again later."""


class InvalidRecipient(ValueError):
    """The SDK refused a recipient before sending (not an E.164 number): never worth a retry."""


@dataclass(frozen=True)
class RecipientResult:
    number: str
    status_code: int | None
    status: str
    message_id: str | None
    cost: str | None

    @property
    def success(self) -> bool:
        return self.status_code in SUCCESS

    @property
    def retryable(self) -> bool:
        return self.status_code in RETRYABLE or self.status_code is None


class SmsProvider(Protocol):
    def send(self, message: str, recipients: list[str]) -> list[RecipientResult]: ...


class AfricasTalkingSms:
    def __init__(self, username: str, api_key: str, *, sender: str | None = None,
                 api_url: str | None = None,
                 timeout: tuple[float, float] = TIMEOUT) -> None:
        self._service = SMSService(username, api_key)
        if api_url:
            self._service._baseUrl = api_url.rstrip("/") + "/version1"
        self.sender = sender
        self.timeout = timeout

    def send(self, message: str, recipients: list[str]) -> list[RecipientResult]:
        try:
            answer = self._service.send(message, recipients, sender_id=self.sender,
                                        timeout=self.timeout)
        except requests.RequestException as exc:
            raise SendError(type(exc).__name__) from None
        except AfricasTalkingException:
            raise SendError("HTTP error from Africa's Talking") from None
        except ValueError:
            raise InvalidRecipient("a recipient is not an E.164 number") from None
        return parse_response(answer, recipients)


def parse_response(answer: Any, recipients: list[str]) -> list[RecipientResult]:
    """Per-recipient results of a 2xx answer; a recipient AT left out counts as retryable."""
    if isinstance(answer, str | bytes):
        try:
            answer = json.loads(answer)
        except ValueError:
            raise SendError("unreadable answer from Africa's Talking") from None
    try:
        rows = answer["SMSMessageData"]["Recipients"]
    except (KeyError, TypeError):
        raise SendError("unexpected answer from Africa's Talking") from None
    by_number: dict[str, RecipientResult] = {}
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        number = str(row.get("number", ""))
        code = row.get("statusCode")
        by_number[number] = RecipientResult(
            number=number,
            status_code=int(code) if isinstance(code, int | str) and str(code).isdigit() else None,
            status=str(row.get("status", ""))[:40],
            message_id=str(row["messageId"])[:100] if row.get("messageId") else None,
            cost=str(row["cost"])[:40] if row.get("cost") else None,
        )
    if len(recipients) == 1 and len(by_number) == 1:
        # One message, one answer: AT may write the number its own way (spaces, no "+").
        only = next(iter(by_number.values()))
        return [RecipientResult(recipients[0], only.status_code, only.status, only.message_id,
                                only.cost)]
    return [by_number.get(n, RecipientResult(n, None, "NotReported", None, None))
            for n in recipients]
