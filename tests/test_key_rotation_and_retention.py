"""Phone-hash key rotation (PHONE_HASH_KEY_PREVIOUS) and the retention of raw traffic
(RAW_RETENTION_DAYS): a caller known under the retired key is the same respondent afterwards, on
USSD and SMS; old end-of-session notifications go and old SMS texts are cleared by the sweeper."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from gateway.models import Answer, Respondent, SmsInbound, UssdEvent
from gateway.phones import pseudonym
from gateway.settings import Settings, SettingsError
from scoring.jobs import sweep_dirty_cells
from tests.africastalking import (
    EVENTS_URL,
    SMS_URL,
    USSD_URL,
    end_of_session,
    first_time_goma_police,
    new_session_id,
    play,
    rating,
    sms_form,
    ussd_form,
)
from tests.conftest import PHONE_KEY
from tests.test_jobs import RecordingQueue

NEW_KEY = "rotated-phone-hash-key-0123456789abcdef0123"
ROTATED = {"PHONE_HASH_KEY": NEW_KEY, "PHONE_HASH_KEY_PREVIOUS": PHONE_KEY,
           "PHONE_HASH_KEY_VERSION": "2"}


def respondents(db: Any) -> list[tuple[int, str, int]]:
    with db.session() as session:
        return [tuple(r) for r in session.execute(
            select(Respondent.id, Respondent.phone_hash, Respondent.key_version))]


def test_a_ussd_caller_known_under_the_retired_key_is_recognised_and_re_keyed(make_app):
    phone = "+243970000501"
    before = make_app()
    play(before.test_client(), phone, first_time_goma_police(trust="2"))
    db = before.extensions["gateway"].db
    ((respondent_id, _, _),) = respondents(db)

    after = make_app(**ROTATED)
    client = after.test_client()
    first = client.post(USSD_URL,
                        data=ussd_form(new_session_id(), phone, "")).get_data(as_text=True)
    assert first.startswith("CON Goma:")  # remembered: straight to the place rated before
    hops = play(client, phone, ["1", *rating(trust="4", another="2")])
    assert hops[-1][1].startswith("END ")
    assert respondents(db) == [(respondent_id, pseudonym(phone, NEW_KEY), 2)]
    with db.session() as session:  # the new rating replaced the old one: counted once
        trust = session.execute(select(Answer.respondent_id, Answer.value)
                                .where(Answer.indicator == "trust")).all()
    assert [tuple(t) for t in trust] == [(respondent_id, 4)]


def test_an_sms_sender_known_under_the_retired_key_keeps_their_row(make_app):
    phone = "+243970000502"
    before = make_app()
    assert before.test_client().post(SMS_URL, data=sms_form(phone, "POLICE GOMA 3 2")).status_code \
        == 200
    db = before.extensions["gateway"].db
    ((respondent_id, _, _),) = respondents(db)
    after = make_app(**ROTATED)
    assert after.test_client().post(SMS_URL, data=sms_form(phone, "POLICE GOMA 4 3")).status_code \
        == 200
    assert respondents(db) == [(respondent_id, pseudonym(phone, NEW_KEY), 2)]
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Answer)) == 2  # trust, change


def test_without_the_retired_key_a_caller_would_be_somebody_new(make_app):
    """Why the setting exists: the digest changes with the key."""
    phone = "+243970000503"
    before = make_app()
    play(before.test_client(), phone, first_time_goma_police())
    after = make_app(PHONE_HASH_KEY=NEW_KEY, PHONE_HASH_KEY_VERSION="2")
    play(after.test_client(), phone, first_time_goma_police())
    assert len(respondents(before.extensions["gateway"].db)) == 2


def test_the_retired_key_must_not_be_the_current_one():
    with pytest.raises(SettingsError, match="PHONE_HASH_KEY_PREVIOUS"):
        Settings.from_env(environ={"PHONE_HASH_KEY": NEW_KEY, "PHONE_HASH_KEY_PREVIOUS": NEW_KEY})


def test_the_sweeper_purges_raw_traffic_past_its_retention(make_app):
    app = make_app(RAW_RETENTION_DAYS="30", SWEEP_INTERVAL="3600")
    client = app.test_client()
    db = app.extensions["gateway"].db

    def traffic(phone: str) -> None:
        sid = new_session_id()
        client.post(USSD_URL, data=ussd_form(sid, phone, ""))
        assert client.post(EVENTS_URL, data=end_of_session(sid, phone)).status_code == 200
        for text in ("AIDE", "AVIS la route est coupee"):
            assert client.post(SMS_URL, data=sms_form(phone, text)).status_code == 200

    traffic("+243970000504")
    with db.transaction() as session:
        then = datetime.now(UTC) - timedelta(days=31)
        session.execute(update(UssdEvent).values(received_at=then))
        session.execute(update(SmsInbound).values(received_at=then))
    traffic("+243970000505")
    sweep_dirty_cells(database=db, queue=RecordingQueue(), settings=app.extensions["gateway"]
                      .settings)
    month_ago = datetime.now(UTC) - timedelta(days=30)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(UssdEvent)) == 1
        old = session.scalars(select(SmsInbound.text)
                              .where(SmsInbound.received_at < month_ago)).all()
        new = session.scalars(select(SmsInbound.text)
                              .where(SmsInbound.received_at >= month_ago)).all()
    assert old == ["", ""]  # rows kept (a late retry is still recognised), texts cleared
    assert sorted(new) == ["AIDE", "AVIS la route est coupee"]
