"""Privacy (DESIGN §5): the raw number is never written to the database, Redis, logs, pages,
exports or API responses; the phone-hash key can be rotated; raw events are not kept forever.

Rules checked:
- traffic through the Procfile's processes carries test numbers in every form (`+243…`,
  `00243…`, `0…`, spaced and dashed) in every field that can hold one: USSD and SMS senders,
  end-of-session notifications, delivery reports, SMS texts (feedback that gives a number,
  results, help, STOP, START), a request id header, a query string, a webhook URL; staff answer
  feedback by SMS (through the vault) and crawl every page and export; the RBF engine reads
  every API route;
- then nothing holds any number that any scenario of the suite used, in any form: every table
  of every database of the private cluster (pg_dump), every Redis key and value, every log of
  every process (gunicorn, RQ workers, PostgreSQL, Redis), every page, export and API response;
- a number that a caller types into a USSD menu is not stored either (it is an input, and the
  same person's number);
- the phone-hash key can be rotated: with PHONE_HASH_KEY_PREVIOUS, a caller hashed under the
  retired key is found and re-keyed in place on their next hop (one respondent, answers kept);
- the sweeper purges vault numbers past VAULT_RETENTION_DAYS, and end-of-session notifications
  and SMS texts past RAW_RETENTION_DAYS, keeping the newer ones.
"""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

import psycopg
import pytest
import requests

from gateway.phones import pseudonym
from scoring.periods import quarter_of
from tests.africastalking import (
    DELIVERY_URL,
    EVENTS_URL,
    SMS_URL,
    USSD_URL,
    delivery_report,
    end_of_session,
    first_time_goma_police,
    rating,
    sms_form,
    ussd_form,
)
from tests.fake_africastalking import API_KEY, SENDER, USERNAME, FakeAfricasTalking

from .load import ALL_PHONES
from .privacy import Scanner, written_forms
from .scores import wait_for_scores
from .services import (
    PHONE_HASH_KEY,
    Gateway,
    Gateways,
    PrivatePostgres,
    PrivateRedis,
    Workspace,
    wait_until,
)

PHONES = ("+243812340101", "+243972340102", "+243892340103", "+243852340104")
PASSWORD = "correct horse battery staple"  # noqa: S105 - a test account's
PERIOD = quarter_of(datetime.now(UTC))
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_LINK = re.compile(r'href="([^"]+)"')


@dataclass
class Seen:
    """What the gateway showed to staff, the RBF engine and Africa's Talking."""

    bodies: dict[str, str] = field(default_factory=dict)

    def add(self, where: str, response: requests.Response) -> None:
        data = response.content
        if response.headers.get("Content-Type", "").startswith(
                "application/vnd.openxmlformats"):
            with zipfile.ZipFile(io.BytesIO(data)) as book:
                text = "".join(book.read(name).decode("utf-8", "replace")
                               for name in book.namelist())
        else:
            text = data.decode("utf-8", "replace")
        self.bodies[where] = text + "\n" + "\n".join(f"{k}: {v}"
                                                      for k, v in response.headers.items())


def _post(session: requests.Session, gateway: Gateway, path: str, form: dict[str, str],
          **headers: str) -> requests.Response:
    return session.post(f"{gateway.url}{path}", data=form, headers=headers, timeout=15)


def _traffic(gateway: Gateway, session: requests.Session) -> None:
    """Every field that can hold a number, holding one, in every form."""
    for n, phone in enumerate(PHONES):
        forms = written_forms(phone)
        sender = forms[n % 4]  # +243…, 243…, 00243…, 0…
        sid = "ATUid_" + uuid.uuid4().hex
        inputs = first_time_goma_police(contact="1", bribe="2")
        for step in range(len(inputs) + 1):
            _post(session, gateway, USSD_URL, ussd_form(sid, sender, "*".join(inputs[:step])),
                  **{"X-Request-Id": forms[(n + step) % len(forms)].replace(" ", "")})
        _post(session, gateway, EVENTS_URL, end_of_session(sid, forms[n % 4], "Success", 13,
                                                           last="END Merci!"))
        texts = [f"AVIS appelez-moi au {forms[0]} ou {forms[3]} ou {forms[7]} ou {forms[8]}",
                 f"PLAINTE le policier {forms[5]} a pris mon argent", "RESULTATS", "AIDE",
                 "POLICE GOMA 3 2", f"{forms[2]}", "STOP", "START"]
        for text in texts:
            response = _post(session, gateway, SMS_URL, sms_form(sender, text))
            assert response.status_code == 200, response.text
    dropped = ["1", "1", "1", "1", "1", "1", "2"]
    _post(session, gateway, USSD_URL, ussd_form("ATUid_" + uuid.uuid4().hex, PHONES[0],
                                                "*".join(dropped)))
    for wrong in written_forms(PHONES[1])[:5]:  # a number where the token goes: a 404
        assert _post(session, gateway, f"/at/{wrong}/ussd", ussd_form("ATUid_x", PHONES[1], "")
                     ).status_code == 404
    session.get(f"{gateway.url}/staff/login?next=/staff/%3Fq%3D{PHONES[2]}", timeout=15)


