"""Outbound SMS through Africa's Talking's real SDK, against the local fake AT server: one send,
per-recipient and whole-request failures, the retry schedule, the claim lease, opt-out, the vault,
delivery reports, the shared send rate and a real RQ worker. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from redis import Redis
from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import delete, select, update

from gateway import outbox
from gateway.at_sms import AfricasTalkingSms
from gateway.db import Database
from gateway.models import OutboundSms, PhoneVault, Respondent, SmsInbound
from gateway.queueing import QUEUE_NAME, SMS_QUEUE
from gateway.vault import Vault
from tests.africastalking import DELIVERY_URL, SMS_URL, TOKEN, delivery_report, sms_form
from tests.conftest import at_env, env_for, free_port, run_worker_burst
from tests.fake_africastalking import API_KEY, SENDER, USERNAME, FakeAfricasTalking

QUIET = {"SWEEP_INTERVAL": "3600"}  # no in-process sweep re-sends a message behind a test's back
GSM_EXTENDED = set("^{}\\[~]|€")  # two septets each in GSM-7
FAULT_REASON = "HTTP error from Africa's Talking"


# --- helpers ----------------------------------------------------------------------------------


def build(make_app: Any, fake: FakeAfricasTalking | None = None) -> tuple[Any, Any]:
    """An embedded-mode app (jobs in-process), sending to `fake`, or with no provider at all."""
    app = make_app(**(at_env(fake) if fake is not None else {}), **QUIET)
    return app, app.extensions["gateway"]


def text_in(app: Any, phone: str, text: str) -> None:
    """An incoming SMS, then every job it queued has run."""
    response = app.test_client().post(SMS_URL, data=sms_form(phone, text))
    assert response.status_code == 200, response.get_data(as_text=True)
    app.extensions["gateway"].queue.drain()


def messages(db: Database) -> list[OutboundSms]:
    with db.session() as session:
        rows = list(session.scalars(select(OutboundSms).order_by(OutboundSms.id)))
        session.expunge_all()
    return rows


def only_message(db: Database) -> OutboundSms:
    rows = messages(db)
    assert len(rows) == 1, [(r.kind, r.status) for r in rows]
    return rows[0]


def message(db: Database, pk: int) -> OutboundSms:
    (row,) = [r for r in messages(db) if r.id == pk]
    return row


def state(row: OutboundSms) -> tuple[Any, ...]:
    return (row.status, row.at_status, row.failure_reason, row.at_message_id, row.attempts)


def columns(row: OutboundSms) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in OutboundSms.__table__.columns}


def make_due(db: Database, pk: int) -> None:
    """Time passes: the message's next attempt is due now."""
    with db.transaction() as session:
        session.execute(update(OutboundSms).where(OutboundSms.id == pk).values(
            next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))


def opted_out(db: Database) -> bool:
    with db.session() as session:
        (when,) = session.scalars(select(Respondent.sms_opted_out_at)).all()
    return when is not None


def provider(fake: FakeAfricasTalking,
             timeout: tuple[float, float] = (3.05, 10.0)) -> AfricasTalkingSms:
    return AfricasTalkingSms(USERNAME, API_KEY, sender=SENDER, api_url=fake.url, timeout=timeout)


def try_once(gw: Any, pk: int, sms: AfricasTalkingSms, vault: Vault | None = None) -> OutboundSms:
    return outbox.attempt(gw.db, pk, vault=vault or gw.vault, provider=sms,
                          limiter=outbox.LocalRateLimiter(1000))


def seconds_until(when: datetime | None) -> float:
    assert when is not None
    return (when - datetime.now(UTC)).total_seconds()


