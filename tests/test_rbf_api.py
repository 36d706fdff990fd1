"""The RBF API as an RBF engine uses it: discover (OpenAPI), authenticate, pull a locked quarter in
JSON or DHIS2 form, page and cache, and receive and verify the push when a quarter is locked."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from sqlalchemy import select

from gateway.models import Delivery, DeliveryAttempt
from gateway.openapi import openapi_document
from gateway.push import verify_signature
from gateway.quarters import move_to_review
from gateway.synth import generate
from gateway.tokens import create_token
from tests.conftest import free_port

PERIOD = "2026Q3"
SECRET = "rbf-webhook-secret-0123456789abcdef"
ROUTES = ["/api/v1/periods", f"/api/v1/scores?period={PERIOD}", "/api/v1/units",
          f"/api/v1/dhis2/dataValueSets?period={PERIOD}"]


def validate(body: Any, schema_name: str) -> None:
    document = openapi_document()
    jsonschema.validate(body, {"$schema": "https://json-schema.org/draft/2020-12/schema",
                               "components": document["components"],
                               "$ref": f"#/components/schemas/{schema_name}"})


def token_for(app: Any, **kwargs: Any) -> str:
    with app.extensions["gateway"].db.transaction() as session:
        _, token = create_token(session, "orbf", **kwargs)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def locked_quarter(app: Any, answers: int = 1500) -> None:
    db = app.extensions["gateway"].db
    generate(db, PERIOD, answers, seed=17)
    with db.transaction() as session:
        move_to_review(session, PERIOD, datetime.now(UTC))
    result = app.test_cli_runner().invoke(args=["quarter", "lock", PERIOD])
    assert result.exit_code == 0, result.output


@pytest.fixture
def locked(make_app: Any) -> Any:
    app = make_app()
    locked_quarter(app)
    return app


def test_every_api_route_is_documented_and_every_documented_route_served(locked):
    documented = set(openapi_document()["paths"])
    served = {rule.rule for rule in locked.url_map.iter_rules()
              if rule.rule.startswith("/api/v1")}
    assert served == documented
    body = locked.test_client().get("/api/v1/openapi.json").get_json()
    assert body["openapi"].startswith("3.1") and set(body["paths"]) == documented


def test_every_route_refuses_without_or_with_a_bad_token(locked):
    client = locked.test_client()
    for route in ROUTES:
        for headers in ({}, bearer("rbf_nope"), {"Authorization": "Basic abc"}):
            response = client.get(route, headers=headers)
            assert response.status_code == 401, (route, headers)
            validate(response.get_json(), "Error")
        assert client.get(route, headers={"Cookie": "session=x"}).status_code == 401
    assert client.get("/api/v1/openapi.json").status_code == 200  # discoverable without a token


def test_responses_match_the_document(locked):
    client = locked.test_client()
    token = token_for(locked)
    for route, schema in zip(ROUTES, ["Periods", "Scores", "Units", "DataValueSet"],
                             strict=True):
        response = client.get(route, headers=bearer(token))
        assert response.status_code == 200, route
        validate(response.get_json(), schema)
    periods = client.get("/api/v1/periods", headers=bearer(token)).get_json()["items"]
    assert periods == [{"period": PERIOD, "status": "locked",
                        "locked_at": periods[0]["locked_at"], "version": 1}]
    errors = client.get("/api/v1/scores?period=2026Q9", headers=bearer(token))
    assert errors.status_code == 400
    validate(errors.get_json(), "Error")


def test_paging_is_stable_and_etags_save_a_download(locked):
    client = locked.test_client()
    token = token_for(locked)
    base = f"/api/v1/scores?period={PERIOD}"
    everything = client.get(base, headers=bearer(token)).get_json()
    pages = []
    for page in range(1, everything["total"] // 7 + 2):
        pages += client.get(f"{base}&per_page=7&page={page}", headers=bearer(token)).get_json()[
            "items"]
    assert pages == everything["items"]
    first = client.get(base, headers=bearer(token))
    again = client.get(base, headers={**bearer(token), "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    assert client.get(f"{base}&per_page=0", headers=bearer(token)).get_json()["field"] == (
        "per_page")


def test_the_dhis2_export_carries_exactly_the_locked_numbers(locked):
    client = locked.test_client()
    token = token_for(locked)
    scores = client.get(f"/api/v1/scores?period={PERIOD}&per_page=5000",
                        headers=bearer(token)).get_json()
    sets = client.get(f"/api/v1/dhis2/dataValueSets?period={PERIOD}",
                      headers=bearer(token)).get_json()
    assert sets["dataSet"] == "RBF_PERCEPTION" and sets["version"] == 1
    values = {(v["dataElement"], v["orgUnit"]): v["value"] for v in sets["dataValues"]}
    assert len(values) == len(sets["dataValues"])  # one value per element and org unit
    shown = suppressed = 0
    for item in scores["items"]:
        org = item["unit"]["code"] if item["unit"] else item["location"]["code"]
        kind = item["type"].upper()
        if item["suppressed"]:
            assert not any(o == org and e.startswith(f"PERC_{kind}_") for e, o in values)
            suppressed += 1
            continue
        shown += 1
        assert values[(f"PERC_{kind}_N", org)] == str(item["respondents"])
        for ind in item["indicators"]:
            code = ind["code"].upper()
            if ind["suppressed"]:
                assert (f"PERC_{kind}_{code}_N", org) not in values
                continue
            assert values[(f"PERC_{kind}_{code}_N", org)] == str(ind["respondents"])
            if ind["mean"] is not None:
                assert float(values[(f"PERC_{kind}_{code}_MEAN", org)]) == ind["mean"]
                low, high = ind["mean_ci"]
                assert float(values[(f"PERC_{kind}_{code}_MEAN_LOW", org)]) == low
                assert float(values[(f"PERC_{kind}_{code}_MEAN_HIGH", org)]) == high
            if ind["positive_share"] is not None:  # a count beside every percentage
                pct = float(values[(f"PERC_{kind}_{code}_PCT", org)])
                assert pct == pytest.approx(100 * ind["positive_share"], abs=0.005)
        if item["score"] is not None:
            assert float(values[(f"PERC_{kind}_SCORE", org)]) == item["score"]
    assert shown and suppressed  # both kinds of cell are in this quarter
    table = client.get(f"/api/v1/dhis2/dataValueSets?period={PERIOD}&format=csv",
                       headers=bearer(token))
    assert table.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(table.get_data(as_text=True))))
    assert rows[0] == ["dataelement", "period", "orgunit", "catoptcombo", "attroptcombo",
                       "value", "storedby", "lastupdated", "comment", "followup"]
    assert len(rows) - 1 == len(values)


def test_only_provisional_tokens_see_an_open_quarter_and_only_marked_so(make_app):
    app = make_app()
    generate(app.extensions["gateway"].db, PERIOD, 300, seed=2)
    client = app.test_client()
    url = f"/api/v1/dhis2/dataValueSets?period={PERIOD}"
    assert client.get(url, headers=bearer(token_for(app))).status_code == 403
    body = client.get(url, headers=bearer(token_for(app, provisional=True))).get_json()
    assert body["provisional"] is True and body["version"] is None


class Receiver:
    """An RBF engine's webhook endpoint on loopback, answering with a chosen status."""

    def __init__(self) -> None:
        self.status = 200
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/rbf/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


