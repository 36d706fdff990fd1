"""Every webhook delivered two or three times, concurrently and out of order: counts exact.

Africa's Talking retries what it did not see answered, and a network may deliver a request twice;
DESIGN §5 makes every idempotency key a unique constraint (`sessionId` + step, the end-of-session
notification's `sessionId`, an SMS `id`, a delivery report applied to its message).

Rules checked, against the Procfile's gunicorn and RQ worker, with a local Africa's Talking
(`tests/fake_africastalking.py`) receiving the SMS replies:
- every USSD hop is sent 2 or 3 times: sessions are played as Africa's Talking plays them (hop
  k+1 once hop k was answered; 32 sessions at a time), and each hop's extra copies go at once
  beside it or later, beside a later hop of its session; meanwhile every end-of-session
  notification and every incoming SMS is sent 2 or 3 times, all shuffled, 32 at a time; then
  every delivery report (Sent, Buffered, Success), 2 or 3 times each, shuffled;
- no request gets a 5xx; every USSD reply is an ordinary screen;
- afterwards the rows are exactly what one delivery of each would have left: one respondent
  per number, one session and one notification per session, the answers of each session once,
  one incoming row per SMS, one feedback per AVIS, one reply per SMS and one send of it to
  Africa's Talking, every reply delivered; the scores equal a full recompute;
- copies of one hop that reach the gateway at the same moment, before any hop of their session
  was stored (a caller who dials through, `*384*2026*1*1*1*1*1*1*2*3*3*3#`, and a network that
  repeats the request), store the answers that the path means, nothing else;
- a hop that withdraws an answer (the caller went back and changed a branch) while another
  transaction marks the same unit's cells completes: every writer locks dirty marks in one
  order, so none is chosen as a deadlock victim (which would cost a caller the polite END).
"""

from __future__ import annotations

import http.client
import random
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg

from gateway.phones import pseudonym
from scoring.periods import quarter_of
from tests.africastalking import (
    DELIVERY_URL,
    EVENTS_URL,
    GOMA_POLICE_UNIT,
    SERVICE_CODE,
    SMS_URL,
    USSD_URL,
    delivery_report,
    end_of_session,
    sms_form,
)
from tests.fake_africastalking import API_KEY, SENDER, USERNAME, FakeAfricasTalking

from .jobs import held_up
from .load import ALL_PHONES, Caller, Hop, PhoneBook, Tally, apology, caller_inputs, post_form
from .scores import recompute_differences, wait_for_scores
from .services import PHONE_HASH_KEY, Gateway, Gateways, wait_until

CALLERS = 30
TEXTERS = 30
SMS_TEXTS = (f"{GOMA_POLICE_UNIT} 3 2", "AVIS la police de Katindo demande de l'argent",
             "MAONI polisi wanaomba pesa", "AIDE", "bonjour")
Request = tuple[str, dict[str, str], object]  # url, form, what it belongs to
Reply = tuple[Request, int, str, float]  # the request, status, body, seconds


def _send_all(gateway: Gateway, requests: list[Request]) -> list[Reply]:
    with ThreadPoolExecutor(max_workers=32) as pool:
        return list(pool.map(lambda r: _send_one(gateway, r), requests))


def _copies(rng: random.Random, requests: list[Request]) -> list[Request]:
    out = [r for r in requests for _ in range(rng.choice((2, 3)))]
    rng.shuffle(out)
    return out


def _count(conn: psycopg.Connection, sql: str) -> int:
    row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _plan(rng: random.Random, caller: Caller) -> list[list[Request]]:
    """A session as Africa's Talking plays it (hop k+1 once hop k was answered), each hop with
    1 or 2 extra copies sent beside it, or later beside a later hop of the session."""
    steps = len(caller.inputs) + 1
    batches: list[list[Request]] = [[] for _ in range(steps + 1)]
    for step in range(steps):
        form = {"sessionId": caller.session_id, "serviceCode": SERVICE_CODE,
                "phoneNumber": caller.phone, "networkCode": "63002",
                "text": "*".join(caller.inputs[:step])}
        request: Request = (USSD_URL, form, (caller, step))
        batches[step].append(request)
        for _ in range(rng.choice((1, 2))):
            batches[rng.randint(step, steps)].append(request)
    return batches


def _play(gateway: Gateway, plans: list[list[list[Request]]]) -> list[Reply]:
    """Every planned session, 32 at a time; the requests of one batch at once."""
    def session(batches: list[list[Request]]) -> list[Reply]:
        out: list[Reply] = []
        with ThreadPoolExecutor(max_workers=3) as pool:
            for batch in batches:
                out.extend(pool.map(lambda r: _send_one(gateway, r), batch))
        return out

    with ThreadPoolExecutor(max_workers=32) as pool:
        return [reply for replies in pool.map(session, plans) for reply in replies]


