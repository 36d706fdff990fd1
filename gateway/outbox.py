"""Outbound SMS: queued as rows, sent by jobs, updated by delivery reports.

Rules (DESIGN §4, §7):
- a message is an `outbound_sms` row written in the transaction that decided to send it, unique on
  its idempotency key: a retried webhook or a second broadcast queues nothing twice, and a
  message survives a lost Redis (the sweeper enqueues every queued message that is due);
- only jobs send (`send_sms`, by row id: the number never travels through Redis). A job claims the
  attempt that is due (a short lease, so two jobs never send one message at once), respects the
  opt-out (only the opt-out confirmation itself goes to an opted-out number), waits for the shared
  send rate, decrypts the number from the vault, sends through the adapter, and records the
  per-recipient status, message id and cost;
- a failure worth retrying (timeout, 5xx, retryable status code) puts the message back in the
  queue for `BACKOFF[n]` seconds, the same delays RQ's `Retry` uses, until the last one: then the
  message is `failed`; a permanent failure is `failed` at once; AT's blacklist (406) also records
  the opt-out;
- sending is at least once: when AT accepted a message but the answer timed out, the retry sends
  it again (AT has no idempotency key), which a citizen may see as a duplicate;
- delivery reports move `sent` to `delivered` or `failed`; `delivered` is final, whatever order
  the reports come in;
- each recorded outcome is counted once it is committed: `gateway_sms_sent` (by kind of message),
  `gateway_sms_failed` (final, or to be retried; a delivery report's failure is final).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from flows.gsm import encoding_of
from gateway import metrics
from gateway.at_sms import (
    BLACKLISTED,
    AfricasTalkingSms,
    InvalidRecipient,
    SendError,
    SmsProvider,
)
from gateway.db import insert_for
from gateway.models import OutboundSms, Respondent
from gateway.queueing import SMS_QUEUE
from gateway.vault import Vault, VaultError

if TYPE_CHECKING:
    from gateway.db import Database
    from gateway.queueing import JobQueue
    from gateway.settings import Settings

log = logging.getLogger(__name__)

SEND_SMS = "gateway.outbox.send_sms"
BACKOFF = (30, 120, 600, 1800, 3600)  # seconds before attempts 2..6
LEASE = 120  # seconds an attempt in progress keeps other jobs off (past the SDK's timeouts)
QUEUED, SENT, DELIVERED, FAILED, SUPPRESSED = "queued", "sent", "delivered", "failed", "suppressed"
ALWAYS_SENT = frozenset({"opt_out"})  # the confirmation of a STOP reaches the opted-out number
_REPORT_FAILED = frozenset({"Failed", "Rejected"})
_REPORT_PENDING = frozenset({"Sent", "Submitted", "Buffered"})


def job_id(message_pk: int) -> str:
    return f"sms-{message_pk}"


def queue_sms(session: Session, *, respondent_id: int, kind: str, language: str, body: str,
              key: str, now: datetime, feedback_id: int | None = None) -> int | None:
    """Queue one message unless its key is already queued; the new row's id, or None."""
    encoding = encoding_of(body)
    stmt = insert_for(session, OutboundSms).values(
        idempotency_key=key[:120], respondent_id=respondent_id, feedback_id=feedback_id,
        kind=kind, language=language, body=body, encoding=encoding.name,
        segments=encoding.segments, status=QUEUED, attempts=0, next_attempt_at=now,
        created_at=now, updated_at=now,
    ).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(OutboundSms.id)
    new_id = session.execute(stmt).scalar()
    return int(new_id) if new_id is not None else None


def enqueue(queue: JobQueue, message_ids: list[int]) -> None:
    for pk in message_ids:
        queue.enqueue(SEND_SMS, pk, job_id=job_id(pk), retry=BACKOFF, queue=SMS_QUEUE)


def enqueue_due(db: Database, queue: JobQueue, now: datetime, settings: Settings) -> int:
    """The sweeper's part: every queued message whose attempt is due (none while no provider is
    configured: they wait, queued, for one)."""
    if not (settings.at_username and settings.at_api_key):
        return 0
    with db.session() as session:
        due = list(session.scalars(select(OutboundSms.id).where(
            OutboundSms.status == QUEUED, OutboundSms.next_attempt_at <= now)
            .order_by(OutboundSms.id).limit(5000)))
    enqueue(queue, due)
    return len(due)


