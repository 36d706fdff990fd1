"""Fuzzing every webhook's fields, and the RBF API from its own document.

Rules checked, on the private PostgreSQL through Flask's test client (fast: thousands of requests):
- every field of the four Africa's Talking callbacks (USSD, its end-of-session notifications,
  incoming SMS, delivery reports) may come huge, binary (bytes that are not UTF-8, sent raw),
  missing, repeated, empty, or carrying injection strings, among unknown extra fields, in a
  raw body that may not even be a form: no answer is a 5xx;
- every USSD `200` is a screen: `CON ` or `END ` and at most 160 printable ASCII characters
  (newlines between options); a `400` names the field it refuses; `413` only for a body over
  the 64 KiB limit;
- schemathesis generates requests (valid and not) for every operation of
  `/api/v1/openapi.json`, with a valid token that may see every quarter: no 5xx, and every
  response conforms to the document.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flows.model import is_screen_text
from gateway.tokens import create_token
from tests.africastalking import DELIVERY_URL, EVENTS_URL, SMS_URL, USSD_URL

from .load import ALL_PHONES
from .services import Gateways

LIMIT = 64 * 1024  # MAX_CONTENT_LENGTH (gateway/app.py)
SCREEN = 160
INJECTIONS = [
    "'; DROP TABLE answers; --", "1' OR '1'='1", "\" OR 1=1 --", "$(reboot)", "`id`",
    "<script>alert(1)</script>", "{{7*7}}", "${jndi:ldap://x/a}", "%s%s%s%n", "../../etc/passwd",
    "\r\nX-Injected: 1", "\u202e\u0644\u0627", "\ud7ff\ue000\U0001f600", "NaN", "-1",
    "99999999999999999999999", "1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1*1",
    "+243991234567", "00243991234567", "0991234567", "POLICE GOMA 3 2", "STOP", "AVIS " + "x" * 500,
]
FIELDS = {
    USSD_URL: ["sessionId", "serviceCode", "phoneNumber", "networkCode", "text"],
    EVENTS_URL: ["sessionId", "serviceCode", "networkCode", "phoneNumber", "status", "cost",
                 "durationInMillis", "hopsCount", "input", "lastAppResponse", "errorMessage",
                 "date"],
    SMS_URL: ["from", "to", "text", "date", "id", "linkId", "networkCode"],
    DELIVERY_URL: ["id", "status", "phoneNumber", "networkCode", "failureReason", "retryCount"],
}
GOOD = {  # a plausible value of each field, so the rest of a request gets past the first check
    "sessionId": "ATUid_0123456789abcdef", "serviceCode": "*384*2026#",
    "phoneNumber": "+243991000001", "networkCode": "63001", "text": "1*1*1",
    "from": "+243991000002",
    "to": "2026", "date": "2026-11-27 08:15:02", "id": "ATXid_0123456789", "linkId": "SampleLink",
    "status": "Success", "cost": "KES 0.0000", "durationInMillis": "41230", "hopsCount": "3",
    "input": "1", "lastAppResponse": "CON x", "errorMessage": "", "failureReason": "",
    "retryCount": "0",
}
# The callers' numbers; the numbers among INJECTIONS go anywhere (a USSD path keeps what it is
# sent: see test_privacy's typed-number test), so the privacy scan leaves them out.
ALL_PHONES.update((GOOD["phoneNumber"], GOOD["from"]))
FIELD_IN_400 = {
    USSD_URL: re.compile(r"^END .*\((sessionId|phoneNumber|text)\)$", re.S),
    EVENTS_URL: re.compile(r"^sessionId is missing or malformed$"),
    SMS_URL: re.compile(r"^(id|from|text) is missing or malformed$"),
    DELIVERY_URL: re.compile(r"^(id|status) is missing or malformed$"),
}

ussd_paths = st.lists(st.sampled_from(["1", "2", "3", "4", "9", "0", "00", "98", "99", "", " 1",
                                       "\u0661", "12345678901234567890", "*"]),
                      max_size=40).map("*".join)
# NUL bytes are left to `test_a_nul_byte_in_any_field_makes_no_server_error`, field by field.
no_nul = st.characters(exclude_characters="\x00")
text_values = st.one_of(
    st.sampled_from(INJECTIONS),
    st.text(no_nul, max_size=300),
    ussd_paths,
    st.just("9" * 70_000),  # over the limit
    st.text(no_nul, min_size=2000, max_size=5000),  # long, under the limit
)
binary = st.binary(max_size=300).map(lambda b: b.replace(b"\x00", b"\x01"))
values = st.one_of(
    text_values.map(lambda t: t.encode("utf-8", "surrogatepass")),
    binary,  # not UTF-8, most of the time
)


@st.composite
def bodies(draw: st.DrawFn, url: str) -> bytes:
    """A raw request body: each field missing, once, or repeated, good or hostile; extra
    fields; sometimes not a form at all."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.binary(max_size=2000).map(lambda b: b.replace(b"\x00", b"\x01")))
    pairs: list[tuple[bytes, bytes]] = []
    for name in FIELDS[url]:
        times = draw(st.sampled_from([0, 1, 1, 1, 2]))
        for _ in range(times):
            good = draw(st.booleans())
            value = GOOD[name].encode() if good else draw(values)
            pairs.append((name.encode(), value))
    for _ in range(draw(st.integers(0, 2))):
        pairs.append((draw(binary.filter(bool)), draw(values)))
    order = draw(st.permutations(range(len(pairs))))
    return b"&".join(quote_from_bytes(pairs[i][0]).encode() + b"="
                     + quote_from_bytes(pairs[i][1]).encode() for i in order)


