"""Staff answers to feedback through the vault, the vault's keys and retention, and the SMS
configuration check at start-up."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from flows.model import FlowError
from gateway.models import Feedback, PhoneVault
from gateway.settings import DEFAULT_CONFIG_DIR, Settings, SettingsError
from gateway.vault import Vault, purge_expired
from tests.africastalking import SMS_URL, sms_form
from tests.conftest import VAULT_KEY, at_env

PHONE = "+243971234500"


def _feedback(app: Any, message: str = "AVIS les policiers dorment au poste") -> int:
    app.test_client().post(SMS_URL, data=sms_form(PHONE, message))
    gw = app.extensions["gateway"]
    gw.queue.drain()
    with gw.db.session() as session:
        return int(session.scalars(select(Feedback.id)).one())


def test_staff_answer_reaches_the_citizen_without_showing_the_number(make_app: Any,
                                                                     fake_at: Any) -> None:
    app = make_app(**at_env(fake_at))
    feedback_id = _feedback(app)
    runner = app.test_cli_runner()
    listing = runner.invoke(args=["feedback", "list"])
    assert f"#{feedback_id}" in listing.output and "les policiers dorment" in listing.output
    assert PHONE[4:] not in listing.output
    answered = runner.invoke(args=["feedback", "reply", str(feedback_id),
                                   "Merci, le commandant est informé."])
    assert answered.exit_code == 0, answered.output
    assert PHONE[4:] not in answered.output
    expected = app.extensions["gateway"].sms.text(
        "fr", "feedback_reply", ref=feedback_id, text="Merci, le commandant est informé.")
    assert fake_at.accepted_for(PHONE)[-1] == expected
    twice = runner.invoke(args=["feedback", "reply", str(feedback_id),
                                "Merci, le commandant est informé."])
    assert "already queued" in twice.output
    assert fake_at.accepted_for(PHONE).count(expected) == 1
    with app.extensions["gateway"].db.session() as session:
        assert session.get(Feedback, feedback_id).status == "answered"


def test_no_answer_to_an_opted_out_or_forgotten_citizen(make_app: Any, fake_at: Any) -> None:
    app = make_app(**at_env(fake_at))
    feedback_id = _feedback(app)
    runner = app.test_cli_runner()
    app.test_client().post(SMS_URL, data=sms_form(PHONE, "STOP"))
    refused = runner.invoke(args=["feedback", "reply", str(feedback_id), "Bonjour"])
    assert refused.exit_code == 1 and "opted out" in refused.output
    app.test_client().post(SMS_URL, data=sms_form(PHONE, "START"))
    gw = app.extensions["gateway"]
    with gw.db.transaction() as session:
        session.execute(update(PhoneVault).values(
            purge_after=datetime.now(UTC) - timedelta(days=1)))
        assert purge_expired(session, datetime.now(UTC)) == 1
    refused = runner.invoke(args=["feedback", "reply", str(feedback_id), "Bonjour"])
    assert refused.exit_code == 1 and "no longer kept" in refused.output


def test_rotating_the_vault_key(make_app: Any, fake_at: Any) -> None:
    app = make_app(**at_env(fake_at))
    _feedback(app)
    new_key = Fernet.generate_key().decode()
    rotated = make_app(**at_env(fake_at), VAULT_KEY=f"{new_key},{VAULT_KEY}")
    result = rotated.test_cli_runner().invoke(args=["vault", "rotate"])
    assert "1 numbers re-encrypted" in result.output
    only_new = Vault((new_key,), 180)
    old_only = Vault((VAULT_KEY,), 180)
    gw = rotated.extensions["gateway"]
    with gw.db.session() as session:
        respondent_id = session.scalars(select(PhoneVault.respondent_id)).one()
        assert only_new.number(session, respondent_id, datetime.now(UTC)) == PHONE
        with pytest.raises(LookupError):
            old_only.number(session, respondent_id, datetime.now(UTC))


def test_vault_key_is_validated_and_required_in_production() -> None:
    with pytest.raises(SettingsError, match="VAULT_KEY"):
        Settings.from_env(environ={"VAULT_KEY": "not-a-fernet-key"})
    with pytest.raises(SettingsError, match="VAULT_KEY"):
        Settings.from_env(environ={"GATEWAY_ENV": "production"})
    with pytest.raises(SettingsError, match="AT_USERNAME and AT_API_KEY"):
        Settings.from_env(environ={"AT_USERNAME": "someone"})
    with pytest.raises(SettingsError, match="AT_API_URL"):
        Settings.from_env(environ={"AT_API_URL": "ftp://example.org"})


def test_a_keyword_with_two_meanings_stops_start_up(make_app: Any, tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    grammar = (config / "sms.toml").read_text()
    (config / "sms.toml").write_text(grammar.replace('help = ["AIDE", "INFO"]',
                                                     'help = ["AIDE", "INFO", "POLICE"]'))
    with pytest.raises(FlowError, match="POLICE"):
        make_app(CONFIG_DIR=str(config))


def test_a_number_is_kept_only_while_a_message_to_it_may_be_due(make_app: Any,
                                                                fake_at: Any) -> None:
    app = make_app(**at_env(fake_at))
    gw = app.extensions["gateway"]

    def kept_for(message: str) -> timedelta:
        before = datetime.now(UTC)
        app.test_client().post(SMS_URL, data=sms_form(PHONE, message))
        gw.queue.drain()
        with gw.db.session() as session:
            kept: datetime = session.scalars(select(PhoneVault.purge_after)).one()
        return kept - before

    day = timedelta(days=1) + timedelta(minutes=1)  # a minute of slack for the test's own time
    assert timedelta(days=1) < kept_for("POLICE GOMA 3 2") <= 2 * day  # the reply, its retries
    retention = timedelta(days=180)  # VAULT_RETENTION_DAYS
    # Feedback: staff may answer it.
    assert retention - day < kept_for("AVIS les policiers dorment") <= retention + day
    assert retention - day < kept_for("POLICE GOMA 4 3") <= retention + day  # never cut short
    assert kept_for("STOP") <= day  # the confirmation only, then forgotten
    assert kept_for("AVIS encore un mot") <= day
    assert fake_at.accepted_for(PHONE)[-1] == gw.sms.text("fr", "stopped")
    assert timedelta(days=1) < kept_for("START") <= 2 * day
    # A result to send next quarter.
    assert retention - day < kept_for("RESULTATS") <= retention + day


@pytest.mark.parametrize(("reply", "broken", "problem"), [
    ("rated", "Merci! Note pour {lieu}.", "{lieu} is not known here"),
    ("feedback_reply", "Reponse {ref}.", "{text} is missing"),
    ("help", "Tapez {POLICE 3 2", "braces do not pair"),
])
def test_a_reply_the_gateway_could_not_fill_stops_start_up(
        make_app: Any, tmp_path: Path, reply: str, broken: str, problem: str) -> None:
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    catalog = config / "messages" / "sw.toml"
    lines = [f'{reply} = "{broken}"' if line.startswith(f"{reply} = ") and "[sms]" in
             catalog.read_text().split(line)[0] else line
             for line in catalog.read_text().splitlines()]
    catalog.write_text("\n".join(lines) + "\n")
    with pytest.raises(FlowError, match=re.escape(problem)):
        make_app(CONFIG_DIR=str(config))


def test_a_citizen_can_have_their_number_forgotten(make_app: Any, fake_at: Any) -> None:
    app = make_app(**at_env(fake_at))
    feedback_id = _feedback(app)
    runner = app.test_cli_runner()
    done = runner.invoke(args=["vault", "forget"], input="0971 234 500\n")  # local form
    assert "number deleted from the vault" in done.output
    assert "234 500" not in done.output
    again = runner.invoke(args=["vault", "forget", "--number", PHONE])
    assert "no number kept" in again.output
    refused = runner.invoke(args=["feedback", "reply", str(feedback_id), "Bonjour"])
    assert refused.exit_code == 1 and "no longer kept" in refused.output
