"""Staff accounts: creation by CLI, login with CSRF, server-side sessions, the login rate limit,
security headers, roles, the append-only audit log, French first."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from gateway.models import AuditEvent, StaffSession, StaffUser
from tests.conftest import REDIS_URL

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def create(app: Any, email: str, role: str, password: str = PASSWORD,
           province: str | None = None) -> Any:
    args = ["user", "create", email, "--role", role]
    if province:
        args += ["--province", province]
    return app.test_cli_runner().invoke(args=args, input=f"{password}\n{password}\n")


def csrf(client: Any, path: str = "/staff/login") -> str:
    match = _CSRF.search(client.get(path).get_data(as_text=True))
    assert match is not None
    return match.group(1)


def log_in(client: Any, email: str, password: str = PASSWORD, **query: str) -> Any:
    token = csrf(client)
    return client.post("/staff/login", query_string=query,
                       data={"email": email, "password": password, "csrf_token": token})


def actions(app: Any) -> list[str]:
    with app.extensions["gateway"].db.session() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_create_an_account_by_piping_the_password(app: Any) -> None:
    result = create(app, "Reviewer@Goma.example", "reviewer")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    with app.extensions["gateway"].db.session() as session:
        user = session.scalars(select(StaffUser)).one()
    assert user.email == "reviewer@goma.example"
    assert user.password_hash.startswith("$argon2id$")
    assert create(app, "reviewer@goma.example", "analyst").exit_code == 1  # taken
    assert "12 characters" in create(app, "short@goma.example", "analyst", "too short").output
    assert "no province" in create(app, "p@goma.example", "analyst", province="XX").output
    assert create(app, "ituri@bunia.example", "analyst", province="CD54").exit_code == 0
    assert actions(app) == ["user.create", "user.create"]


def test_login_opens_a_server_side_session_and_logout_ends_it(app: Any) -> None:
    create(app, "reviewer@goma.example", "reviewer")
    client = app.test_client()
    assert client.get("/staff/").status_code == 302
    response = log_in(client, "reviewer@goma.example", next="/staff/?period=2026Q4")
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/?period=2026Q4"
    cookie = client.get_cookie("gw_staff", path="/staff")
    assert cookie is not None and cookie.http_only
    with app.extensions["gateway"].db.session() as session:
        stored = session.scalars(select(StaffSession.token_hash)).one()
    assert cookie.value not in stored  # only its digest is kept
    page = client.get("/staff/")
    assert page.status_code == 200 and "Trimestre" in page.get_data(as_text=True)
    stolen = cookie.value
    token = csrf(client, "/staff/")
    assert client.post("/staff/logout", data={"csrf_token": token}).status_code == 302
    other = app.test_client()
    other.set_cookie("gw_staff", stolen, path="/staff")
    assert other.get("/staff/").status_code == 302  # a copied cookie is dead after logout
    assert actions(app)[-2:] == ["login", "logout"]


def test_forms_without_their_csrf_token_are_refused(app: Any) -> None:
    create(app, "reviewer@goma.example", "reviewer")
    client = app.test_client()
    response = client.post("/staff/login", data={"email": "reviewer@goma.example",
                                                 "password": PASSWORD})
    assert response.status_code == 400
    assert client.get_cookie("gw_staff", path="/staff") is None


def test_wrong_passwords_are_rate_limited_per_account(app: Any) -> None:
    create(app, "reviewer@goma.example", "reviewer")
    client = app.test_client()
    for _ in range(5):
        assert log_in(client, "reviewer@goma.example", "wrong password!!").status_code == 401
    blocked = log_in(client, "reviewer@goma.example")  # even the right password, for now
    assert blocked.status_code == 429
    assert "Trop de tentatives" in blocked.get_data(as_text=True)
    assert client.get_cookie("gw_staff", path="/staff") is None
    assert actions(app).count("login.failed") == 5
    assert actions(app)[-1] == "login.throttled"
    assert log_in(app.test_client(), "nobody@goma.example").status_code == 401


def test_a_password_change_ends_every_session(app: Any) -> None:
    create(app, "reviewer@goma.example", "reviewer")
    laptop, phone = app.test_client(), app.test_client()
    log_in(laptop, "reviewer@goma.example")
    log_in(phone, "reviewer@goma.example")
    token = csrf(laptop, "/staff/password")
    wrong = laptop.post("/staff/password", data={
        "csrf_token": token, "current": "not it at all", "new": "a new long secret",
        "confirm": "a new long secret"})
    assert wrong.status_code == 400
    changed = laptop.post("/staff/password", data={
        "csrf_token": token, "current": PASSWORD, "new": "a new long secret",
        "confirm": "a new long secret"})
    assert changed.status_code == 302
    assert laptop.get("/staff/").status_code == 302
    assert phone.get("/staff/").status_code == 302
    assert log_in(app.test_client(), "reviewer@goma.example").status_code == 401
    assert log_in(app.test_client(), "reviewer@goma.example",
                  "a new long secret").status_code == 302


def test_roles_and_the_audit_log(app: Any) -> None:
    create(app, "admin@goma.example", "admin")
    create(app, "analyst@goma.example", "analyst")
    analyst, admin = app.test_client(), app.test_client()
    log_in(analyst, "analyst@goma.example")
    log_in(admin, "admin@goma.example")
    assert analyst.get("/staff/audit").status_code == 403
    page = admin.get("/staff/audit").get_data(as_text=True)
    assert "analyst@goma.example" in page and "login" in page
    with app.extensions["gateway"].db.transaction() as session, pytest.raises(DBAPIError):
        session.execute(text("UPDATE audit_log SET action = 'nothing'"))
    with app.extensions["gateway"].db.transaction() as session, pytest.raises(DBAPIError):
        session.execute(text("DELETE FROM audit_log"))
    assert "user.create" in actions(app)


def test_disabling_an_account_ends_its_sessions(app: Any) -> None:
    create(app, "reviewer@goma.example", "reviewer")
    client = app.test_client()
    log_in(client, "reviewer@goma.example")
    result = app.test_cli_runner().invoke(args=["user", "disable", "reviewer@goma.example"])
    assert "1 sessions ended" in result.output
    assert client.get("/staff/").status_code == 302
    assert log_in(app.test_client(), "reviewer@goma.example").status_code == 401


def test_staff_pages_carry_the_security_headers(app: Any) -> None:
    create(app, "reviewer@goma.example", "reviewer")
    client = app.test_client()
    log_in(client, "reviewer@goma.example")
    for path in ("/staff/login", "/staff/"):
        headers = client.get(path).headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert "Strict-Transport-Security" not in headers  # not over plain HTTP in development


def test_production_sends_hsts_and_secure_cookies(make_app: Any) -> None:
    app = make_app(REDIS_URL, GATEWAY_ENV="production", SECRET_KEY="s" * 40,
                   PHONE_HASH_KEY="p" * 40, WEBHOOK_TOKEN="t" * 30)
    create(app, "reviewer@goma.example", "reviewer")
    client = app.test_client()
    response = client.get("/staff/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    logged = log_in(client, "reviewer@goma.example")
    assert "Secure" in logged.headers["Set-Cookie"]


def test_french_first_english_on_request(app: Any) -> None:
    client = app.test_client()
    assert "Se connecter" in client.get("/staff/login").get_data(as_text=True)
    token = csrf(client)
    client.post("/staff/language", data={"language": "en", "next": "/staff/login",
                                         "csrf_token": token})
    assert "Log in" in client.get("/staff/login").get_data(as_text=True)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:x"])
def test_login_never_redirects_off_site(app: Any, target: str) -> None:
    create(app, "reviewer@goma.example", "reviewer")
    response = log_in(app.test_client(), "reviewer@goma.example", next=target)
    assert response.headers["Location"] == "/staff/"


def test_nobody_can_lock_a_reviewer_out_from_another_address(app: Any) -> None:
    create(app, "reviewer@goma.example", "reviewer")
    attacker = app.test_client()
    for _ in range(6):
        token = csrf(attacker)
        attacker.post("/staff/login", data={"email": "reviewer@goma.example",
                                            "password": "guess guess guess", "csrf_token": token},
                      environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert log_in(app.test_client(), "reviewer@goma.example").status_code == 302


def test_password_change_guesses_are_throttled_and_audited(app: Any) -> None:
    create(app, "reviewer@goma.example", "reviewer")
    client = app.test_client()
    log_in(client, "reviewer@goma.example")
    token = csrf(client, "/staff/password")
    codes = [client.post("/staff/password", data={
        "csrf_token": token, "current": f"guess number {i}", "new": "a new long secret",
        "confirm": "a new long secret"}).status_code for i in range(6)]
    assert codes == [400] * 6
    right = client.post("/staff/password", data={
        "csrf_token": token, "current": PASSWORD, "new": "a new long secret",
        "confirm": "a new long secret"})
    assert right.status_code == 400 and "Trop de tentatives" in right.get_data(as_text=True)
    assert actions(app).count("password.change_failed") == 5


def test_an_admin_is_never_limited_to_a_province(app: Any) -> None:
    result = create(app, "admin@bunia.example", "admin", province="CD54")
    assert result.exit_code == 1 and "every province" in result.output
