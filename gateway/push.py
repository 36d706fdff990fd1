"""Signed pushes to the RBF engine when a quarter is locked.

Rules:
- locking a quarter creates one `deliveries` row per configured URL (RBF_WEBHOOK_URLS) in the
  lock's own transaction, so a push can never be forgotten; the rows are the source of truth and
  Redis only carries the jobs that act on them;
- a job makes one attempt, only if one is due and it can claim it (so a push is never sent twice
  at once; receivers should still de-duplicate on the delivery id: delivery is at least once),
  and records it (status code or error, duration); on failure the next
  attempt is due after a growing delay (BACKOFF) and scheduled, and the sweeper enqueues any due
  delivery that Redis lost; after the last delay the delivery is `failed` (replay it by CLI);
- the body is the locked snapshot in canonical JSON; the headers carry the event, a delivery id
  and `X-Gateway-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with
  RBF_WEBHOOK_SECRET, which a receiver checks with `verify_signature` (and rejects when `t` is
  older than a few minutes, against replays).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import requests
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.models import Delivery, DeliveryAttempt, Snapshot

if TYPE_CHECKING:
    from gateway.db import Database
    from gateway.queueing import JobQueue

log = logging.getLogger(__name__)

DELIVER = "gateway.push.deliver"
EVENT = "quarter.locked"
BACKOFF = (30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600)  # seconds before attempts 2..8
TIMEOUT = (5, 15)  # connect, read (seconds)
LEASE = 300  # an attempt in progress keeps others off this long, well past a slow receiver


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(secret: str, header: str, body: bytes, *, now: float | None = None,
                     tolerance: int = 300) -> bool:
    """What a receiver runs: the signature matches and is recent."""
    try:
        parts = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def create_deliveries(session: Session, urls: tuple[str, ...], period: str, version: int,
                      now: datetime) -> list[Delivery]:
    rows = [Delivery(delivery_id=str(uuid.uuid4()), url=url, event=EVENT, period=period,
                     version=version, status="pending", attempts=0, next_attempt_at=now,
                     created_at=now) for url in urls]
    session.add_all(rows)
    session.flush()
    return rows


def body_of(snapshot: Snapshot, delivery: Delivery) -> bytes:
    payload = {"event": delivery.event, "delivery_id": delivery.delivery_id,
               "period": snapshot.period, "version": snapshot.version,
               "sha256": snapshot.sha256, "snapshot": json.loads(snapshot.document)}
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def _claim(db: Database, delivery_pk: int) -> bool:
    """Take the attempt that is due, atomically: a job queued twice, or two workers, or the
    sweeper racing a worker, make one POST (the lease lasts past the request's timeout)."""
    now = datetime.now(UTC)
    with db.transaction() as session:
        result = session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_pk, Delivery.status == "pending",
                   Delivery.next_attempt_at <= now)
            .values(next_attempt_at=now + timedelta(seconds=LEASE)))
        return bool(getattr(result, "rowcount", 0))


def attempt(db: Database, delivery_pk: int, secret: str) -> Delivery:
    """One attempt if one is due, recorded; returns the delivery as it now stands."""
    claimed = _claim(db, delivery_pk)
    with db.session() as session:
        delivery = session.get(Delivery, delivery_pk)
        if delivery is None:
            raise LookupError(f"no delivery {delivery_pk}")
        if not claimed:
            session.expunge(delivery)
            return delivery  # delivered, failed, not yet due, or being attempted elsewhere
        snapshot = session.scalars(select(Snapshot).where(
            Snapshot.period == delivery.period, Snapshot.version == delivery.version)).one()
        body = body_of(snapshot, delivery)
        url, delivery_id = delivery.url, delivery.delivery_id
    started = time.perf_counter()
    status_code: int | None = None
    error: str | None = None
    try:
        response = requests.post(url, data=body, timeout=TIMEOUT, headers={
            "Content-Type": "application/json",
            "User-Agent": "feedback-gateway",
            "X-Gateway-Event": EVENT,
            "X-Gateway-Delivery": delivery_id,
            "X-Gateway-Signature": sign(secret, int(time.time()), body),
        })
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except requests.RequestException as exc:
        error = type(exc).__name__
    duration = int((time.perf_counter() - started) * 1000)
    now = datetime.now(UTC)
    with db.transaction() as session:
        delivery = session.get(Delivery, delivery_pk)
        assert delivery is not None
        session.add(DeliveryAttempt(delivery_id=delivery.id, attempted_at=now,
                                    status_code=status_code, error=error, duration_ms=duration))
        delivery.attempts += 1
        if error is None:
            delivery.status, delivery.delivered_at = "delivered", now
            delivery.next_attempt_at = None
        elif delivery.attempts > len(BACKOFF):
            delivery.status, delivery.next_attempt_at = "failed", None
        else:
            delivery.status = "pending"
            delivery.next_attempt_at = now + timedelta(seconds=BACKOFF[delivery.attempts - 1])
        session.flush()
        session.expunge(delivery)
    if error is not None:
        log.warning("delivery %s to the RBF webhook: %s (attempt %d)", delivery_id, error,
                    delivery.attempts)
    return delivery


def deliver(delivery_pk: int, *, database: Database | None = None,
            secret: str | None = None) -> dict[str, Any]:
    """The RQ job: one attempt, and the next one scheduled when it failed.

    Under RQ the database and the secret come from the worker's environment; the in-process
    runner of the embedded mode passes its own."""
    from gateway.queueing import RedisJobQueue
    from gateway.settings import Settings
    from scoring.jobs import default_database

    db = database or default_database()
    key = secret if secret is not None else Settings.from_env().rbf_webhook_secret
    delivery = attempt(db, int(delivery_pk), key)
    if delivery.status == "pending" and delivery.next_attempt_at is not None:
        # Not under RQ (embedded mode), there is no current job: the sweeper picks it up when due.
        with contextlib.suppress(RuntimeError):
            RedisJobQueue.for_current_job().schedule(
                delivery.next_attempt_at, DELIVER, delivery.id,
                job_id=f"delivery-{delivery.id}-{delivery.attempts + 1}")
    return {"status": delivery.status, "attempts": delivery.attempts}


def enqueue_due(db: Database, queue: JobQueue, now: datetime) -> int:
    """The sweeper's part: every pending delivery whose attempt is due."""
    with db.session() as session:
        due = list(session.scalars(select(Delivery.id).where(
            Delivery.status == "pending", Delivery.next_attempt_at <= now)))
    for pk in due:
        queue.enqueue(DELIVER, pk, job_id=f"delivery-{pk}")
    return len(due)


def redact_url(url: str) -> str:
    """A URL without credentials or query, for listings and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))
