"""The USSD webhook on SQLite and PostgreSQL: sessions played as Africa's Talking sends them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from gateway.db import Database
from gateway.models import Answer, DirtyCell, InstitutionUnit, Respondent, Score, Submission
from gateway.phones import pseudonym
from tests.africastalking import (
    GOMA_POLICE,
    GOMA_POLICE_UNIT,
    TOKEN,
    USSD_URL,
    new_session_id,
    play,
    ussd_form,
)
from tests.conftest import PHONE_KEY

PHONE = "+243970000001"


def count(db: Database, model: Any) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_whole_session_stores_one_answer_and_its_score(app, client, db):
    hops = play(client, PHONE, [*GOMA_POLICE, "4"])
    assert all(status == 200 for status, _ in hops)
    assert [body[:4] for _, body in hops] == ["CON "] * 5 + ["END "]
    assert hops[-1][1].startswith("END Merci!")
    app.extensions["gateway"].queue.drain()
    with db.session() as s:
        answer = s.scalars(select(Answer)).one()
        unit = s.get(InstitutionUnit, answer.unit_id)
        assert unit is not None and unit.code == GOMA_POLICE_UNIT
        assert (answer.institution_type, answer.indicator, answer.value) == (
            "police",
            "satisfaction",
            4,
        )
        assert answer.survey_version == app.extensions["gateway"].flow.version
        assert answer.channel == "ussd"
        respondent = s.scalars(select(Respondent)).one()
        assert respondent.phone_hash == pseudonym(PHONE, PHONE_KEY)
        score = s.scalars(select(Score)).one()
        assert (score.respondents, score.mean, score.unit_id) == (1, 4.0, answer.unit_id)
        assert s.scalar(select(func.count()).select_from(DirtyCell)) == 0


def test_replayed_and_out_of_order_hops_store_nothing_twice(client, db):
    sid = new_session_id()
    final = "*".join([*GOMA_POLICE, "2"])
    for text in ["", final, final, "*".join(GOMA_POLICE), final]:
        response = client.post(USSD_URL, data=ussd_form(sid, PHONE, text))
        assert response.status_code == 200
    assert count(db, Submission) == 1
    assert count(db, Answer) == 1


def test_going_back_before_answering_stores_only_the_final_choice(client, db):
    # Justice first, back (0), then police and "4": the path keeps every input, as AT sends it.
    hops = play(client, PHONE, ["1", "1", "1", "2", "0", "1", "4"])
    assert hops[-1][1].startswith("END ")
    with db.session() as s:
        answers = [(a.institution_type, a.value) for a in s.scalars(select(Answer))]
        assert answers == [("police", 4)]
        assert [x.option for x in s.scalars(select(Submission))] == ["4"]


def test_a_later_session_replaces_the_countable_answer_and_marks_both_cells(app, client, db):
    play(client, PHONE, [*GOMA_POLICE, "2"])
    app.extensions["gateway"].queue.drain()
    # Same caller, now rating the police of Karisimbi (two units there: pick the first).
    play(client, "0970000001", ["1", "1", "2", "1", "1", "5"])
    app.extensions["gateway"].queue.drain()
    with db.session() as s:
        assert count(db, Submission) == 2  # every answer as given is kept
        answer = s.scalars(select(Answer)).one()  # but one countable answer
        assert answer.value == 5
        scores = {sc.unit_id: sc for sc in s.scalars(select(Score))}
        old_unit = s.scalar(
            select(InstitutionUnit.id).where(InstitutionUnit.code == GOMA_POLICE_UNIT)
        )
        assert scores[old_unit].respondents == 0 and scores[old_unit].mean is None
        assert scores[answer.unit_id].respondents == 1 and scores[answer.unit_id].mean == 5.0


def test_dont_know_is_stored_and_kept_out_of_the_mean(app, client, db):
    play(client, PHONE, [*GOMA_POLICE, "9"])
    play(client, "+243970000002", [*GOMA_POLICE, "3"])
    app.extensions["gateway"].queue.drain()
    with db.session() as s:
        assert sorted(a.value or 0 for a in s.scalars(select(Answer))) == [0, 3]
        score = s.scalars(select(Score)).one()
        assert (score.respondents, score.dont_know, score.mean) == (1, 1, 3.0)


def test_dial_through_stores_the_answer_on_the_first_hop(client, db):
    response = client.post(USSD_URL, data=ussd_form(new_session_id(), PHONE, "1*1*1*1*5"))
    assert response.get_data(as_text=True).startswith("END ")
    assert count(db, Answer) == 1


def test_wrong_token_is_404_and_stores_nothing(client, db):
    response = client.post(
        f"/at/{TOKEN}x/ussd", data=ussd_form(new_session_id(), PHONE, "1*1*1*1*5")
    )
    assert response.status_code == 404
    assert count(db, Submission) == 0


def test_malformed_requests_get_400_naming_the_field_and_store_nothing(client, db):
    good = ussd_form(new_session_id(), PHONE, "1*1*1*1*5")
    cases = {
        "sessionId": {**good, "sessionId": ""},
        "phoneNumber": {**good, "phoneNumber": "not a phone"},
        "text": {**good, "text": "*".join(["1"] * 200)},
    }
    for field, form in cases.items():
        response = client.post(USSD_URL, data=form)
        body = response.get_data(as_text=True)
        assert response.status_code == 400, field
        assert body.startswith("END ") and field in body
        assert response.mimetype == "text/plain"
    missing = {k: v for k, v in good.items() if k != "phoneNumber"}
    assert client.post(USSD_URL, data=missing).status_code == 400
    assert count(db, Submission) == 0


def test_oversize_body_is_413(client):
    response = client.post(USSD_URL, data={"sessionId": "x", "text": "1" * 100_000})
    assert response.status_code == 413


def test_database_down_gives_a_polite_end_not_a_500(make_app):
    app = make_app(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    client = app.test_client()
    response = client.post(USSD_URL, data=ussd_form(new_session_id(), PHONE, ""))
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("END Service momentanement indisponible")
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["database"] == "unreachable"


def test_unknown_network_code_is_served(client):
    form = ussd_form(new_session_id(), PHONE, "")
    form["networkCode"] = "99999"
    response = client.post(USSD_URL, data=form)
    assert response.get_data(as_text=True).startswith("CON ")
