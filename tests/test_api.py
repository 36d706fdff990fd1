"""The scores API: bearer tokens only, hashed at rest, small cells suppressed, bad input named."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text

from gateway.db import Database
from gateway.models import ApiToken
from gateway.tokens import create_token, hash_token, revoke
from tests.africastalking import first_time_goma_police, play


def make_token(db: Database, **kwargs: Any) -> tuple[int, str]:
    with db.transaction() as session:
        row, token = create_token(session, "rbf", **kwargs)
        return row.id, token


def get(client: Any, url: str, token: str | None = None, **headers: str) -> Any:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.get(url, headers=headers)


def trust_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in body["items"] if i["indicator"] == "trust"]


def current_period() -> str:
    from scoring.periods import quarter_of

    return quarter_of(datetime.now(UTC))


def test_without_or_with_a_wrong_token_is_401(client, db):
    _, token = make_token(db)
    url = f"/api/v1/scores?period={current_period()}"
    for response in (
        get(client, url),
        get(client, url, "rbf_wrong"),
        get(client, url, Authorization=f"Basic {token}"),
        get(client, url + f"&access_token={token}"),
        get(client, url + f"&token={token}", token),  # a token in the URL is refused outright
    ):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "error" in response.get_json()


def test_revoked_token_is_401_and_last_use_is_recorded(client, db):
    token_id, token = make_token(db)
    url = f"/api/v1/scores?period={current_period()}"
    assert get(client, url, token).status_code == 200
    with db.session() as session:
        row = session.get(ApiToken, token_id)
        assert row is not None and row.last_used_at is not None
    with db.transaction() as session:
        assert revoke(session, token_id)
    assert get(client, url, token).status_code == 401


def test_tokens_are_stored_only_as_hashes(db):
    _, token = make_token(db)
    with db.session() as session:
        rows = session.execute(text("SELECT * FROM api_tokens")).all()
        assert token not in repr(rows)
        assert session.scalar(select(ApiToken.token_hash)) == hash_token(token)


def test_bad_period_is_400_naming_the_field(client, db):
    _, token = make_token(db)
    for bad in ("", "2026", "2026Q5", "2026-Q1", "26Q1", "2026q1x"):
        response = get(client, f"/api/v1/scores?period={bad}", token)
        assert response.status_code == 400
        assert response.get_json()["field"] == "period"


def test_small_cells_keep_counts_and_withhold_values(make_app):
    app = make_app(MIN_RESPONDENTS="3")
    client = app.test_client()
    db = app.extensions["gateway"].db
    for i, value in enumerate(["4", "3"]):
        play(client, f"+24397000010{i}", first_time_goma_police(trust=value))
    app.extensions["gateway"].queue.drain()
    _, token = make_token(db)
    url = f"/api/v1/scores?period={current_period()}"
    (item,) = trust_items(get(client, url, token).get_json())
    assert (item["respondents"], item["suppressed"], item["mean"]) == (2, True, None)
    play(client, "+243970000109", first_time_goma_police(trust="2"))
    app.extensions["gateway"].queue.drain()
    body = get(client, url, token).get_json()
    (item,) = trust_items(body)
    assert (item["respondents"], item["suppressed"], item["mean"]) == (3, False, 3.0)
    assert body["min_respondents"] == 3 and body["provisional"] is True


def test_responses_never_carry_a_phone_number_or_pseudonym(make_app):
    app = make_app(MIN_RESPONDENTS="1")
    client = app.test_client()
    db = app.extensions["gateway"].db
    play(client, "+243970000123", first_time_goma_police())
    app.extensions["gateway"].queue.drain()
    _, token = make_token(db)
    body = get(client, f"/api/v1/scores?period={current_period()}", token).get_data(as_text=True)
    with db.session() as session:
        phone_hash = session.scalar(text("SELECT phone_hash FROM respondents"))
    assert "970000123" not in body
    assert str(phone_hash) not in body