def _log_in(session: requests.Session, gateway: Gateway, email: str) -> None:
    page = session.get(f"{gateway.url}/staff/login", timeout=15).text
    match = _CSRF.search(page)
    assert match is not None
    response = session.post(f"{gateway.url}/staff/login", timeout=15, allow_redirects=False,
                            data={"email": email, "password": PASSWORD,
                                  "csrf_token": match.group(1)})
    assert response.status_code == 302, response.text[:300]


def _answer_feedback(session: requests.Session, gateway: Gateway) -> int:
    """Staff answer every feedback by SMS (through the vault); returns how many."""
    inbox = session.get(f"{gateway.url}/staff/feedback?status=all", timeout=15).text
    ids = sorted(set(re.findall(r"/staff/feedback/(\d+)/answer", inbox)))
    match = _CSRF.search(inbox)
    assert ids and match is not None
    for feedback in ids:
        response = session.post(f"{gateway.url}/staff/feedback/{feedback}/answer", timeout=15,
                                data={"text": "Merci, nous transmettons.",
                                      "csrf_token": match.group(1)}, allow_redirects=False)
        assert response.status_code == 302
    return len(ids)


def _crawl(session: requests.Session, gateway: Gateway, seen: Seen) -> int:
    queue = ["/staff/", "/staff/feedback?status=all", f"/staff/scores?period={PERIOD}",
             f"/staff/export/scores.csv?period={PERIOD}",
             f"/staff/export/scores.xlsx?period={PERIOD}", "/staff/audit"]
    visited: set[str] = set()
    while queue:
        path = queue.pop()
        if path in visited or not path.startswith("/staff") or "logout" in path:
            continue
        visited.add(path)
        response = session.get(f"{gateway.url}{path}", timeout=30)
        assert response.status_code in (200, 400, 404), (path, response.status_code)
        seen.add(f"page {path}", response)
        if response.headers.get("Content-Type", "").startswith("text/html"):
            for link in _LINK.findall(response.text):
                target = urljoin(path, link.replace("&amp;", "&"))
                if urlsplit(target).path.startswith("/staff") and target not in visited:
                    queue.append(target)
    return len(visited)


def _api(session: requests.Session, gateway: Gateway, seen: Seen) -> None:
    created = gateway.flask("api-token", "create", "privacy", "--provisional")
    assert created.returncode == 0, created.stderr
    bearer = {"Authorization": f"Bearer {created.stdout.strip().splitlines()[-1]}"}
    for path in ("/api/v1/periods", f"/api/v1/scores?period={PERIOD}", "/api/v1/units",
                 f"/api/v1/dhis2/dataValueSets?period={PERIOD}",
                 f"/api/v1/dhis2/dataValueSets?period={PERIOD}&format=csv",
                 "/api/v1/openapi.json"):
        response = session.get(f"{gateway.url}{path}", headers=bearer, timeout=30)
        assert response.status_code == 200, path
        seen.add(f"api {path}", response)
    for path in ("/healthz", "/readyz", "/metrics"):
        seen.add(f"ops {path}", session.get(f"{gateway.url}{path}", timeout=30))