def _send_one(gateway: Gateway, request: Request) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=15)
    began = time.perf_counter()
    try:
        status, body = post_form(conn, request[0], request[1])
    finally:
        conn.close()
    return request, status, body, time.perf_counter() - began


def test_every_webhook_delivered_two_or_three_times_counts_exact(
        gateways: Gateways, record: Callable[..., Tally]) -> None:
    fake = FakeAfricasTalking().start()
    try:
        _run(gateways, record, fake)
    finally:
        fake.stop()


def _run(gateways: Gateways, record: Callable[..., Tally], fake: FakeAfricasTalking) -> None:
    gateway = gateways("duplicates", AT_USERNAME=USERNAME, AT_API_KEY=API_KEY,
                       AT_SENDER=SENDER, AT_API_URL=fake.url, SMS_RATE_PER_SECOND="200")
    gateway.start_web()
    gateway.start_worker()
    rng = random.Random(9)  # noqa: S311 - reproducible traffic, not a secret
    phones = PhoneBook()
    callers = [Caller(phones.next(), "ATUid_" + uuid.uuid4().hex, caller_inputs(rng), 0.0)
               for _ in range(CALLERS)]
    others: list[Request] = [
        (EVENTS_URL, end_of_session(c.session_id, c.phone, "Success", len(c.inputs) + 1), None)
        for c in callers]
    texts = [SMS_TEXTS[n % len(SMS_TEXTS)] for n in range(TEXTERS)]
    others += [(SMS_URL, sms_form(phones.next(), text), text) for text in texts]
    with ThreadPoolExecutor(max_workers=2) as both:
        hops = both.submit(_play, gateway, [_plan(rng, c) for c in callers])
        rest = both.submit(_send_all, gateway, _copies(rng, others))
        replies = hops.result() + rest.result()
    for (url, _form, owner), status, body, seconds in replies:
        assert status < 500, (url, status, body)
        if url == USSD_URL:
            assert isinstance(owner, tuple)
            caller, step = owner
            caller.hops.append(Hop(step, 0.0, seconds, status, body))
            assert status == 200 and body.startswith(("CON ", "END ")), body
        else:
            assert status == 200, (url, status, body)

    period = quarter_of(datetime.now(UTC))
    wait_until(lambda: len(fake.requests) >= TEXTERS, 60, "every SMS reply sent")

    def sent_ids() -> list[str]:
        with psycopg.connect(gateway.database_url) as conn:
            return [str(r[0]) for r in conn.execute(
                "SELECT at_message_id FROM outbound_sms WHERE at_message_id IS NOT NULL")]

    # Africa's Talking answered the last send; its message id is committed a moment later.
    wait_until(lambda: len(sent_ids()) >= TEXTERS, 30, "every reply's message id recorded")
    ids = sent_ids()
    reports: list[Request] = [(DELIVERY_URL, delivery_report(mid, phones.next(), status), None)
                              for mid in ids for status in ("Sent", "Buffered", "Success")]
    reported = _send_all(gateway, _copies(rng, reports))
    for (url, _form, _owner), status, body, _seconds in reported:
        assert status == 200, (url, status, body)
    wait_for_scores(gateway.database_url, period, 60)
    gateway.stop()
    compared, changed = recompute_differences(gateway, period)

    answers = sum(len(c.answers_in(len(c.inputs))) for c in callers)
    ratings = sum(1 for t in texts if t.startswith(GOMA_POLICE_UNIT))
    with psycopg.connect(gateway.database_url) as conn:
        counts = {
            "respondents": _count(conn, "SELECT count(*) FROM respondents"),
            "ussd_sessions": _count(conn, "SELECT count(*) FROM ussd_sessions"),
            "ussd_events": _count(conn, "SELECT count(*) FROM ussd_events"),
            "ussd answers": _count(conn, "SELECT count(*) FROM answers WHERE channel = 'ussd'"),
            "ussd submissions": _count(
                conn, "SELECT count(*) FROM submissions WHERE channel = 'ussd'"),
            "sms answers": _count(conn, "SELECT count(*) FROM answers WHERE channel = 'sms'"),
            "sms_inbound": _count(conn, "SELECT count(*) FROM sms_inbound"),
            "feedback": _count(conn, "SELECT count(*) FROM feedback"),
            "replies": _count(conn, "SELECT count(*) FROM outbound_sms"),
            "delivered": _count(
                conn, "SELECT count(*) FROM outbound_sms WHERE status = 'delivered'"),
        }
    expected = {
        "respondents": CALLERS + TEXTERS, "ussd_sessions": CALLERS, "ussd_events": CALLERS,
        "ussd answers": answers, "ussd submissions": answers,
        "sms answers": 2 * ratings,  # trust and change
        "sms_inbound": TEXTERS,
        "feedback": sum(1 for t in texts if t.startswith(("AVIS", "MAONI"))),
        "replies": TEXTERS, "delivered": TEXTERS,
    }
    result = record("every webhook 2-3 times, shuffled", callers, gateway.database_url,
                    webhook_requests=len(replies) + len(reported),
                    sms_sent_to_at=len(fake.requests), cells_compared=compared)
    assert counts == expected
    assert len(fake.requests) == TEXTERS, "a reply was sent to Africa's Talking twice"
    assert result.lost == 0 and result.duplicated == 0 and result.wrong == 0
    assert changed == [], changed[:5]



