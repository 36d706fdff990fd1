"""Closing the loop: after a quarter is locked, its result by SMS to those who asked for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from flows.gsm import GSM7, encoding_of
from gateway.models import OutboundSms, PhoneVault, Respondent
from gateway.phones import pseudonym
from gateway.quarters import move_to_review
from scoring.periods import quarter_of
from tests.africastalking import SMS_URL, sms_form
from tests.conftest import PHONE_KEY, at_env


def test_a_locked_quarter_is_texted_once_to_those_who_asked(make_app: Any,
                                                            fake_at: Any) -> None:
    app = make_app(**at_env(fake_at))
    gw = app.extensions["gateway"]
    client = app.test_client()
    raters = [f"+24399100{i:04d}" for i in range(12)]
    for phone in raters:
        client.post(SMS_URL, data=sms_form(phone, "POLICE GOMA 4 3"))
    asked = {raters[0]: "RESULTATS", raters[1]: "MATOKEO", raters[2]: "MBANO",
             raters[3]: "RESULTATS", raters[4]: "RESULTATS"}
    for phone, word in asked.items():
        client.post(SMS_URL, data=sms_form(phone, word))
    client.post(SMS_URL, data=sms_form(raters[3], "STOP"))  # asked, then opted out
    gw.queue.drain()
    with gw.db.transaction() as session:  # raters[4]'s number has passed its retention
        respondent_id = session.scalar(select(Respondent.id).where(
            Respondent.phone_hash == pseudonym(raters[4], PHONE_KEY)))
        session.execute(update(PhoneVault).where(PhoneVault.respondent_id == respondent_id)
                        .values(purge_after=datetime.now(UTC) - timedelta(seconds=1)))
    before = len(fake_at.requests)
    period = quarter_of(datetime.now(UTC))
    with gw.db.transaction() as session:
        move_to_review(session, period, datetime.now(UTC))
    locked = app.test_cli_runner().invoke(args=["quarter", "lock", period, "--broadcast"])
    assert locked.exit_code == 0, locked.output
    assert "result messages queued for 3 citizens" in locked.output
    gw.queue.drain()
    sent = dict(fake_at.all_messages()[before:])
    few = {"fr": "trop peu d'avis", "sw": "maoni machache", "ln": "makanisi moke"}
    inst = {"fr": ("Police", "Justice", "Admin."), "sw": ("Polisi", "Mahakama", "Utawala"),
            "ln": ("Polisi", "Bosembo", "Boyangeli")}
    expected = {}
    for phone, language in ((raters[0], "fr"), (raters[1], "sw"), (raters[2], "ln")):
        police, justice, admin = inst[language]
        items = f"{police} 100/100, {justice} {few[language]}, {admin} {few[language]}"
        expected[phone] = gw.sms.text(language, "results", period=period, place="Goma",
                                      items=items)
    assert sent == expected
    for message in sent.values():
        encoding = encoding_of(message)
        assert (encoding.name, encoding.segments) == (GSM7, 1)
    # Broadcasting again queues nothing twice.
    again = app.test_cli_runner().invoke(args=["sms", "broadcast", period])
    assert again.exit_code == 0 and "queued for 0 citizens" in again.output
    with gw.db.session() as session:
        assert session.scalar(select(func.count()).select_from(OutboundSms).where(
            OutboundSms.kind == "broadcast")) == 3


def test_an_open_quarter_is_not_broadcast(make_app: Any, fake_at: Any) -> None:
    app = make_app(**at_env(fake_at))
    app.test_client().post(SMS_URL, data=sms_form("+243991009999", "POLICE GOMA 4 3"))
    period = quarter_of(datetime.now(UTC))
    result = app.test_cli_runner().invoke(args=["sms", "broadcast", period])
    assert result.exit_code == 1
    assert "lock it first" in result.output
