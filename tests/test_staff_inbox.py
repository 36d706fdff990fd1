"""Staff pages on what citizens said and did: the feedback inbox (tag, answer by SMS through the
vault, close), the USSD funnel and the integrity flags."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from gateway.models import AuditEvent, Feedback, UssdSession
from tests.africastalking import SMS_URL, first_time_goma_police, play, sms_form
from tests.conftest import at_env
from tests.test_staff_accounts import create, csrf, log_in

PHONE = "+243991239876"


def _staff(app: Any, email: str, role: str = "analyst", province: str | None = None) -> Any:
    create(app, email, role, province=province)
    client = app.test_client()
    assert log_in(client, email).status_code == 302
    return client


def test_the_inbox_shows_feedback_and_answers_it_without_the_number(make_app: Any,
                                                                    fake_at: Any) -> None:
    app = make_app(**at_env(fake_at))
    sms = app.test_client()
    sms.post(SMS_URL, data=sms_form(PHONE, "POLICE GOMA 3 2"))
    sms.post(SMS_URL, data=sms_form(PHONE, "PLAINTE on m'a demande 20$ au poste, 0991239876"))
    app.extensions["gateway"].queue.drain()
    staff = _staff(app, "analyst@goma.example")
    html = staff.get("/staff/feedback").get_data(as_text=True)
    assert "on m&#39;a demande 20$ au poste, [numero]" in html
    assert "Goma" in html and "complaint" in html
    for form in ("991239876", "0991239876", "+243991239876"):
        assert form not in html
    with app.extensions["gateway"].db.session() as session:
        feedback_id = session.scalars(select(Feedback.id)).one()
    token = csrf(staff, "/staff/feedback")
    staff.post(f"/staff/feedback/{feedback_id}/tags",
               data={"csrf_token": token, "tags": "Corruption, poste central, corruption"})
    answered = staff.post(f"/staff/feedback/{feedback_id}/answer",
                          data={"csrf_token": token, "text": "Merci, transmis au commandant."})
    assert answered.status_code == 302
    app.extensions["gateway"].queue.drain()
    expected = app.extensions["gateway"].sms.text(
        "fr", "feedback_reply", ref=feedback_id, text="Merci, transmis au commandant.")
    assert fake_at.accepted_for(PHONE)[-1] == expected
    with app.extensions["gateway"].db.session() as session:
        item = session.get(Feedback, feedback_id)
        assert item is not None
        assert (item.status, item.tags) == ("answered", ["corruption", "poste central"])
        actions = list(session.scalars(select(AuditEvent.action)))
    assert "feedback.tag" in actions and "feedback.answer" in actions
    page = staff.get("/staff/feedback?status=all").get_data(as_text=True)
    assert "corruption, poste central" in page
    staff.post(f"/staff/feedback/{feedback_id}/close", data={"csrf_token": token})
    assert "Rien ici" in staff.get("/staff/feedback").get_data(as_text=True)


def test_a_province_account_does_not_see_another_provinces_feedback(make_app: Any,
                                                                    fake_at: Any) -> None:
    app = make_app(**at_env(fake_at))
    sms = app.test_client()
    sms.post(SMS_URL, data=sms_form(PHONE, "POLICE GOMA 3 2"))
    sms.post(SMS_URL, data=sms_form(PHONE, "AVIS tout va bien a Goma"))
    staff = _staff(app, "ituri@bunia.example", province="CD54")
    assert "tout va bien" not in staff.get("/staff/feedback").get_data(as_text=True)
    assert '<dd id="feedback-new">0</dd>' in staff.get("/staff/").get_data(as_text=True)
    everyone = _staff(app, "analyst@goma.example")
    assert '<dd id="feedback-new">1</dd>' in everyone.get("/staff/").get_data(as_text=True)
    with app.extensions["gateway"].db.session() as session:
        feedback_id = session.scalars(select(Feedback.id)).one()
    token = csrf(staff, "/staff/feedback")
    assert staff.post(f"/staff/feedback/{feedback_id}/answer",
                      data={"csrf_token": token, "text": "x"}).status_code == 404


def test_the_funnel_counts_where_sessions_stop(app: Any) -> None:
    client = app.test_client()
    play(client, "+243991230010", first_time_goma_police())  # to the end
    play(client, "+243991230011", first_time_goma_police(), hops=3)  # dropped early
    play(client, "+243991230012", first_time_goma_police(), hops=3)
    staff = _staff(app, "analyst@goma.example")
    html = staff.get("/staff/funnel").get_data(as_text=True)
    assert "<td>province</td>" not in html  # still within the operator's three minutes
    with app.extensions["gateway"].db.transaction() as session:  # ... and now long after
        session.execute(update(UssdSession).where(UssdSession.ended.is_(False))
                        .values(updated_at=datetime.now(UTC) - timedelta(minutes=10)))
    html = staff.get("/staff/funnel").get_data(as_text=True)
    assert "Abandonnées là" in html
    row = re.search(r"<tr><td>(\w+)</td><td>fr</td><td class=\"num\">2</td>"
                    r"<td class=\"num\">0</td><td class=\"num\">2</td>", html)
    assert row is not None and row.group(1) in ("province", "territory")
    finished = re.search(r"<td class=\"num\">1</td><td class=\"num\">1</td>"
                         r"<td class=\"num\">0</td>", html)
    assert finished is not None


def test_the_flags_page_lists_the_quarters_flags(app: Any) -> None:
    staff = _staff(app, "analyst@goma.example")
    page = staff.get("/staff/flags?period=2026Q3")
    assert page.status_code == 200 and "Aucune alerte" in page.get_data(as_text=True)
    assert staff.get("/staff/flags?period=nonsense").status_code == 400


def test_every_table_exports_as_csv_and_xlsx_with_the_same_rows(make_app: Any,
                                                                 fake_at: Any) -> None:
    import csv
    import io

    from openpyxl import load_workbook

    app = make_app(**at_env(fake_at))
    sms = app.test_client()
    play(sms, PHONE, first_time_goma_police())
    sms.post(SMS_URL, data=sms_form(PHONE, "AVIS =HYPERLINK(\"http://x.example\",\"clic\")"))
    app.extensions["gateway"].queue.drain()
    staff = _staff(app, "admin@goma.example", role="admin")
    for table in ("scores", "benchmark", "funnel", "flags", "feedback", "overview", "quarters",
                  "audit"):
        query = "?status=all&level=province" if table in ("feedback", "scores") else ""
        as_csv = staff.get(f"/staff/export/{table}.csv{query}")
        as_xlsx = staff.get(f"/staff/export/{table}.xlsx{query}")
        assert as_csv.status_code == as_xlsx.status_code == 200, table
        assert as_xlsx.mimetype.endswith("spreadsheetml.sheet")
        rows = list(csv.reader(io.StringIO(as_csv.get_data().decode("utf-8-sig"))))
        sheet = load_workbook(io.BytesIO(as_xlsx.get_data()), read_only=True).active
        assert sheet is not None
        cells = [["" if c is None else str(c) for c in row]
                 for row in sheet.iter_rows(values_only=True)]
        grew = 1 if table == "audit" else 0  # the CSV export itself is in the audit log
        assert len(cells) == len(rows) + grew >= 2 or table == "flags", table
        assert cells[0] == rows[0]
    feedback = staff.get("/staff/export/feedback.csv?status=all").get_data().decode("utf-8-sig")
    assert "'=HYPERLINK" in feedback  # a formula is written as text, never run
    assert staff.get("/staff/export/nothing.csv").status_code == 404
    assert staff.get("/staff/export/scores.pdf").status_code == 404
    with app.extensions["gateway"].db.session() as session:
        exports = [a for a in session.scalars(select(AuditEvent.action))
                   if a.startswith("export.")]
    assert len(exports) == 17
    analyst = _staff(app, "analyst@goma.example")
    assert analyst.get("/staff/export/audit.csv").status_code == 403


def test_odd_input_gets_a_clear_answer_never_a_500(make_app: Any, fake_at: Any) -> None:
    from openpyxl import load_workbook

    app = make_app(**at_env(fake_at))
    sms = app.test_client()
    odd = "AVIS un \x1b escape et 099_123_4567 ou +243,991,234,567"
    sms.post(SMS_URL, data=sms_form(PHONE, odd))
    staff = _staff(app, "analyst@goma.example")
    for path in ("/staff/funnel?period=0000Q1", "/staff/export/funnel.csv?period=9999Q4",
                 "/staff/scores?period=2026Q1%0A", "/staff/export/overview.xlsx?period=0000Q4"):
        assert staff.get(path).status_code == 400, path
    token = csrf(staff, "/staff/feedback")
    huge = "/staff/feedback/99999999999999999999999/close"
    assert staff.post(huge, data={"csrf_token": token}).status_code == 404
    export = staff.get("/staff/export/feedback.xlsx?status=all")
    assert export.status_code == 200
    sheet = load_workbook(io.BytesIO(export.get_data()), read_only=True).active
    assert sheet is not None
    text = " ".join(str(c) for row in sheet.iter_rows(values_only=True) for c in row if c)
    assert "un   escape" in text or "un  escape" in text
    for digits in ("123_4567", "991,234,567"):
        assert digits not in text
    province = _staff(app, "ituri@bunia.example", province="CD54")
    assert province.get("/staff/flags").status_code == 403
