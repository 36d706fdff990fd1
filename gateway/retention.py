"""How long raw traffic is kept: Africa's Talking's USSD end-of-session notifications and the text
of incoming SMS (the citizen's own words, numbers already masked), `RAW_RETENTION_DAYS` after
they arrived.

Rules:
- end-of-session notifications older than that are deleted (the funnel of older quarters then
  counts only what is left: their sessions keep their last screen);
- an incoming SMS keeps its row (its Africa's Talking id keeps a late retry from being counted
  twice; what it meant is in the answers, feedback and outcome) but its text is cleared;
- answers, scores and feedback the staff work on are not raw traffic and are never purged here;
  phone numbers have their own, shorter, retention (gateway.vault);
- run by the sweeper (the worker's periodic sweep, `flask --app gateway sweep`), in batches, so a
  first run on a large backlog never holds one long transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from gateway.models import SmsInbound, UssdEvent

BATCH = 5000
CLEARED = ""


def purge_raw_events(session: Session, now: datetime, days: int) -> tuple[int, int]:
    """Delete old end-of-session notifications and clear old SMS texts (one batch of each);
    return how many of each."""
    before = now - timedelta(days=days)
    events = select(UssdEvent.id).where(UssdEvent.received_at < before).limit(BATCH)
    deleted = session.execute(delete(UssdEvent).where(UssdEvent.id.in_(events)))
    texts = (select(SmsInbound.id)
             .where(SmsInbound.received_at < before, SmsInbound.text != CLEARED).limit(BATCH))
    cleared = session.execute(update(SmsInbound).where(SmsInbound.id.in_(texts))
                              .values(text=CLEARED))
    return int(getattr(deleted, "rowcount", 0)), int(getattr(cleared, "rowcount", 0))
