"""The USSD webhook on SQLite and PostgreSQL: sessions played as Africa's Talking sends them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, text

from gateway.db import Database
from gateway.models import (
    Answer,
    Cell,
    InstitutionUnit,
    Location,
    Respondent,
    Submission,
    UssdEvent,
    UssdSession,
)
from gateway.phones import pseudonym
from tests.africastalking import (
    EVENTS_URL,
    FIRST_TIME_GOMA_POLICE,
    GOMA_COMMUNE,
    GOMA_POLICE_UNIT,
    INDICATORS,
    TOKEN,
    USSD_URL,
    end_of_session,
    first_time_goma_police,
    new_session_id,
    play,
    rating,
    ussd_form,
)
from tests.conftest import PHONE_KEY

PHONE = "+243970000001"


def count(db: Database, model: Any) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def answers(db: Database) -> dict[tuple[str, str], int | None]:
    with db.session() as s:
        return {(a.institution_type, a.indicator): a.value for a in s.scalars(select(Answer))}


def test_a_first_time_caller_is_asked_language_and_consent_then_rates(app, client, db):
    hops = play(client, PHONE, first_time_goma_police(trust="4", respect="2", change="3"))
    assert all(status == 200 for status, _ in hops)
    bodies = [body for _, body in hops]
    assert bodies[0].startswith("CON Langue / Lugha / Lokota:")
    assert bodies[1].startswith("CON Avis citoyen")
    assert all(b.startswith("CON ") for b in bodies[:-1]) and bodies[-1].startswith("END Merci!")
    assert len(hops) <= 16
    app.extensions["gateway"].queue.drain()
    assert answers(db) == {("police", "contact"): 2, ("police", "trust"): 4,
                           ("police", "respect"): 2, ("police", "change"): 3}
    with db.session() as s:
        respondent = s.scalars(select(Respondent)).one()
        assert respondent.phone_hash == pseudonym(PHONE, PHONE_KEY)
        assert (respondent.language, respondent.consent_version) == (
            "fr", app.extensions["gateway"].flow.consent_version)
        place = s.get(Location, respondent.last_location_id)
        assert place is not None and place.code == GOMA_COMMUNE
        units = set(s.scalars(select(InstitutionUnit.code).join(
            Answer, Answer.unit_id == InstitutionUnit.id)))
        assert units == {GOMA_POLICE_UNIT}
        assert {a.survey_version for a in s.scalars(select(Answer))} == {
            app.extensions["gateway"].flow.version}
        session = s.scalars(select(UssdSession)).one()
        assert (session.ended, session.last_node, session.answered) == (True, "thanks", 4)
        cells = {c.indicator: (c.respondents, c.counts) for c in s.scalars(
            select(Cell).where(Cell.level == "unit"))}
        assert cells == {"contact": (1, '{"2":1}'), "trust": (1, '{"4":1}'),
                         "respect": (1, '{"2":1}'), "change": (1, '{"3":1}')}
        levels = set(s.scalars(select(Cell.level).where(Cell.indicator == "trust")))
        assert levels == {"unit", "collectivity", "territory", "province"}


def test_nothing_is_stored_before_consent_or_after_refusal(client, db):
    play(client, PHONE, ["2", "1"], hops=2)  # Kiswahili, then the consent screen: dropped
    refused = play(client, PHONE, ["3", "2"])  # Lingala, refuses
    assert refused[-1][1].startswith("END Malamu. Eloko moko te ebombami")
    for model in (Respondent, UssdSession, Submission, Answer):
        assert count(db, model) == 0


def test_bribe_is_asked_only_after_contact(app, client, db):
    play(client, PHONE, first_time_goma_police(contact="1", bribe="1"))
    play(client, "+243970000002", first_time_goma_police(contact="2"))
    with db.session() as s:
        bribes = s.scalars(select(Answer).where(Answer.indicator == "bribe")).all()
    assert [b.value for b in bribes] == [1]


def test_a_returning_caller_is_offered_the_same_place_in_their_language(app, client, db):
    play(client, PHONE, ["2", *FIRST_TIME_GOMA_POLICE[1:], *rating(trust="2")])  # in Kiswahili
    hops = play(client, "0970000001", ["1", *rating(trust="4")])  # same person, local format
    assert hops[0][1].startswith("CON Goma: huduma gani?")
    assert hops[-1][1].startswith("END Asante!")
    assert len(hops) <= 9
    assert answers(db)[("police", "trust")] == 4  # the later answer is the countable one
    assert count(db, Answer) == len(INDICATORS)
    assert count(db, Submission) == 2 * len(INDICATORS)  # every answer as given is kept
    assert count(db, Respondent) == 1


def test_rating_another_institution_in_the_same_session(app, client, db):
    inputs = [*FIRST_TIME_GOMA_POLICE, *rating(another="1"), "3", *rating(trust="1")]
    hops = play(client, PHONE, inputs)
    assert hops[-1][1].startswith("END Merci!")
    found = answers(db)
    assert found[("police", "trust")] == 3 and found[("administration", "trust")] == 1


CUT_INPUTS = first_time_goma_police(contact="1", bribe="2", trust="4", respect="3", change="3")


@pytest.mark.parametrize("cut", range(1, len(CUT_INPUTS) + 1))
def test_a_session_cut_at_any_hop_resumes_with_nothing_lost_or_counted_twice(client, db, cut):
    inputs = CUT_INPUTS
    play(client, PHONE, inputs, hops=cut)  # the network drops the call after `cut` hops
    reached = inputs[:cut - 1]  # inputs that reached the gateway
    consented = len(reached) >= 2
    answered = max(0, len(reached) - len(FIRST_TIME_GOMA_POLICE))
    if not consented:  # nothing was stored: the caller starts again from the language menu
        redial = inputs
    elif answered == 0 and len(reached) < 5:  # consented, no place yet: the province menu
        redial = inputs[2:]
    elif answered == 0:  # nothing to resume, the place is known: "Goma: quel service?"
        redial = ["1", *inputs[len(FIRST_TIME_GOMA_POLICE):]]
    else:  # Continue
        redial = ["1", *inputs[len(reached):]]
    hops = play(client, PHONE, redial)
    if consented and answered:
        assert hops[0][1].startswith("CON Vous aviez commence une evaluation.")
    assert hops[-1][1].startswith("END Merci!")
    assert answers(db) == {("police", "contact"): 1, ("police", "bribe"): 2,
                           ("police", "trust"): 4, ("police", "respect"): 3,
                           ("police", "change"): 3}
    with db.session() as s:
        steps = [sub.idempotency_key.rsplit(":", 1)[1] for sub in s.scalars(select(Submission))]
    assert sorted(steps) == sorted(set(steps))  # each answer stored once, in either session
    assert count(db, Respondent) == 1


def test_continue_resumes_exactly_where_the_call_dropped(client, db):
    inputs = first_time_goma_police(trust="4", respect="1", change="2")
    dropped_after = len(FIRST_TIME_GOMA_POLICE) + 2  # contact and trust answered
    play(client, PHONE, inputs, hops=dropped_after + 1)
    assert count(db, Answer) == 2
    hops = play(client, PHONE, ["1", *inputs[dropped_after:]])
    assert hops[0][1] == "CON Vous aviez commence une evaluation.\n1. Continuer\n2. Recommencer"
    assert hops[1][1].startswith("CON Selon vous, la police traite")  # the respect question
    assert hops[-1][1].startswith("END Merci!")
    assert answers(db) == {("police", "contact"): 2, ("police", "trust"): 4,
                           ("police", "respect"): 1, ("police", "change"): 2}
    assert count(db, Submission) == 4  # the two earlier answers were not stored again


def test_restart_starts_from_the_place_and_is_not_offered_again(client, db):
    inputs = first_time_goma_police()
    play(client, PHONE, inputs, hops=len(FIRST_TIME_GOMA_POLICE) + 2)
    hops = play(client, PHONE, ["2"], hops=2)
    assert hops[1][1].startswith("CON Goma: quel service?")
    third = play(client, PHONE, [], hops=1)
    assert third[0][1].startswith("CON Goma: quel service?")  # the old session is superseded


def test_no_resume_after_the_window_or_on_a_dial_through(make_app):
    app = make_app(RESUME_WINDOW="0")
    client = app.test_client()
    play(client, PHONE, first_time_goma_police(), hops=len(FIRST_TIME_GOMA_POLICE) + 2)
    assert play(client, PHONE, [], hops=1)[0][1].startswith("CON Goma: quel service?")
    app2 = make_app()
    client2 = app2.test_client()
    play(client2, "+243970000077", first_time_goma_police(), hops=len(FIRST_TIME_GOMA_POLICE) + 2)
    dial_through = client2.post(USSD_URL, data=ussd_form(new_session_id(), "+243970000077", "1*2"))
    assert dial_through.get_data(as_text=True).startswith("CON Faites-vous confiance")


def test_replayed_and_out_of_order_hops_store_nothing_twice(client, db):
    sid = new_session_id()
    inputs = first_time_goma_police()
    full = "*".join(inputs)
    for text_ in ["", full, full, "*".join(inputs[:8]), full, "*".join(inputs[:3])]:
        response = client.post(USSD_URL, data=ussd_form(sid, PHONE, text_))
        assert response.status_code == 200
    assert count(db, Submission) == len(INDICATORS)
    assert count(db, Answer) == len(INDICATORS)
    assert count(db, UssdSession) == 1


def test_dial_through_stores_every_answer_on_the_first_hop(client, db):
    text_ = "*".join(first_time_goma_police())
    response = client.post(USSD_URL, data=ussd_form(new_session_id(), PHONE, text_))
    assert response.get_data(as_text=True).startswith("END ")
    assert count(db, Answer) == len(INDICATORS)


def test_sessions_per_day_are_limited_politely_in_the_callers_language(make_app):
    app = make_app(MAX_SESSIONS_PER_DAY="2")
    client = app.test_client()
    play(client, PHONE, ["2", *FIRST_TIME_GOMA_POLICE[1:], *rating()])  # Kiswahili
    play(client, PHONE, ["1", *rating()])
    third = play(client, PHONE, [], hops=1)
    assert third[0] == (200, "END Umefikia kikomo cha leo. Asante, rudi kesho.")


def test_end_of_session_notifications_are_stored_once_without_the_number(client, db):
    sid = new_session_id()
    play(client, PHONE, FIRST_TIME_GOMA_POLICE, session_id=sid, hops=4)
    form = end_of_session(sid, PHONE, hops=4)
    for _ in range(3):  # Africa's Talking retries until it gets a 200
        response = client.post(EVENTS_URL, data=form)
        assert response.status_code == 200
    with db.session() as s:
        event = s.scalars(select(UssdEvent)).one()
        assert (event.status, event.hops_count, event.last_node) == ("Incomplete", 4, "territory")
        assert event.duration_ms == 41230
        rows = s.execute(text("SELECT * FROM ussd_events")).all()
    assert "970000001" not in repr(rows)
    assert client.post(EVENTS_URL, data={"status": "Success"}).status_code == 400
    assert client.post(f"/at/x{TOKEN}/ussd/events", data=form).status_code == 404


def test_no_table_holds_the_phone_number_in_any_format(app, client, db):
    for phone in ("+243970000001", "00243970000001", "0970000001"):
        play(client, phone, first_time_goma_police())
        play(client, phone, ["1", *rating()])
    app.extensions["gateway"].queue.drain()
    with db.session() as s:
        tables = ["respondents", "submissions", "answers", "ussd_sessions", "dirty_cells",
                  "cells", "periods"]
        dump = repr([s.execute(text(f"SELECT * FROM {t}")).all() for t in tables])
    assert "970000001" not in dump
    assert count(db, Respondent) == 1


def test_wrong_token_is_404_and_stores_nothing(client, db):
    form = ussd_form(new_session_id(), PHONE, "*".join(first_time_goma_police()))
    response = client.post(f"/at/{TOKEN}x/ussd", data=form)
    assert response.status_code == 404
    assert count(db, Submission) == 0


def test_malformed_requests_get_400_naming_the_field_and_store_nothing(client, db):
    good = ussd_form(new_session_id(), PHONE, "*".join(first_time_goma_police()))
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
    event = client.post(EVENTS_URL, data=end_of_session(new_session_id(), PHONE))
    assert event.status_code == 503  # Africa's Talking retries it later


def test_unknown_network_code_is_served(client):
    form = ussd_form(new_session_id(), PHONE, "")
    form["networkCode"] = "99999"
    response = client.post(USSD_URL, data=form)
    assert response.get_data(as_text=True).startswith("CON ")


def bribe_state(db: Database) -> tuple[list[bool], int]:
    """(withdrawn flag of each bribe submission, number of countable bribe answers)."""
    with db.session() as s:
        subs = s.scalars(select(Submission).where(Submission.indicator == "bribe")).all()
        counted = s.scalar(select(func.count()).select_from(Answer).where(
            Answer.indicator == "bribe"))
    return [sub.withdrawn_at is not None for sub in subs], int(counted or 0)


def test_a_bribe_answer_is_withdrawn_when_the_caller_goes_back_and_says_no_contact(app, client, db):
    sid = new_session_id()
    paid = [*FIRST_TIME_GOMA_POLICE, "1", "1"]  # contact yes, bribe yes: stored at once
    play(client, PHONE, paid, session_id=sid)
    assert bribe_state(db) == ([False], 1)
    # Same session: back twice to the contact question, then "no contact".
    corrected = [*paid, "0", "0", "2"]
    response = client.post(USSD_URL, data=ussd_form(sid, PHONE, "*".join(corrected)))
    assert response.get_data(as_text=True).startswith("CON Faites-vous confiance")
    assert bribe_state(db) == ([True], 0)  # kept as given, marked withdrawn, no longer counted
    assert answers(db)[("police", "contact")] == 2
    client.post(USSD_URL, data=ussd_form(sid, PHONE, "*".join(corrected)))  # a replayed hop
    assert bribe_state(db) == ([True], 0)
    app.extensions["gateway"].queue.drain()
    with db.session() as s:
        bribe = s.scalars(select(Cell).where(Cell.indicator == "bribe")).all()
        assert bribe == []  # no bribe answer left: no bribe cell at any level
    # Back once more to contact, yes again, bribe no: the same submission counts again.
    again = [*corrected, "0", "1", "2"]
    client.post(USSD_URL, data=ussd_form(sid, PHONE, "*".join(again)))
    assert bribe_state(db) == ([False], 1)
    assert answers(db)[("police", "bribe")] == 2


def test_a_withdrawal_after_continue_reaches_the_earlier_sessions_answer(client, db):
    paid = [*FIRST_TIME_GOMA_POLICE, "1", "1"]
    play(client, PHONE, paid)  # dropped on the trust question, bribe stored in session one
    hops = play(client, PHONE, ["1", "0", "0", "2"])  # Continue, back twice, contact no
    assert hops[-1][1].startswith("CON Faites-vous confiance")
    assert bribe_state(db) == ([True], 0)


def test_no_contact_later_in_the_quarter_withdraws_an_earlier_sessions_bribe_answer(client, db):
    play(client, PHONE, first_time_goma_police(contact="1", bribe="1"))  # paid, says session one
    assert bribe_state(db) == ([False], 1)
    play(client, PHONE, ["1", *rating(contact="2")])  # a later session: police, no contact
    assert bribe_state(db) == ([True], 0)
    assert answers(db)[("police", "contact")] == 2


def test_database_down_mid_session_apologises_in_the_language_the_path_chose(make_app):
    app = make_app()
    client = app.test_client()
    sid = new_session_id()
    play(client, PHONE, ["2", "1"], session_id=sid)  # Kiswahili, consent
    gw = app.extensions["gateway"]
    gw.db.dispose()
    gw.db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")  # the database goes away
    response = client.post(USSD_URL, data=ussd_form(sid, PHONE, "2*1*1"))
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "END " + gw.catalog.text("sw", "unavailable")


def test_nul_bytes_in_notification_fields_are_dropped_not_refused(client, db):
    sid = new_session_id()
    form = end_of_session(sid, PHONE)
    form.update(errorMessage="bad\x00route", networkCode="630\x0001", lastAppResponse="\x00")
    assert client.post(EVENTS_URL, data=form).status_code == 200
    with db.session() as s:
        event = s.scalars(select(UssdEvent)).one()
    assert (event.error_message, event.network_code) == ("badroute", "63001")


def test_a_number_typed_into_a_menu_is_not_kept_in_the_sessions_path(client, db):
    sid = new_session_id()
    inputs = [*FIRST_TIME_GOMA_POLICE[:3], "0991234567"]  # a number where a territory is asked
    hops = play(client, PHONE, inputs, session_id=sid)
    assert hops[-1][1].startswith("CON ")  # refused as a choice: the screen is asked again
    with db.session() as s:
        path = s.scalars(select(UssdSession.path).where(UssdSession.session_id == sid)).one()
        dump = repr(s.execute(text("SELECT * FROM ussd_sessions")).all())
    assert path[-1] == "[numero]"
    assert "991234567" not in dump