COPIES = 8  # of each dial-through hop, at once
TRIALS = 250  # callers; the first one whose stored answers differ from its path ends the test


def test_concurrent_copies_of_a_first_hop_store_what_the_path_means(
        gateways: Gateways, record: Callable[..., Tally]) -> None:
    gateway = gateways("concurrent_first_hop")
    gateway.start_web()
    rng = random.Random(11)  # noqa: S311 - reproducible traffic, not a secret
    phones = PhoneBook()
    callers: list[Caller] = []
    wrong: list[str] = []
    for _ in range(TRIALS):
        caller = Caller(phones.next(), "ATUid_" + uuid.uuid4().hex, caller_inputs(rng), 0.0,
                        first_step=0)
        callers.append(caller)
        form = {"sessionId": caller.session_id, "serviceCode": SERVICE_CODE,
                "phoneNumber": caller.phone, "networkCode": "63001",
                "text": "*".join(caller.inputs)}
        for _request, status, body, seconds in _send_all(gateway,
                                                          [(USSD_URL, form, None)] * COPIES):
            caller.hops.append(Hop(len(caller.inputs), 0.0, seconds, status, body))
        stored = _answers_of(gateway, caller)
        meant = {(caller.institution_type, k): v
                 for k, v in caller.answers_in(len(caller.inputs)).items()}
        if stored != meant:
            wrong.append(f"path {'*'.join(caller.inputs)} means {meant}, stored {stored}")
            break
    result = record("8 copies of a dial-through hop at once", callers, gateway.database_url,
                    trials=len(callers), wrong=len(wrong))
    assert wrong == []
    assert result.lost == 0 and result.duplicated == 0 and result.wrong == 0


def _answers_of(gateway: Gateway, caller: Caller) -> dict[tuple[str, str], int | None]:
    with psycopg.connect(gateway.database_url) as conn:
        rows = conn.execute(
            "SELECT a.institution_type, a.indicator, a.value FROM answers a JOIN respondents r "
            "ON r.id = a.respondent_id WHERE r.phone_hash = %s",
            (pseudonym(caller.phone, PHONE_HASH_KEY),))
        return {(str(kind), str(indicator)): value for kind, indicator, value in rows}


def test_a_withdrawal_beside_a_sorted_marker_completes(gateways: Gateways) -> None:
    gateway = gateways("withdraw_lock_order")
    client = gateway.app().test_client()
    phone = "+243991999002"
    ALL_PHONES.add(phone)
    session_id = "ATUid_" + uuid.uuid4().hex
    answered = ["1", "1", "1", "1", "1", "1", "1", "1"]  # ... contact yes, bribe yes
    for step in range(len(answered) + 1):
        client.post(USSD_URL, data=_form(session_id, phone, answered[:step]))
    changed = [*answered, "0", "0", "2"]  # back, back, contact no: the bribe answer withdrawn
    with psycopg.connect(gateway.database_url) as other:
        other.execute("SET deadlock_timeout = '10s'")  # if it comes to that, the hop notices
        unit = other.execute(
            "SELECT unit_id FROM dirty_cells WHERE indicator = 'bribe'").fetchone()
        assert unit is not None
        other.execute("UPDATE dirty_cells SET generation = generation + 1 WHERE unit_id = %s "
                      "AND indicator = 'bribe'", unit)  # another marker's first cell
        row = other.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        with ThreadPoolExecutor(max_workers=1) as pool:
            hop = pool.submit(lambda: client.post(
                USSD_URL, data=_form(session_id, phone, changed)).get_data(as_text=True))
            held_up(gateway.database_url, int(row[0]))
            other.execute("UPDATE dirty_cells SET generation = generation + 1 WHERE unit_id = "
                          "%s AND indicator = 'contact'", unit)  # and its second
            other.commit()
            reply = hop.result(timeout=30)
    assert reply.startswith("CON ") and apology(reply) is None, reply


def _form(session_id: str, phone: str, inputs: list[str]) -> dict[str, str]:
    return {"sessionId": session_id, "serviceCode": SERVICE_CODE, "phoneNumber": phone,
            "networkCode": "63001", "text": "*".join(inputs)}