def test_locking_pushes_a_signed_snapshot_that_the_receiver_can_verify(make_app, receiver):
    app = make_app(RBF_WEBHOOK_URLS=receiver.url, RBF_WEBHOOK_SECRET=SECRET)
    locked_quarter(app, 400)
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    assert headers["X-Gateway-Event"] == "quarter.locked"
    assert verify_signature(SECRET, headers["X-Gateway-Signature"], body)
    assert not verify_signature(SECRET, headers["X-Gateway-Signature"], body + b" ")
    assert not verify_signature("another-secret-0123456789", headers["X-Gateway-Signature"], body)
    payload = json.loads(body)
    assert payload["delivery_id"] == headers["X-Gateway-Delivery"]
    token = token_for(app)
    pulled = app.test_client().get(f"/api/v1/scores?period={PERIOD}&per_page=5000",
                                   headers=bearer(token)).get_json()
    assert payload["snapshot"]["items"] == pulled["items"]  # the push is the locked numbers
    with app.extensions["gateway"].db.session() as session:
        delivery = session.scalars(select(Delivery)).one()
        assert (delivery.status, delivery.attempts) == ("delivered", 1)


def test_a_failed_push_is_recorded_retried_later_and_can_be_replayed(make_app, receiver):
    receiver.status = 503
    app = make_app(RBF_WEBHOOK_URLS=receiver.url, RBF_WEBHOOK_SECRET=SECRET)
    locked_quarter(app, 300)
    db = app.extensions["gateway"].db
    with db.session() as session:
        delivery = session.scalars(select(Delivery)).one()
        attempts = session.scalars(select(DeliveryAttempt)).all()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at is not None and delivery.next_attempt_at > datetime.now(UTC)
    assert [(a.status_code, a.error) for a in attempts] == [(503, "HTTP 503")]
    runner = app.test_cli_runner()
    listing = runner.invoke(args=["deliveries", "list"]).output
    assert "pending" in listing and "503" in listing
    receiver.status = 204
    replay = runner.invoke(args=["deliveries", "replay", str(delivery.id)])
    assert replay.exit_code == 0, replay.output
    with db.session() as session:
        assert session.scalars(select(Delivery)).one().status == "delivered"
        assert session.query(DeliveryAttempt).count() == 2
    assert len(receiver.received) == 2
    assert receiver.received[0][1] == receiver.received[1][1]  # the same body, re-signed


def test_no_request_the_document_allows_gets_a_server_error(locked):
    """schemathesis generates requests from the document (valid and not) for every operation:
    no 5xx, and every response conforms to the document."""
    api = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", locked)
    headers = bearer(token_for(locked))
    operations = []
    for result in api.get_all_operations():
        assert not isinstance(result, schemathesis.core.result.Err), result  # a valid document
        operations.append(result.ok())
    assert {op.path for op in operations} >= {route.split("?")[0] for route in ROUTES}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers)

        check()
