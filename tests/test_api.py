"""The scores API: bearer tokens only, hashed at rest, scoped, small cells suppressed, bad input
named, locked quarters served from their snapshot."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text

from gateway.db import Database
from gateway.models import ApiToken
from gateway.tokens import create_token, hash_token, revoke
from scoring.periods import quarter_of
from tests.africastalking import GOMA_POLICE_UNIT, first_time_goma_police, play


def make_token(db: Database, **kwargs: Any) -> tuple[int, str]:
    with db.transaction() as session:
        row, token = create_token(session, "rbf", **kwargs)
        return row.id, token


def get(client: Any, url: str, token: str | None = None, **headers: str) -> Any:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.get(url, headers=headers)


def unit_item(body: dict[str, Any], unit: str = GOMA_POLICE_UNIT) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        i for i in body["items"] if i["unit"] and i["unit"]["code"] == unit]
    assert len(found) == 1
    return found[0]


def indicator(item: dict[str, Any], code: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [i for i in item["indicators"] if i["code"] == code]
    assert len(found) == 1
    return found[0]


def period_now() -> str:
    return quarter_of(datetime.now(UTC))


def rate(app: Any, client: Any, n: int, **answers: str) -> None:
    for i in range(n):
        play(client, f"+24397100{i:04d}", first_time_goma_police(**answers))
    app.extensions["gateway"].queue.drain()


def test_without_or_with_a_wrong_token_is_401(client, db):
    _, token = make_token(db, provisional=True)
    url = f"/api/v1/scores?period={period_now()}"
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


def test_revoked_token_is_401_and_last_use_is_recorded(app, client, db):
    rate(app, client, 1)
    token_id, token = make_token(db, provisional=True)
    url = f"/api/v1/scores?period={period_now()}"
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


def test_bad_input_is_400_naming_the_field(client, db):
    _, token = make_token(db, provisional=True)
    for bad in ("", "2026", "2026Q5", "2026-Q1", "26Q1", "2026q1x"):
        response = get(client, f"/api/v1/scores?period={bad}", token)
        assert response.status_code == 400
        assert response.get_json()["field"] == "period"
    for field, value in (("type", "army"), ("level", "village")):
        response = get(client, f"/api/v1/scores?period=2026Q4&{field}={value}", token)
        assert (response.status_code, response.get_json()["field"]) == (400, field)
    unknown = get(client, "/api/v1/scores?period=2026Q4&location=XX-NOWHERE", token)
    assert (unknown.status_code, unknown.get_json()["field"]) == (404, "location")
    assert get(client, "/api/v1/scores?period=2019Q1", token).status_code == 404


def test_provisional_figures_only_for_provisional_tokens(app, client, db):
    rate(app, client, 1)
    _, plain = make_token(db)
    _, provisional = make_token(db, provisional=True)
    url = f"/api/v1/scores?period={period_now()}"
    refused = get(client, url, plain)
    assert refused.status_code == 403 and refused.get_json()["field"] == "period"
    body = get(client, url, provisional).get_json()
    assert (body["status"], body["provisional"], body["version"]) == ("open", True, None)


def test_every_level_is_served_and_filters_narrow_it(app, client, db):
    rate(app, client, 3, trust="4")
    _, token = make_token(db, provisional=True)
    base = f"/api/v1/scores?period={period_now()}"
    body = get(client, base, token).get_json()
    levels = {(i["level"], i["location"]["code"]) for i in body["items"]}
    assert levels == {("unit", "NK-V-GOM-GOM"), ("collectivity", "NK-V-GOM-GOM"),
                      ("territory", "NK-V-GOM"), ("province", "CD61")}
    assert all(i["type"] == "police" for i in body["items"])
    assert all(i["respondents"] == 3 for i in body["items"])  # each person counted once per level
    only = get(client, base + "&level=territory", token).get_json()["items"]
    assert [i["location"]["code"] for i in only] == ["NK-V-GOM"]
    assert get(client, base + "&type=justice", token).get_json()["items"] == []
    ituri = get(client, base + "&location=CD54", token).get_json()["items"]
    assert ituri == []
    goma = get(client, base + "&location=NK-V-GOM", token).get_json()["items"]
    assert {i["level"] for i in goma} == {"unit", "collectivity", "territory"}


def test_filtered_provisional_items_are_the_full_list_filtered(app, client, db):
    """Provisional items are computed only for the type, level and places asked for: for every
    filter and token scope, the answer is the unfiltered list filtered, in the same order."""
    play(client, "+243970000300", first_time_goma_police(trust="4", contact="1", bribe="1"))
    play(client, "+243970000301", ["1", "1", "1", "1", "2", "2", "2", "2", "3", "2", "2"])
    play(client, "+243970000302", ["1", "1", "2", "1", "1", "1", "2", "1", "3", "1", "2"])
    app.extensions["gateway"].queue.drain()
    base = f"/api/v1/scores?period={period_now()}&per_page=500"
    for province in (None, "CD61", "CD54"):
        _, token = make_token(db, provisional=True, province=province)
        everything = get(client, base, token).get_json()["items"]
        if province is None:
            assert len({i["type"] for i in everything}) >= 2 and len(everything) >= 8
        codes = {i["location"]["code"] for i in everything}
        for kind in (None, "police", "justice", "administration"):
            for level in (None, "unit", "collectivity", "territory", "province"):
                for place in (None, *sorted(codes)):
                    query = "".join(f"&{k}={v}" for k, v in (
                        ("type", kind), ("level", level), ("location", place)) if v)
                    expected = [i for i in everything
                                if kind in (None, i["type"]) and level in (None, i["level"])
                                and (place is None or i["location"]["code"] == place
                                     or i["location"]["parent"] == place
                                     or place in _ancestors(everything, i))]
                    assert get(client, base + query, token).get_json()["items"] == expected, (
                        province, query)


def _ancestors(items: list[dict[str, Any]], item: dict[str, Any]) -> set[str]:
    """The codes above an item's place, from the parents the items themselves name."""
    parents = {i["location"]["code"]: i["location"]["parent"] for i in items}
    found, code = set(), item["location"]["parent"]
    while code is not None and code not in found:
        found.add(code)
        code = parents.get(code)
    return found