def gsm_segments(text: str) -> int:
    units = sum(2 if c in GSM_EXTENDED else 1 for c in text)
    return 1 if units <= 160 else -(-units // 153)


class RecordingQueue:
    """A JobQueue that records what the sweeper's part asks for, and runs nothing."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, tuple[Any, ...], str]] = []

    def enqueue(self, func: str, *args: Any, job_id: str,
                retry: Sequence[int] | None = None, queue: str = QUEUE_NAME) -> bool:
        assert tuple(retry or ()) == outbox.BACKOFF
        assert queue == SMS_QUEUE
        self.jobs.append((func, args, job_id))
        return True

    def drain(self, timeout: float = 30.0) -> None:
        pass

    def close(self) -> None:
        pass


def with_provider(gw: Any, fake: FakeAfricasTalking) -> Any:
    """The app's settings, once AT_* are configured (pointing at the fake)."""
    return replace(gw.settings, at_username=USERNAME, at_api_key=API_KEY, at_sender=SENDER,
                   at_api_url=fake.url)


def redis_keys(conn: Redis) -> list[str]:
    return [k.decode() if isinstance(k, bytes) else str(k) for k in conn.keys("*")]


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# --- sending ----------------------------------------------------------------------------------


def test_a_reply_is_sent_once_and_the_number_stays_out_of_rows_and_logs(
        make_app, fake_at, caplog):
    caplog.set_level(logging.DEBUG)
    phone = "+243991234567"
    app, gw = build(make_app, fake_at)
    text_in(app, phone, "AIDE")
    row = only_message(gw.db)
    assert len(fake_at.requests) == 1
    req = fake_at.requests[0]
    assert (req.username, req.to, req.message, req.sender, req.api_key, req.answered) == (
        USERNAME, [phone], row.body, SENDER, API_KEY, 201)
    assert (row.kind, row.status, row.attempts, row.status_code, row.at_status) == (
        "reply", "sent", 1, 101, "Success")
    assert row.at_message_id is not None and row.at_message_id.startswith("ATXid_")
    assert (row.cost, row.failure_reason, row.next_attempt_at) == ("USD 0.0200", None, None)
    assert row.sent_at is not None
    assert row.body.isascii()
    assert (row.encoding, row.segments) == ("GSM-7", gsm_segments(row.body))
    assert fake_at.accepted_for(phone) == [row.body]
    with gw.db.session() as session:
        vault_rows = [str(v) for v in session.execute(select(PhoneVault)).scalars()
                      .one().__dict__.values()]
    stored = [str(v) for v in columns(row).values()] + vault_rows
    assert caplog.records  # something was logged, so the check below means something
    for digits in (phone, phone[1:], phone[4:]):
        assert not [v for v in stored if digits in v]
        assert digits not in caplog.text


@pytest.mark.parametrize(("code", "status", "opts_out"), [
    (403, "InvalidPhoneNumber", False), (406, "UserInBlacklist", True)])
def test_a_permanent_recipient_failure_fails_at_once(make_app, fake_at, code, status, opts_out):
    phone = "+243971000001"
    app, gw = build(make_app, fake_at)
    fake_at.recipient_faults[phone] = [(code, status)]
    text_in(app, phone, "AIDE")
    row = only_message(gw.db)
    assert state(row) == ("failed", status, status, None, 1)
    assert (row.status_code, row.next_attempt_at, row.sent_at) == (code, None, None)
    make_due(gw.db, row.id)  # even "due", a failed message is not tried again
    assert try_once(gw, row.id, provider(fake_at)).status == "failed"
    assert outbox.enqueue_due(gw.db, gw.queue, datetime.now(UTC), gw.settings) == 0
    assert len(fake_at.requests) == 1
    assert fake_at.accepted_for(phone) == []
    assert opted_out(gw.db) is opts_out
    text_in(app, phone, "AIDE")  # a blacklisted number gets nothing more; another does
    assert len(messages(gw.db)) == len(fake_at.requests) == (1 if opts_out else 2)


RETRYABLE = [
    pytest.param((500, "InternalServerError"), None, id="recipient-500"),
    pytest.param((405, "InsufficientBalance"), None, id="recipient-405"),
    pytest.param(None, 500, id="http-500"),
    pytest.param(None, 503, id="http-503"),
]


@pytest.mark.parametrize(("recipient_fault", "http_fault"), RETRYABLE)
def test_a_retryable_failure_waits_for_the_first_backoff_then_sends(
        make_app, fake_at, recipient_fault, http_fault):
    phone = "+243971000002"
    app, gw = build(make_app, fake_at)
    if recipient_fault:
        fake_at.recipient_faults[phone] = [recipient_fault]
    else:
        fake_at.http_faults = [http_fault]
    text_in(app, phone, "AIDE")
    row = only_message(gw.db)
    code, reason = recipient_fault or (None, FAULT_REASON)
    assert (row.status, row.attempts, row.status_code, row.failure_reason) == (
        "queued", 1, code, reason)
    assert row.at_message_id is None
    assert row.next_attempt_at is not None
    assert row.next_attempt_at - row.updated_at == timedelta(seconds=outbox.BACKOFF[0])
    assert outbox.BACKOFF[0] - 10 < seconds_until(row.next_attempt_at) <= outbox.BACKOFF[0]
    assert try_once(gw, row.id, provider(fake_at)).attempts == 1  # not due yet: nothing sent
    assert len(fake_at.requests) == 1
    make_due(gw.db, row.id)
    assert outbox.send_sms(row.id, database=gw.db, settings=gw.settings) == {
        "status": "sent", "attempts": 2}
    after = message(gw.db, row.id)
    assert (after.status_code, after.at_status, after.failure_reason, after.next_attempt_at) == (
        101, "Success", None, None)
    assert fake_at.sent_to(phone) == [row.body, row.body]
    assert fake_at.accepted_for(phone) == [row.body]


def test_a_timeout_is_retried_and_may_reach_the_citizen_twice(make_app, fake_at):
    phone = "+243971000003"
    app, gw = build(make_app)  # no provider in the app: the test makes the attempts
    text_in(app, phone, "AIDE")
    row = only_message(gw.db)
    slow = provider(fake_at, timeout=(1, 0.5))
    fake_at.delays = [2.0]
    first = try_once(gw, row.id, slow)
    assert (first.status, first.attempts, first.status_code, first.failure_reason) == (
        "queued", 1, None, "ReadTimeout")
    assert first.next_attempt_at is not None
    assert first.next_attempt_at - first.updated_at == timedelta(seconds=outbox.BACKOFF[0])
    make_due(gw.db, row.id)
    second = try_once(gw, row.id, slow)
    assert (second.status, second.attempts, second.status_code) == ("sent", 2, 101)
    # At least once: AT accepted the first request too, its answer came too late.
    assert fake_at.sent_to(phone) == [row.body, row.body]
    assert fake_at.accepted_for(phone) == [row.body, row.body]


def test_retries_stop_after_the_last_backoff(make_app, fake_at):
    phone = "+243971000004"
    app, gw = build(make_app)
    text_in(app, phone, "AIDE")
    row = only_message(gw.db)
    attempts = len(outbox.BACKOFF) + 1
    fake_at.recipient_faults[phone] = [(500, "InternalServerError")] * (attempts + 1)
    sms = provider(fake_at)
    for n, delay in enumerate(outbox.BACKOFF, 1):
        now = try_once(gw, row.id, sms)
        assert (now.status, now.attempts) == ("queued", n)
        assert now.next_attempt_at is not None
        assert now.next_attempt_at - now.updated_at == timedelta(seconds=delay)
        make_due(gw.db, row.id)
    last = try_once(gw, row.id, sms)
    assert (last.status, last.attempts, last.next_attempt_at, last.failure_reason) == (
        "failed", attempts, None, "InternalServerError")
    make_due(gw.db, row.id)
    assert try_once(gw, row.id, sms).attempts == attempts
    assert len(fake_at.requests) == attempts


def test_an_attempt_in_progress_holds_a_lease(make_app, fake_at):
    phone = "+243971000005"
    app, gw = build(make_app)
    text_in(app, phone, "AIDE")
    row = only_message(gw.db)
    sms = provider(fake_at)
    fake_at.delays = [1.0]
    results: list[OutboundSms] = []
    first = threading.Thread(target=lambda: results.append(try_once(gw, row.id, sms)))
    first.start()
    wait_for(lambda: len(fake_at.requests) == 1)  # the first attempt waits for AT's answer
    second = try_once(gw, row.id, sms)
    assert (second.status, second.attempts, second.at_message_id) == ("queued", 1, None)
    assert seconds_until(second.next_attempt_at) > outbox.LEASE - 10
    first.join(10)
    assert [r.status for r in results] == ["sent"]
    assert try_once(gw, row.id, sms).status == "sent"
    assert len(fake_at.requests) == 1


def test_concurrent_attempts_send_once_and_a_lost_attempt_is_retried_after_its_lease(
        make_app, fake_at):
    app, gw = build(make_app)
    text_in(app, "+243971000006", "AIDE")
    text_in(app, "+243971000007", "AIDE")
    racing, crashed = (m.id for m in messages(gw.db))
    sms = provider(fake_at)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def attempt() -> None:
        start.wait()
        try:
            try_once(gw, racing, sms)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert (message(gw.db, racing).status, message(gw.db, racing).attempts) == ("sent", 1)
    assert len(fake_at.sent_to("+243971000006")) == 1
    # A worker claimed `crashed` and died before recording anything: the lease keeps it off...
    assert outbox._claim(gw.db, crashed, datetime.now(UTC))
    assert try_once(gw, crashed, sms).status == "queued"
    assert fake_at.sent_to("+243971000007") == []
    make_due(gw.db, crashed)  # ...until it runs out
    assert (try_once(gw, crashed, sms).status, message(gw.db, crashed).attempts) == ("sent", 2)


# --- opt-out, vault, no provider --------------------------------------------------------------


def test_stop_suppresses_a_reply_not_yet_sent(make_app, fake_at):
    phone = "+243971000008"
    app, gw = build(make_app)  # no provider yet: both replies wait, queued
    text_in(app, phone, "AIDE")
    text_in(app, phone, "STOP")
    help_reply, confirmation = messages(gw.db)
    assert [(m.kind, m.status) for m in (help_reply, confirmation)] == [
        ("reply", "queued"), ("opt_out", "queued")]
    settings = with_provider(gw, fake_at)  # AT is configured: the sweeper's part finds both
    queue = RecordingQueue()
    assert outbox.enqueue_due(gw.db, queue, datetime.now(UTC), settings) == 2
    assert queue.jobs == [(outbox.SEND_SMS, (m.id,), f"sms-{m.id}")
                          for m in (help_reply, confirmation)]
    for m in (help_reply, confirmation):
        outbox.send_sms(m.id, database=gw.db, settings=settings)
    help_reply, confirmation = messages(gw.db)
    assert (help_reply.status, help_reply.failure_reason, help_reply.sent_at) == (
        "suppressed", "opted_out", None)
    assert confirmation.status == "sent"
    assert fake_at.all_messages() == [(phone, confirmation.body)]


def test_after_stop_only_start_is_answered(make_app, fake_at):
    phone = "+243971000009"
    app, gw = build(make_app, fake_at)
    text_in(app, phone, "STOP")
    text_in(app, phone, "AIDE")
    text_in(app, phone, "STOP")  # confirmed once, then silence
    assert [(m.kind, m.status) for m in messages(gw.db)] == [("opt_out", "sent")]
    with gw.db.session() as session:
        outcomes = list(session.scalars(select(SmsInbound.outcome).order_by(SmsInbound.id)))
    assert outcomes == ["opted_out", "help:silent_opted_out", "already_opted_out"]
    assert opted_out(gw.db)
    text_in(app, phone, "START")
    assert not opted_out(gw.db)
    text_in(app, phone, "AIDE")
    rows = messages(gw.db)
    assert [(m.kind, m.status) for m in rows] == [
        ("opt_out", "sent"), ("opt_in", "sent"), ("reply", "sent")]
    assert fake_at.all_messages() == [(phone, m.body) for m in rows]


@pytest.mark.parametrize("how", ["deleted", "expired", "unreadable"])
def test_a_number_no_longer_in_the_vault_suppresses_the_message(make_app, fake_at, how):
    app, gw = build(make_app)
    text_in(app, "+243971000010", "AIDE")
    row = only_message(gw.db)
    vault = gw.vault
    with gw.db.transaction() as session:
        if how == "deleted":
            session.execute(delete(PhoneVault))
        elif how == "expired":
            session.execute(update(PhoneVault).values(
                purge_after=datetime.now(UTC) - timedelta(seconds=1)))
    if how == "unreadable":  # VAULT_KEY replaced without the old key
        vault = Vault((Fernet.generate_key().decode(),), 180)
    after = try_once(gw, row.id, provider(fake_at), vault)
    assert (after.status, after.failure_reason, after.attempts, after.next_attempt_at) == (
        "suppressed", "no_number", 1, None)
    assert fake_at.requests == []


def test_without_a_provider_messages_wait_queued(make_app, fake_at):
    app, gw = build(make_app)
    text_in(app, "+243971000011", "AIDE")
    row = only_message(gw.db)
    assert (row.status, row.attempts) == ("queued", 0)
    assert seconds_until(row.next_attempt_at) <= 0
    assert outbox.enqueue_due(gw.db, gw.queue, datetime.now(UTC), gw.settings) == 0
    assert outbox.send_sms(row.id, database=gw.db, settings=gw.settings) == {
        "status": "queued", "attempts": 0}
    assert columns(only_message(gw.db)) == columns(row)
    assert fake_at.requests == []
    settings = with_provider(gw, fake_at)  # once AT is configured, the sweeper's part sends it
    queue = RecordingQueue()
    assert outbox.enqueue_due(gw.db, queue, datetime.now(UTC), settings) == 1
    assert queue.jobs == [(outbox.SEND_SMS, (row.id,), f"sms-{row.id}")]
    assert outbox.send_sms(row.id, database=gw.db, settings=settings)["status"] == "sent"
    assert fake_at.all_messages() == [("+243971000011", row.body)]


# --- delivery reports -------------------------------------------------------------------------


def sent_reply(make_app: Any, fake: FakeAfricasTalking, phone: str) -> tuple[Any, Any, str]:
    app, gw = build(make_app, fake)
    text_in(app, phone, "AIDE")
    row = only_message(gw.db)
    assert row.status == "sent" and row.at_message_id
    return app, gw, row.at_message_id


def report(app: Any, message_id: str, phone: str, status: str, reason: str = "") -> None:
    response = app.test_client().post(
        DELIVERY_URL, data=delivery_report(message_id, phone, status, reason))
    assert response.status_code == 200, response.get_data(as_text=True)


def test_delivered_is_final_whatever_comes_after(make_app, fake_at):
    phone = "+243971000012"
    app, gw, at_id = sent_reply(make_app, fake_at, phone)
    report(app, at_id, phone, "Success")
    delivered = only_message(gw.db)
    assert (delivered.status, delivered.at_status, delivered.failure_reason) == (
        "delivered", "Success", None)
    for status, reason in [("Failed", "DeliveryFailure"), ("Buffered", ""),
                           ("Rejected", "UserInBlacklist")]:
        report(app, at_id, phone, status, reason)
    assert columns(only_message(gw.db)) == columns(delivered)
    assert not opted_out(gw.db)


def test_a_late_success_after_a_failure_delivers(make_app, fake_at):
    phone = "+243971000013"
    app, gw, at_id = sent_reply(make_app, fake_at, phone)
    report(app, at_id, phone, "Failed", "DeliveryFailure")
    assert state(only_message(gw.db))[:3] == ("failed", "Failed", "DeliveryFailure")
    report(app, at_id, phone, "Buffered")  # a pending report does not undo a failure
    assert only_message(gw.db).status == "failed"
    report(app, at_id, phone, "Success")
    assert state(only_message(gw.db))[:3] == ("delivered", "Success", None)


@pytest.mark.parametrize(("sent", "expected", "opts_out"), [
    (("Success", ""), ("delivered", "Success", None), False),
    (("Failed", "UserInBlacklist"), ("failed", "Failed", "UserInBlacklist"), True),
    (("Rejected", ""), ("failed", "Rejected", "Rejected"), False),
    (("Failed", "AbsentSubscriber"), ("failed", "Failed", "AbsentSubscriber"), False),
    (("Buffered", ""), ("sent", "Buffered", None), False),
    (("Submitted", ""), ("sent", "Submitted", None), False),
])
def test_a_report_delivered_three_times_has_the_effect_of_one(
        make_app, fake_at, sent, expected, opts_out):
    status, reason = sent
    phone = "+243971000014"
    app, gw, at_id = sent_reply(make_app, fake_at, phone)
    before = only_message(gw.db)
    for _ in range(3):
        report(app, at_id, phone, status, reason)
        after = only_message(gw.db)
        assert state(after) == (*expected, at_id, 1)
        assert (after.cost, after.status_code, after.sent_at) == (
            before.cost, before.status_code, before.sent_at)
        assert opted_out(gw.db) is opts_out
    text_in(app, phone, "AIDE")  # a blacklisted number gets no further reply
    assert len(fake_at.requests) == (1 if opts_out else 2)


def test_a_blacklist_report_as_africas_talking_spells_it_records_the_opt_out(make_app, fake_at):
    phone = "+243971000018"
    app, gw, at_id = sent_reply(make_app, fake_at, phone)
    report(app, at_id, phone, "Failed", "UserInBlackList")
    assert only_message(gw.db).status == "failed"
    assert opted_out(gw.db)


def test_reports_that_name_nothing_of_ours_change_nothing(make_app, fake_at):
    phone = "+243971000015"
    app, gw, at_id = sent_reply(make_app, fake_at, phone)
    client = app.test_client()
    before = columns(only_message(gw.db))
    report(app, "ATXid_not_ours_0123", phone, "Failed", "UserInBlacklist")
    for data, field in [({"status": "Success"}, "id"), ({"id": at_id}, "status"),
                        ({"id": "bad id!", "status": "Success"}, "id"),
                        ({"id": at_id, "status": "  "}, "status")]:
        response = client.post(DELIVERY_URL, data=data)
        assert response.status_code == 400
        assert response.get_data(as_text=True).startswith(f"{field} is missing")
    wrong = client.post("/at/wrong/sms/delivery", data=delivery_report(at_id, phone, "Failed"))
    assert wrong.status_code == 404
    assert TOKEN not in wrong.get_data(as_text=True)
    assert columns(only_message(gw.db)) == before
    assert not opted_out(gw.db)


# --- the send rate ----------------------------------------------------------------------------


def test_the_local_rate_limiter_spaces_sends():
    limiter = outbox.LocalRateLimiter(rate=20)
    started = time.monotonic()
    for _ in range(10):
        limiter.wait()
    assert time.monotonic() - started >= 0.4  # nine intervals of 50 ms, loosely


@pytest.mark.redis
def test_the_redis_rate_limiter_holds_a_full_window_until_the_next(redis_url):
    conn = Redis.from_url(redis_url)
    limiter = outbox.RedisRateLimiter(conn, rate=5)
    time.sleep(1 - time.time() % 1 + 0.01)  # just after a window opens: five sends fit in it
    window = int(time.time())
    for _ in range(5):
        limiter.wait()
    limiter.wait()  # the sixth
    assert time.time() >= window + 1
    keys = sorted(redis_keys(conn))
    assert keys == [f"sms:rate:{window}", f"sms:rate:{window + 1}"]  # time slots, no number
    assert [int(conn.get(k) or 0) for k in keys] == [6, 1]
    assert all(0 < conn.ttl(k) <= 2 for k in keys)
    conn.close()


@pytest.mark.parametrize("rate", [0.4, 0.7])
def test_the_redis_rate_limiter_never_allows_more_than_a_slow_rate(rate):
    conn = Redis()  # not connected: only the window and its limit are looked at
    limiter = outbox.RedisRateLimiter(conn, rate=rate)
    assert limiter.limit / limiter.window <= rate
    conn.close()


def test_the_redis_rate_limiter_lets_sends_through_without_redis(caplog):
    conn = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    outbox.RedisRateLimiter(conn, rate=5).wait()
    assert "sending without it" in caplog.text
    conn.close()


# --- a real RQ worker -------------------------------------------------------------------------


@pytest.mark.redis
def test_a_real_worker_sends_by_row_id(make_app, database_url, redis_url, fake_at):
    phone = "+243971000016"
    app = make_app(redis_url, **at_env(fake_at))
    gw = app.extensions["gateway"]
    response = app.test_client().post(SMS_URL, data=sms_form(phone, "AIDE"))
    assert response.status_code == 200
    row = only_message(gw.db)
    assert row.status == "queued"
    conn = Redis.from_url(redis_url)
    assert not [j for j in Queue(QUEUE_NAME, connection=conn).jobs
                if j.func_name == outbox.SEND_SMS]  # SMS never wait in the scores queue
    jobs = Queue(SMS_QUEUE, connection=conn).jobs
    sms_jobs = [j for j in jobs if j.func_name == outbox.SEND_SMS]
    assert [(j.id, j.args, j.kwargs) for j in sms_jobs] == [(f"sms-{row.id}", (row.id,), {})]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", sms_jobs[0].id)
    for job in jobs:
        assert phone[4:] not in f"{job.id} {job.args!r} {job.kwargs!r} {job.description}"
    assert fake_at.requests == []  # nothing is sent before a worker runs
    run_worker_burst(env_for(database_url, redis_url, **at_env(fake_at)))
    after = message(gw.db, row.id)
    assert (after.status, after.attempts, after.status_code) == ("sent", 1, 101)
    assert fake_at.sent_to(phone) == [row.body]
    keys = redis_keys(conn)
    assert [k for k in keys if k.startswith("sms:rate:")]  # the worker used the shared limiter
    assert not [k for k in keys if phone[4:] in k]
    conn.close()


@pytest.mark.redis
def test_a_real_worker_schedules_the_retry_of_a_failed_attempt(
        make_app, database_url, redis_url, fake_at):
    phone = "+243971000017"
    app = make_app(redis_url, **at_env(fake_at))
    gw = app.extensions["gateway"]
    assert app.test_client().post(SMS_URL, data=sms_form(phone, "AIDE")).status_code == 200
    fake_at.http_faults = [503]
    run_worker_burst(env_for(database_url, redis_url, **at_env(fake_at)))
    row = only_message(gw.db)
    assert (row.status, row.attempts, row.failure_reason) == ("queued", 1, FAULT_REASON)
    conn = Redis.from_url(redis_url)
    scheduled = ScheduledJobRegistry(queue=Queue(SMS_QUEUE, connection=conn))  # type: ignore[no-untyped-call]
    assert f"sms-{row.id}" in scheduled.get_job_ids()
    assert len(fake_at.requests) == 1
    conn.close()
