"""Crawling the staff pages: every staff URL sends a logged-out visitor to the login page, and no
page or export, crawled logged in, contains a citizen's phone number in any usual form."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any
from urllib.parse import urljoin, urlsplit

from tests.africastalking import SMS_URL, first_time_goma_police, play, sms_form
from tests.conftest import at_env
from tests.test_staff_accounts import create, log_in

PHONES = ("+243991230101", "+243971230102", "+243821230103")
SAMPLE = {"period": "2026Q4", "location": "CD61", "feedback_id": "1", "table": "scores",
          "fmt": "xlsx"}
_LINK = re.compile(r'href="([^"]+)"')


def _forms(phone: str) -> set[str]:
    national = phone[4:]
    return {phone, phone[1:], "00" + phone[1:], "0" + national, national,
            f"0{national[:2]} {national[2:5]} {national[5:]}"}


def _staff_urls(app: Any) -> list[tuple[str, set[str]]]:
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/staff"):
            continue
        path = rule.rule
        for name in rule.arguments:
            path = re.sub(rf"<(?:[a-z]+:)?{name}>", SAMPLE[name], path)
        urls.append((path, set(rule.methods or ()) - {"HEAD", "OPTIONS"}))
    return urls


def _text_of(response: Any) -> str:
    """A page's text, or an XLSX file's (its XML parts: where a number would be written)."""
    data = response.get_data()
    if response.mimetype.endswith("spreadsheetml.sheet"):
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            return "".join(book.read(name).decode() for name in book.namelist())
    return str(data.decode("utf-8-sig"))


def test_every_staff_url_sends_a_logged_out_visitor_to_the_login_page(app: Any) -> None:
    client = app.test_client()
    urls = _staff_urls(app)
    assert len(urls) >= 15
    for path, methods in urls:
        if path in ("/staff/login", "/staff/language"):
            continue
        for method in methods:
            response = client.open(path, method=method)
            # A POST without a CSRF token stops at the CSRF check (400), before anything else.
            expected = {302} if method == "GET" else {302, 400}
            assert response.status_code in expected, (method, path, response.status_code)
            if response.status_code == 302:
                assert urlsplit(response.headers["Location"]).path == "/staff/login", path


def test_no_page_or_export_shows_a_phone_number(make_app: Any, fake_at: Any) -> None:
    app = make_app(**at_env(fake_at))
    sms = app.test_client()
    for phone in PHONES:
        play(sms, phone, first_time_goma_police())
        sms.post(SMS_URL, data=sms_form(phone, f"AVIS appelez-moi au {phone} ou 0{phone[4:]}"))
        sms.post(SMS_URL, data=sms_form(phone, "RESULTATS"))
    app.extensions["gateway"].queue.drain()
    create(app, "admin@goma.example", "admin")
    client = app.test_client()
    log_in(client, "admin@goma.example")
    seen: set[str] = set()
    queue = ["/staff/", "/staff/feedback?status=all",
             *[p for p, m in _staff_urls(app) if "GET" in m and p != "/staff/login"]]
    pages = 0
    while queue:
        path = queue.pop()
        if path in seen or not path.startswith("/staff") or "logout" in path:
            continue
        seen.add(path)
        response = client.get(path)
        assert response.status_code in (200, 302, 400, 404), (path, response.status_code)
        body = _text_of(response)
        if response.mimetype == "text/html":
            assert len(response.get_data()) < 300_000, path  # slow connections in Goma, Bunia
        pages += 1
        for phone in PHONES:
            for form in _forms(phone):
                assert form not in body, (path, form)
        for link in _LINK.findall(body):
            target = urljoin(path, link.replace("&amp;", "&"))
            if urlsplit(target).path.startswith("/staff") and target not in seen:
                queue.append(target)
    assert pages >= 10
    assert any(p.startswith("/staff/export/scores.csv") for p in seen)
    assert any(p.startswith("/staff/export/scores.xlsx") for p in seen)
    assert any(p.startswith("/staff/scorecard/") for p in seen)
    assert "/staff/feedback" in seen