# --- The send rate, shared by every worker --------------------------------------------------


class RateLimiter(Protocol):
    def wait(self) -> None: ...


class LocalRateLimiter:
    """One process (embedded mode): at most `rate` sends per second."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


class RedisRateLimiter:
    """Every worker: a counter per time window in Redis (no number in its key), at most
    `rate` x window sends per window; a full window waits for the next one. If Redis fails the
    limiter lets the send through rather than hold messages back."""

    def __init__(self, connection: Redis, rate: float, *, max_wait: float = 60.0) -> None:
        self.connection = connection
        self.window = math.ceil(1.0 / rate) if rate < 1 else 1  # never faster than `rate`
        self.limit = max(1, int(rate * self.window))
        self.max_wait = max_wait

    def wait(self) -> None:
        deadline = time.monotonic() + self.max_wait
        while True:
            now = time.time()
            slot = int(now // self.window)
            key = f"sms:rate:{slot}"
            try:
                pipe = self.connection.pipeline()
                pipe.incr(key)
                pipe.expire(key, self.window * 2)
                count = int(pipe.execute()[0])
            except (RedisError, OSError):
                log.warning("send-rate limiter unavailable (Redis); sending without it")
                return
            if count <= self.limit or time.monotonic() > deadline:
                return
            time.sleep((slot + 1) * self.window - now + 0.001)


# --- Sending ----------------------------------------------------------------------------------


class _Local:
    limiters: dict[float, LocalRateLimiter] = {}  # noqa: RUF012 - one per rate, per process
    lock = threading.Lock()


def provider_for(settings: Settings) -> SmsProvider | None:
    if not (settings.at_username and settings.at_api_key):
        return None
    return AfricasTalkingSms(settings.at_username, settings.at_api_key,
                             sender=settings.at_sender, api_url=settings.at_api_url)


def limiter_for(settings: Settings) -> RateLimiter:
    if settings.redis_url:
        from gateway.queueing import redis_connection

        return RedisRateLimiter(redis_connection(settings.redis_url, 2.0),
                                settings.sms_rate_per_second)
    with _Local.lock:
        return _Local.limiters.setdefault(settings.sms_rate_per_second,
                                          LocalRateLimiter(settings.sms_rate_per_second))


def _claim(db: Database, pk: int, now: datetime) -> bool:
    with db.transaction() as session:
        result = session.execute(
            update(OutboundSms)
            .where(OutboundSms.id == pk, OutboundSms.status == QUEUED,
                   OutboundSms.next_attempt_at <= now)
            .values(next_attempt_at=now + timedelta(seconds=LEASE),
                    attempts=OutboundSms.attempts + 1, updated_at=now))
        return bool(getattr(result, "rowcount", 0))


def attempt(db: Database, pk: int, *, vault: Vault, provider: SmsProvider,
            limiter: RateLimiter) -> OutboundSms:
    """One attempt if one is due, recorded; the message as it now stands."""
    now = datetime.now(UTC)
    claimed = _claim(db, pk, now)
    with db.session() as session:
        message = session.get(OutboundSms, pk)
        if message is None:
            raise LookupError(f"no outbound SMS {pk}")
        if not claimed:
            session.expunge(message)
            return message  # sent, failed, not yet due, or being sent elsewhere
        respondent = session.get(Respondent, message.respondent_id)
        opted_out = respondent is not None and respondent.sms_opted_out_at is not None
        body, kind = message.body, message.kind
        number: str | None = None
        reason: str | None = None
        if opted_out and kind not in ALWAYS_SENT:
            reason = "opted_out"
        else:
            try:
                number = vault.number(session, message.respondent_id, now)
            except VaultError:
                reason = "no_number"
    if number is None:
        return _record(db, pk, status=SUPPRESSED, reason=reason)
    limiter.wait()
    try:
        result = provider.send(body, [number])[0]
    except InvalidRecipient:
        return _record(db, pk, status=FAILED, reason="invalid_number")
    except SendError as exc:
        return _record(db, pk, status=QUEUED, reason=str(exc)[:100])
    if result.success:
        return _record(db, pk, status=SENT, code=result.status_code, at_status=result.status,
                       message_id=result.message_id, cost=result.cost)
    status = QUEUED if result.retryable else FAILED
    return _record(db, pk, status=status, code=result.status_code, at_status=result.status,
                   cost=result.cost, reason=result.status,
                   blacklisted=result.status_code == BLACKLISTED)


def _record(db: Database, pk: int, *, status: str, code: int | None = None,
            at_status: str | None = None, message_id: str | None = None,
            cost: str | None = None, reason: str | None = None,
            blacklisted: bool = False) -> OutboundSms:
    now = datetime.now(UTC)
    with db.transaction() as session:
        message = session.get(OutboundSms, pk)
        assert message is not None
        message.status_code, message.at_status = code, at_status
        message.failure_reason = reason
        message.updated_at = now
        if cost is not None:
            message.cost = cost
        if status == QUEUED and message.attempts > len(BACKOFF):
            status = FAILED
        message.status = status
        if status == QUEUED:
            message.next_attempt_at = now + timedelta(seconds=BACKOFF[message.attempts - 1])
        else:
            message.next_attempt_at = None
        if status == SENT:
            message.at_message_id, message.sent_at = message_id, now
        if blacklisted:
            respondent = session.get(Respondent, message.respondent_id)
            if respondent is not None and respondent.sms_opted_out_at is None:
                respondent.sms_opted_out_at = now
        session.flush()
        session.expunge(message)
    if status == SENT:
        metrics.sms_sent.labels(message.kind).inc()
    elif status in (FAILED, QUEUED):
        metrics.sms_failed.labels("true" if status == FAILED else "false").inc()
    if status != SENT:
        log.info("outbound SMS %d: %s (%s, attempt %d)", pk, status, reason or "-",
                 message.attempts)
    return message


class RetryLater(RuntimeError):
    """Raised under RQ when an attempt failed and another is due: RQ's `Retry` runs it again."""


