"""Staff answers to SMS feedback: the reply goes to the citizen, the number stays in the vault.

Rules (DESIGN §5): staff see a feedback's text, language, locality and category, never a number;
an answer is queued as an outbound SMS to the feedback's respondent (`feedback_reply`), keyed
`feedback:<id>:<n>` so a double click queues one message; an opted-out citizen or a number past
its retention cannot be answered, and staff are told so rather than left believing it was sent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flows.gsm import encoding_of
from gateway.models import Feedback, OutboundSms, Respondent
from gateway.outbox import queue_sms
from gateway.smsconfig import SmsConfig
from gateway.vault import Vault

MAX_SEGMENTS = 3


class CannotReply(ValueError):
    """The answer cannot reach the citizen; the message says why (no number, no detail)."""


def answer_feedback(session: Session, feedback_id: int, text: str, *, sms: SmsConfig,
                    vault: Vault, now: datetime) -> int | None:
    """Queue the answer; the new message id (None when this exact answer is already queued)."""
    feedback = session.get(Feedback, feedback_id, with_for_update=True)
    if feedback is None:
        raise CannotReply(f"no feedback {feedback_id}")
    text = " ".join(text.split())
    if not text:
        raise CannotReply("the answer is empty")
    respondent = session.get(Respondent, feedback.respondent_id)
    if respondent is None or respondent.sms_opted_out_at is not None:
        raise CannotReply("the citizen has opted out of SMS (STOP)")
    if not vault.has(session, feedback.respondent_id, now):
        raise CannotReply("the citizen's number is no longer kept (retention period passed)")
    body = sms.text(feedback.language, "feedback_reply", ref=feedback.id, text=text)
    if encoding_of(body).segments > MAX_SEGMENTS:
        raise CannotReply(f"the answer is too long: at most {MAX_SEGMENTS} SMS parts")
    previous = session.scalar(select(func.count()).select_from(OutboundSms).where(
        OutboundSms.feedback_id == feedback.id, OutboundSms.body == body))
    if previous:
        return None
    answers = session.scalar(select(func.count()).select_from(OutboundSms).where(
        OutboundSms.feedback_id == feedback.id)) or 0
    new_id = queue_sms(session, respondent_id=feedback.respondent_id, kind="feedback_reply",
                       language=feedback.language, body=body,
                       key=f"feedback:{feedback.id}:{answers + 1}", now=now,
                       feedback_id=feedback.id)
    feedback.status, feedback.answered_at = "answered", now
    return new_id
