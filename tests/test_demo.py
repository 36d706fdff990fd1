"""The demo dataset: loaded once into an empty embedded database, labelled, never elsewhere."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.models import Answer, Feedback, OutboundSms, Period, StaffUser, UssdSession
from tests.test_staff_accounts import log_in


def test_the_demo_fills_every_page_once_and_is_labelled(make_app: Any,
                                                        database_url: str) -> None:
    app = make_app()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "load", "--answers", "1500"])
    if not database_url.startswith("sqlite"):
        assert "not loaded (only into the embedded SQLite database)" in result.output
        return
    assert "demo dataset      : loaded (seed 2026)" in result.output
    login = re.search(r"demo-reviewer@example.org / (\S+) \(reviewer\)", result.output)
    assert login is not None
    password = login.group(1)
    with app.extensions["gateway"].db.session() as session:
        statuses = dict(session.execute(select(Period.code, Period.status)).all())
        assert sorted(statuses.values()) == ["in_review", "locked", "open", "open"]
        assert session.scalar(select(func.count()).select_from(UssdSession)) >= 50
        assert session.scalar(select(func.count()).select_from(Feedback)) == 6
        assert session.scalar(select(func.count()).select_from(StaffUser)) == 3
        answers = session.scalar(select(func.count()).select_from(Answer))
        assert {m.status for m in session.scalars(select(OutboundSms))} == {"suppressed"}
    again = runner.invoke(args=["demo", "load", "--answers", "1500"])
    assert "loaded earlier" in again.output
    assert f"demo-admin@example.org / {password}" in again.output
    with app.extensions["gateway"].db.session() as session:
        assert session.scalar(select(func.count()).select_from(Answer)) == answers
    client = app.test_client()
    assert log_in(client, "demo-reviewer@example.org", password).status_code == 302
    for page in ("/staff/", "/staff/scores?level=province", "/staff/funnel", "/staff/feedback",
                 "/staff/quarters"):
        html = client.get(page).get_data(as_text=True)
        assert 'class="demo"' in html and "DÉMO" in html, page


@pytest.mark.parametrize("env", [{"GATEWAY_ENV": "production"}, {}])
def test_the_demo_never_touches_a_database_with_data_or_production(
        make_app: Any, database_url: str, env: dict[str, str]) -> None:
    if env:
        env = {**env, "REDIS_URL": "redis://127.0.0.1:6379/15", "SECRET_KEY": "s" * 40,
               "PHONE_HASH_KEY": "p" * 40, "WEBHOOK_TOKEN": "t" * 30}
    app = make_app(**env)
    runner = app.test_cli_runner()
    if not env:
        runner.invoke(args=["synth", "--period", "2026Q1", "--answers", "100"])
    result = runner.invoke(args=["demo", "load"])
    assert "not loaded" in result.output
    with app.extensions["gateway"].db.session() as session:
        assert session.scalar(select(func.count()).select_from(StaffUser)) == 0