def send_sms(message_pk: int, *, database: Database | None = None,
             settings: Settings | None = None) -> dict[str, Any]:
    """The RQ job: one attempt at one message. Under RQ the database and settings come from the
    worker's environment; the embedded mode's in-process runner passes its own."""
    from rq import get_current_job

    from gateway.settings import Settings as SettingsType
    from scoring.jobs import default_database

    db = database or default_database()
    config = settings or SettingsType.from_env()
    provider = provider_for(config)
    if provider is None:
        log.warning("outbound SMS %s waits: AT_USERNAME and AT_API_KEY are not set", message_pk)
        return {"status": QUEUED, "attempts": 0}
    vault = Vault(config.vault_keys, config.vault_retention_days)
    started = datetime.now(UTC)
    message = attempt(db, int(message_pk), vault=vault, provider=provider,
                      limiter=limiter_for(config))
    tried_now = message.updated_at >= started  # not when the attempt was not due or not ours
    if message.status == QUEUED and tried_now and get_current_job() is not None:
        raise RetryLater(f"outbound SMS {message_pk}: attempt {message.attempts} failed")
    return {"status": message.status, "attempts": message.attempts}


# --- Delivery reports -------------------------------------------------------------------------


def apply_report(session: Session, message_id: str, status: str, reason: str | None,
                 now: datetime) -> bool:
    """Apply one delivery report; False when no message has that id (not ours, or not yet
    recorded)."""
    message = session.scalar(select(OutboundSms).where(OutboundSms.at_message_id == message_id)
                             .with_for_update())
    if message is None:
        return False
    if message.status == DELIVERED:
        return True  # final: a late "Sent" or "Failed" of an earlier try changes nothing
    message.at_status = status[:40]
    message.updated_at = now
    if status == "Success":
        message.status, message.failure_reason = DELIVERED, None
    elif status in _REPORT_FAILED:
        if message.status != FAILED:
            metrics.count_on_commit(session, metrics.sms_failed.labels("true"))
        message.status = FAILED
        message.failure_reason = (reason or status)[:100]
        if (reason or "").lower() == "userinblacklist":  # "UserInBlackList" in reports
            respondent = session.get(Respondent, message.respondent_id)
            if respondent is not None and respondent.sms_opted_out_at is None:
                respondent.sms_opted_out_at = now
    elif status in _REPORT_PENDING and message.status != FAILED:
        message.status = SENT
    return True
