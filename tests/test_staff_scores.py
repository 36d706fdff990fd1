"""Staff score pages: scores with intervals and trend, benchmarking, CSV export with suppression,
quarter review and lock (reviewers only, with a confirmation), the printable French scorecard."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from gateway.models import AuditEvent, Period, Snapshot
from tests.test_staff_accounts import create, csrf, log_in

PERIODS = ("2026Q2", "2026Q3")


@pytest.fixture
def scored(app: Any) -> Any:
    runner = app.test_cli_runner()
    for i, period in enumerate(PERIODS):
        assert runner.invoke(args=["synth", "--period", period, "--answers", "2500",
                                   "--seed", str(7 + i)]).exit_code == 0
        assert runner.invoke(args=["scores", "recompute", "--period", period]).exit_code == 0
    create(app, "reviewer@goma.example", "reviewer")
    create(app, "analyst@goma.example", "analyst")
    create(app, "ituri@bunia.example", "analyst", province="CD54")
    return app


def _client(app: Any, email: str) -> Any:
    client = app.test_client()
    assert log_in(client, email).status_code == 302
    return client


def test_scores_show_values_intervals_and_the_trend(scored: Any) -> None:
    client = _client(scored, "analyst@goma.example")
    page = client.get("/staff/scores?period=2026Q3&type=police&level=province")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Nord-Kivu" in html and "Ituri" in html
    assert "provisoire" in html
    assert html.count("<svg class=\"bar\"") >= 2  # error bars, drawn on the server
    assert "2026Q2:" in html  # the earlier quarter in the trend column
    assert len(html.encode()) < 300_000


def test_benchmark_ranks_localities_and_withholds_small_cells(scored: Any) -> None:
    client = _client(scored, "analyst@goma.example")
    html = client.get("/staff/benchmark?period=2026Q3&type=police&level=collectivity") \
        .get_data(as_text=True)
    assert "Rang" in html
    export = client.get("/staff/export/scores.csv?period=2026Q3&type=police&level=collectivity")
    assert export.status_code == 200
    assert export.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(export.get_data().decode("utf-8-sig"))))
    assert rows
    for row in rows:
        if row["suppressed"] == "True":
            assert row["score"] == "" and row["score_low"] == ""  # values withheld
        elif row["score"]:
            assert float(row["score_low"]) <= float(row["score"]) <= float(row["score_high"])
        else:  # enough people, but no indicator with enough answers to score
            assert row["score_low"] == "" and row["score_high"] == ""
    ranked = [float(r["score"]) for r in rows if r["score"]]
    assert ranked  # some localities have enough respondents


def test_a_province_account_sees_its_province_only(scored: Any) -> None:
    client = _client(scored, "ituri@bunia.example")
    html = client.get("/staff/scores?period=2026Q3&type=police&level=province") \
        .get_data(as_text=True)
    assert "Ituri" in html and "Nord-Kivu" not in html


def test_an_analyst_cannot_review_or_lock(scored: Any) -> None:
    client = _client(scored, "analyst@goma.example")
    token = csrf(client, "/staff/quarters")
    assert client.post("/staff/quarters/2026Q3/review",
                       data={"csrf_token": token}).status_code == 403
    assert client.get("/staff/quarters/2026Q3/lock").status_code == 403
    assert client.post("/staff/quarters/2026Q3/lock",
                       data={"csrf_token": token, "confirm": "2026Q3"}).status_code == 403
    assert "Verrouiller" not in client.get("/staff/quarters").get_data(as_text=True)


def test_a_reviewer_reviews_confirms_and_locks(scored: Any) -> None:
    client = _client(scored, "reviewer@goma.example")
    token = csrf(client, "/staff/quarters")
    assert client.post("/staff/quarters/2026Q3/review",
                       data={"csrf_token": token}).status_code == 302
    confirm = client.get("/staff/quarters/2026Q3/lock").get_data(as_text=True)
    assert "Ce qui sera figé" in confirm and 'id="lock-items"' in confirm
    assert "pas encore terminé" not in confirm  # 2026Q3 has ended
    previewed = int(re.search(r'id="lock-items">(\d+)<', confirm).group(1))  # type: ignore[union-attr]
    wrong = client.post("/staff/quarters/2026Q3/lock", data={"csrf_token": token,
                                                            "confirm": "2026Q2"})
    assert wrong.status_code == 302
    with scored.extensions["gateway"].db.session() as session:
        assert session.scalar(select(Period.status).where(Period.code == "2026Q3")) \
            == "in_review"
    done = client.post("/staff/quarters/2026Q3/lock", data={"csrf_token": token,
                                                           "confirm": "2026Q3"})
    assert done.status_code == 302
    with scored.extensions["gateway"].db.session() as session:
        assert session.scalar(select(Period.status).where(Period.code == "2026Q3")) == "locked"
        snapshot = session.scalars(select(Snapshot).where(Snapshot.period == "2026Q3")).one()
        assert snapshot.version == 1
        assert len(json.loads(snapshot.document)["items"]) == previewed  # as announced
        actions = list(session.scalars(select(AuditEvent.action)))
    assert "quarter.review" in actions and "quarter.lock" in actions
    html = client.get("/staff/scores?period=2026Q3&type=police&level=province") \
        .get_data(as_text=True)
    assert "verrouillé, version 1" in html


def test_the_scorecard_is_one_french_page(scored: Any) -> None:
    client = _client(scored, "analyst@goma.example")
    token = csrf(client)
    client.post("/staff/language", data={"language": "en", "csrf_token": token,
                                         "next": "/staff/"})
    page = client.get("/staff/scorecard/2026Q3/CD61")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Fiche de performance — Nord-Kivu" in html and "PROVISOIRE" in html
    assert "Police" in html and "Intervalle à 95 %" in html
    assert client.get("/staff/scorecard/2026Q3/NOPE").status_code == 404


def test_a_province_reviewer_cannot_lock_every_province(scored: Any) -> None:
    create(scored, "bunia-reviewer@bunia.example", "reviewer", province="CD54")
    client = _client(scored, "bunia-reviewer@bunia.example")
    token = csrf(client, "/staff/quarters")
    assert client.post("/staff/quarters/2026Q3/review",
                       data={"csrf_token": token}).status_code == 403
    assert client.get("/staff/quarters/2026Q3/lock").status_code == 403
    assert "Mettre en revue" not in client.get("/staff/quarters").get_data(as_text=True)


def test_the_trend_is_drawn_from_earlier_quarters(scored: Any) -> None:
    client = _client(scored, "analyst@goma.example")
    html = client.get("/staff/scores?period=2026Q3&type=police&level=province") \
        .get_data(as_text=True)
    assert html.count('<svg class="spark"') >= 2