def check(url: str, status: int, body: str, sent: int) -> None:
    assert status < 500, (url, status, body[:200])
    assert status in (200, 400, 413), (url, status, body[:200])
    if status == 413:
        assert sent > LIMIT, (url, sent)
        return
    if status == 400:
        assert FIELD_IN_400[url].match(body), (url, body[:200])
        if url == USSD_URL:
            screen = body[4:]
            assert len(screen) <= SCREEN and is_screen_text(screen), body
        return
    if url == USSD_URL:
        assert body.startswith(("CON ", "END ")), body[:200]
        screen = body[4:]
        assert len(screen) <= SCREEN, (len(screen), screen)
        assert is_screen_text(screen), screen


@pytest.fixture(scope="module")
def fuzzed(module_gateways: Gateways) -> Flask:
    return module_gateways("fuzz").app()


@pytest.mark.parametrize("url", list(FIELDS), ids=["ussd", "ussd-events", "sms", "delivery"])
def test_no_webhook_field_makes_a_server_error(fuzzed: Flask, url: str) -> None:
    client = fuzzed.test_client()

    @given(body=bodies(url))
    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    def one(body: bytes) -> None:
        response = client.post(url, data=body,
                               content_type="application/x-www-form-urlencoded")
        check(url, response.status_code, response.get_data(as_text=True), len(body))

    one()


@pytest.mark.parametrize("url", list(FIELDS), ids=["ussd", "ussd-events", "sms", "delivery"])
def test_bodies_that_are_not_forms_make_no_server_error(fuzzed: Flask, url: str) -> None:
    client = fuzzed.test_client()
    cases: list[tuple[bytes, str]] = [
        (b"", "application/x-www-form-urlencoded"),
        (b'{"sessionId": "x", "text": "1"}', "application/json"),
        (b"\xff\xfe\x00\x01garbage", "application/octet-stream"),
        (b"--b\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n1\r\n--b--\r\n",
         "multipart/form-data; boundary=b"),
        (b"a=" + b"%FF" * 30_000, "application/x-www-form-urlencoded"),
        (b"x" * (LIMIT + 1), "application/x-www-form-urlencoded"),
    ]
    for body, content_type in cases:
        response = client.post(url, data=body, content_type=content_type)
        check(url, response.status_code, response.get_data(as_text=True), len(body))


# --- the RBF API, from its document ----------------------------------------------------------


@pytest.fixture(scope="module")
def api_app(module_gateways: Gateways) -> tuple[Flask, str]:
    """A locked quarter and an open one with answers, and a token that may read both."""
    app = module_gateways("api_fuzz").app()
    runner = app.test_cli_runner()
    for period in ("2026Q3", "2026Q4"):
        done = runner.invoke(args=["synth", "--period", period, "--answers", "600",
                                   "--seed", "5"])
        assert done.exit_code == 0, done.output
    for command in (["quarter", "review", "2026Q3"], ["quarter", "lock", "2026Q3"]):
        done = runner.invoke(args=command)
        assert done.exit_code == 0, done.output
    with app.extensions["gateway"].db.transaction() as session:
        _, token = create_token(session, "fuzz", provisional=True)
    return app, token


def test_schemathesis_finds_no_server_error_and_no_response_off_the_document(
        api_app: tuple[Flask, str]) -> None:
    app, token = api_app
    api = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations: list[Any] = []
    for result in api.get_all_operations():
        assert not isinstance(result, schemathesis.core.result.Err), result
        operations.append(result.ok())
    served = {r.rule for r in app.url_map.iter_rules()
              if r.rule.startswith("/api/v1/") and not r.rule.endswith("openapi.json")}
    assert {op.path for op in operations} >= served  # every route is in the document
    headers = {"Authorization": f"Bearer {token}"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            # NUL bytes in parameters are pinned by test_access's NUL tests, one by one.
            assume(not _has_nul([case.query, case.path_parameters, case.headers]))
            case.call_and_validate(headers=headers)

        call()


# PostgreSQL text cannot hold NUL: every field that reaches an INSERT is stripped of it first.
NUL_CASES = [pytest.param(url, name, id=f"{url.split('/at/', 1)[1].split('/', 1)[1]}-{name}")
             for url, names in FIELDS.items() for name in names]


@pytest.mark.parametrize(("url", "name"), NUL_CASES)
def test_a_nul_byte_in_any_field_makes_no_server_error(fuzzed: Flask, url: str,
                                                        name: str) -> None:
    form = {field: GOOD[field] for field in FIELDS[url]}
    for key in ("sessionId", "id"):  # a row of its own for each case
        if key in form:
            form[key] = f"ATid_nul_{name}"
    form[name] = f"a\x00b{GOOD[name]}"
    response = fuzzed.test_client().post(url, data=form)
    check(url, response.status_code, response.get_data(as_text=True), 0)


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False