@pytest.fixture(scope="module")
def seen(module_gateways: Gateways) -> Seen:
    ALL_PHONES.update(PHONES)
    fake = FakeAfricasTalking().start()
    try:
        gateway = module_gateways("privacy", AT_USERNAME=USERNAME, AT_API_KEY=API_KEY,
                                  AT_SENDER=SENDER, AT_API_URL=fake.url,
                                  SMS_RATE_PER_SECOND="100")
        gateway.start_web()
        gateway.start_worker()
        shown = Seen()
        with requests.Session() as citizen:
            _traffic(gateway, citizen)
        done = gateway.flask("user", "create", "privacy@x.example", "--role", "admin",
                             stdin=f"{PASSWORD}\n{PASSWORD}\n")
        assert done.returncode == 0, done.stderr
        with requests.Session() as staff:
            _log_in(staff, gateway, "privacy@x.example")
            answered = _answer_feedback(staff, gateway)
            wait_until(lambda: len(fake.requests) >= answered, 60, "feedback answers sent")
            wait_for_scores(gateway.database_url, PERIOD, 60)
            with psycopg.connect(gateway.database_url) as conn:
                ids = [str(r[0]) for r in conn.execute(
                    "SELECT at_message_id FROM outbound_sms WHERE at_message_id IS NOT NULL")]
            with requests.Session() as at:
                for n, message in enumerate(ids):
                    report = delivery_report(message, written_forms(PHONES[n % 4])[n % 9])
                    assert _post(at, gateway, DELIVERY_URL, report).status_code == 200
            pages = _crawl(staff, gateway, shown)
            assert pages >= 10
            _api(staff, gateway, shown)
        assert len(fake.requests) >= len(PHONES), "no SMS reached Africa's Talking"
        gateway.stop()
        return shown
    finally:
        fake.stop()


def test_no_number_in_pages_exports_or_api_responses(seen: Seen) -> None:
    scanner = Scanner(ALL_PHONES)
    found = [line for where, body in sorted(seen.bodies.items())
             for line in scanner.scan(where, body)]
    assert len(seen.bodies) > 15
    assert found == []


def test_no_number_in_any_database_of_the_cluster(seen: Seen,
                                                   postgres: PrivatePostgres) -> None:
    dump = postgres.dump()
    assert "respondents" in dump and len(postgres.databases()) >= 3
    assert Scanner(ALL_PHONES).scan("pg_dump", dump) == []


def test_no_number_in_redis(seen: Seen, redis_server: PrivateRedis) -> None:
    assert Scanner(ALL_PHONES).scan("redis", redis_server.contents()) == []


def test_no_number_in_any_log(seen: Seen, workspace: Workspace,
                              postgres: PrivatePostgres, redis_server: PrivateRedis) -> None:
    logs = [*sorted(workspace.logs.glob("*.log")), postgres.log,
            redis_server.directory / "redis.log"]
    assert len(logs) >= 4
    scanner = Scanner(ALL_PHONES)
    found = [line for path in logs if path.exists()
             for line in scanner.scan(path.name, path.read_text(errors="replace"))]
    assert found == []
    assert sum(path.stat().st_size for path in logs if path.exists()) > 100_000


def test_a_number_typed_into_a_ussd_menu_is_not_stored(gateways: Gateways,
                                                        postgres: PrivatePostgres) -> None:
    gateway = gateways("typed_number")
    client = gateway.app().test_client()
    caller, typed = "+243812349901", "+243972349902"
    ALL_PHONES.update((caller, typed))
    sid = "ATUid_" + uuid.uuid4().hex
    for number in (caller, typed):
        for form in ("0" + number[4:], number[1:]):
            path = ["1", "1", form]  # at the province screen: refused, asked again
            reply = client.post(USSD_URL, data=ussd_form(sid, caller, "*".join(path)))
            assert reply.get_data(as_text=True).startswith("CON ")
    dump = postgres.dump([gateway.database_url.rsplit("/", 1)[1]])
    assert "ussd_sessions" in dump
    assert Scanner((caller, typed)).scan("pg_dump", dump) == []


# --- rotation and retention -----------------------------------------------------------------


OLD_KEY = PHONE_HASH_KEY
NEW_KEY = "faults-rotated-phone-hash-key-abcdef0123456789"