def test_a_province_token_sees_only_its_province(app, client, db):
    rate(app, client, 2)
    _, ituri = make_token(db, provisional=True, province="CD54")
    base = f"/api/v1/scores?period={period_now()}"
    assert get(client, base, ituri).get_json()["items"] == []  # Goma is in Nord-Kivu
    assert get(client, base + "&location=NK-V-GOM", ituri).status_code == 403


def test_small_cells_keep_counts_and_withhold_values(make_app):
    app = make_app(MIN_RESPONDENTS="3")
    client = app.test_client()
    db = app.extensions["gateway"].db
    rate(app, client, 2, trust="4")
    _, token = make_token(db, provisional=True)
    url = f"/api/v1/scores?period={period_now()}"
    item = unit_item(get(client, url, token).get_json())
    assert (item["respondents"], item["suppressed"], item["score"]) == (2, True, None)
    trust = indicator(item, "trust")
    assert (trust["respondents"], trust["mean"], trust["score"]) == (2, None, None)
    assert item["improvement"]["better"] is None
    assert item["improvement"]["verdict"] == "insufficient_data"
    play(client, "+243970000109", first_time_goma_police(trust="1"))
    app.extensions["gateway"].queue.drain()
    body = get(client, url, token).get_json()
    item = unit_item(body)
    trust = indicator(item, "trust")
    assert (item["respondents"], item["suppressed"]) == (3, False)
    assert (trust["mean"], trust["score"]) == (3.0, 66.67)
    assert "bribe" not in [i["code"] for i in item["indicators"]]  # nobody had contact
    assert body["min_respondents"] == 3


def test_responses_never_carry_a_phone_number_or_pseudonym(app, client, db):
    play(client, "+243970000123", first_time_goma_police())
    app.extensions["gateway"].queue.drain()
    _, token = make_token(db, provisional=True)
    body = get(client, f"/api/v1/scores?period={period_now()}", token).get_data(as_text=True)
    with db.session() as session:
        phone_hash = session.scalar(text("SELECT phone_hash FROM respondents"))
    assert "970000123" not in body
    assert str(phone_hash) not in body