def test_the_phone_hash_key_can_be_rotated(gateways: Gateways) -> None:
    gateway = gateways("key_rotation")
    phone = "+243892349903"
    ALL_PHONES.add(phone)
    before = gateway.app().test_client()
    for step in range(len(first_time_goma_police()) + 1):
        before.post(USSD_URL, data=ussd_form("ATUid_rot1", phone,
                                             "*".join(first_time_goma_police()[:step])))
    gateway.stop()
    gateway.extra_env.update(PHONE_HASH_KEY=NEW_KEY, PHONE_HASH_KEY_PREVIOUS=OLD_KEY,
                             PHONE_HASH_KEY_VERSION="2")
    after = gateway.app().test_client()
    first = after.post(USSD_URL, data=ussd_form("ATUid_rot2", phone, "")).get_data(as_text=True)
    returning = after.post(USSD_URL, data=ussd_form(
        "ATUid_rot3", phone, "*".join(["1", *rating(another="2")]))).get_data(as_text=True)
    with psycopg.connect(gateway.database_url) as conn:
        rows = conn.execute("SELECT id, phone_hash, key_version FROM respondents").fetchall()
        answers = conn.execute("SELECT count(DISTINCT respondent_id), count(*) FROM answers "
                               "WHERE indicator = 'trust'").fetchone()
    assert "Goma" in first and not first.startswith("CON Langue / Lugha"), (
        "the caller was not recognised under the previous key")
    assert returning.startswith("END "), returning
    assert len(rows) == 1, "the caller was split in two"
    assert rows[0][1:] == (pseudonym(phone, NEW_KEY), 2)
    assert answers == (1, 1)
    assert pseudonym(phone, OLD_KEY) not in {r[1] for r in rows}


def _backdate(gateway: Gateway, days: int) -> None:
    then = datetime.now(UTC) - timedelta(days=days)
    with psycopg.connect(gateway.database_url) as conn:
        conn.execute("UPDATE ussd_events SET received_at = %s", (then,))
        conn.execute("UPDATE sms_inbound SET received_at = %s", (then,))
        conn.execute("UPDATE phone_vault SET purge_after = %s", (then,))


RAW_TEXTS = ("RESULTATS", "AVIS la route est coupee", "AIDE")


def _raw_traffic(gateway: Gateway, phone: str) -> None:
    client = gateway.app().test_client()
    sid = "ATUid_" + uuid.uuid4().hex
    client.post(USSD_URL, data=ussd_form(sid, phone, ""))
    assert client.post(EVENTS_URL, data=end_of_session(sid, phone)).status_code == 200
    for text in RAW_TEXTS:
        assert client.post(SMS_URL, data=sms_form(phone, text)).status_code == 200


def test_the_sweeper_purges_vault_numbers_past_their_retention(gateways: Gateways) -> None:
    gateway = gateways("vault_retention", VAULT_RETENTION_DAYS="30")
    phone = "+243852349904"
    ALL_PHONES.add(phone)
    _raw_traffic(gateway, phone)
    with psycopg.connect(gateway.database_url) as conn:
        kept = conn.execute("SELECT count(*) FROM phone_vault").fetchone()
    assert kept == (1,)
    _backdate(gateway, 31)
    done = gateway.flask("sweep")
    assert done.returncode == 0, done.stderr
    with psycopg.connect(gateway.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM phone_vault").fetchone() == (0,)


def test_the_sweeper_purges_raw_events_past_their_retention(gateways: Gateways) -> None:
    gateway = gateways("raw_retention", RAW_RETENTION_DAYS="30")
    old, new = "+243852349905", "+243852349906"
    ALL_PHONES.update((old, new))
    _raw_traffic(gateway, old)
    _backdate(gateway, 31)
    _raw_traffic(gateway, new)
    done = gateway.flask("sweep")
    assert done.returncode == 0, done.stderr
    month_ago = datetime.now(UTC) - timedelta(days=30)
    with psycopg.connect(gateway.database_url) as conn:
        events = conn.execute("SELECT count(*) FROM ussd_events").fetchone()
        old_texts = [str(r[0]) for r in conn.execute(
            "SELECT text FROM sms_inbound WHERE received_at < %s", (month_ago,))]
        new_texts = [str(r[0]) for r in conn.execute(
            "SELECT text FROM sms_inbound WHERE received_at >= %s", (month_ago,))]
    assert events == (1,), "the old end-of-session notification is still kept"
    assert sorted(new_texts) == sorted(RAW_TEXTS), "newer messages must be kept as they came"
    kept = [t for t in old_texts if any(word in t for word in ("AIDE", "RESULTATS", "route"))]
    assert kept == [], "the old messages' text is still kept"

