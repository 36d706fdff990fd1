"""Staff pages: login, logout, password, the overview and the audit log (`/staff/...`).

Rules:
- every page but the login page needs a live session (`accounts.staff_for`); a logged-out
  visitor is sent to the login page, an account without the role gets a 403;
- every form carries a CSRF token (Flask-WTF's `CSRFProtect`, on for the whole app except the
  Africa's Talking webhooks and the bearer-token API);
- every staff page is sent with a strict Content-Security-Policy (no inline script, no framing),
  `Cache-Control: no-store`, and HSTS in production; pages work without JavaScript;
- every staff action (login, failed login, logout, password change, ...) is in the audit log;
- French first, English on request (a cookie set by a form); times are shown in Africa/Lubumbashi.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from gateway.accounts import (
    MIN_PASSWORD,
    AccountError,
    Staff,
    audit,
    authenticate,
    change_password,
    close_session,
    open_session,
    record_failure,
    staff_for,
    throttled,
)
from gateway.dashboard import overview
from gateway.models import AuditEvent
from gateway.state import current_gateway
from scoring.periods import quarter_of

bp = Blueprint("staff", __name__, url_prefix="/staff")
COOKIE = "gw_staff"
LANG_COOKIE = "gw_lang"
LANGUAGES = ("fr", "en")
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
View = TypeVar("View", bound=Callable[..., Any])


def current_staff() -> Staff | None:
    staff: Staff | None = g.get("staff")
    return staff


@bp.before_request
def load_staff() -> None:
    g.staff = None
    token = request.cookies.get(COOKIE)
    if not token:
        return
    gw = current_gateway()
    with gw.db.transaction() as session:
        g.staff = staff_for(session, token, datetime.now(UTC))


@bp.after_request
def staff_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    if current_gateway().settings.is_production:
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return response


def login_required(*roles: str) -> Callable[[View], View]:
    """The view needs a logged-in staff member, with one of `roles` when given."""

    def wrap(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            staff = current_staff()
            if staff is None:
                return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
            if roles and staff.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return cast(View, guarded)

    return wrap


def _safe_next(target: str | None) -> str:
    """Only a path of this site (no scheme, no host): an open redirect helps phishing."""
    if not target:
        return url_for("staff.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("staff.home")
    return target


def _address() -> str:
    return request.remote_addr or "-"


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | str:
    gw = current_gateway()
    error = None
    status = 200
    email = request.form.get("email", "")[:254]
    if request.method == "POST":
        now = datetime.now(UTC)
        with gw.db.transaction() as session:
            if throttled(session, gw.settings.secret_key, email.strip().lower(), _address(), now):
                error, status = _("Too many attempts. Wait a few minutes and try again."), 429
                audit(session, None, "login.throttled", email.strip().lower(), now)
            else:
                user = authenticate(session, gw.settings.secret_key, email,
                                    request.form.get("password", ""), address=_address(),
                                    now=now)
                if user is None:
                    error, status = _("Wrong e-mail address or password."), 401
                    audit(session, None, "login.failed", email.strip().lower(), now)
                else:
                    token = open_session(session, user, now)
                    staff = Staff(user.id, user.email, user.role, user.province_code, 0)
                    audit(session, staff, "login", user.email, now)
        if error is None:
            response = redirect(_safe_next(request.args.get("next")))
            response.set_cookie(COOKIE, token, httponly=True, samesite="Lax",
                                secure=gw.settings.is_production, path="/staff")
            return response
    return make_response(render_template("staff/login.html", error=error, email=email), status)


@bp.post("/logout")
@login_required()
def logout() -> BaseResponse:
    gw = current_gateway()
    staff = current_staff()
    assert staff is not None
    now = datetime.now(UTC)
    with gw.db.transaction() as session:
        close_session(session, staff.session_id, now)
        audit(session, staff, "logout", staff.email, now)
    response = redirect(url_for("staff.login"))
    response.delete_cookie(COOKIE, path="/staff")
    return response


@bp.route("/password", methods=["GET", "POST"])
@login_required()
def password() -> BaseResponse | str:
    gw = current_gateway()
    staff = current_staff()
    assert staff is not None
    error = None
    if request.method == "POST":
        now = datetime.now(UTC)
        new = request.form.get("new", "")
        if new != request.form.get("confirm", ""):
            error = _("The two new passwords differ.")
        elif len(new) < MIN_PASSWORD:
            error = _("A password has at least %(n)d characters.", n=MIN_PASSWORD)
        else:
            with gw.db.transaction() as session:
                if throttled(session, gw.settings.secret_key, staff.email, _address(), now):
                    error = _("Too many attempts. Wait a few minutes and try again.")
            if error is None:
                try:
                    with gw.db.transaction() as session:
                        change_password(session, staff.id, request.form.get("current", ""), new,
                                        now)
                        audit(session, staff, "password.change", staff.email, now)
                except AccountError:
                    error = _("The current password is wrong.")
                    with gw.db.transaction() as session:  # guesses count as failed logins
                        record_failure(session, gw.settings.secret_key, staff.email,
                                       _address(), now)
                        audit(session, staff, "password.change_failed", staff.email, now)
        if error is None:  # every session ended, this one too: log in again
            response = redirect(url_for("staff.login"))
            response.delete_cookie(COOKIE, path="/staff")
            return response
    return make_response(render_template("staff/password.html", error=error),
                         400 if error else 200)


@bp.post("/language")
def language() -> BaseResponse:
    chosen = request.form.get("language", "fr")
    response = redirect(_safe_next(request.form.get("next")))
    if chosen in LANGUAGES:
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, samesite="Lax",
                            path="/staff", httponly=True)
    return response


@bp.get("/")
@login_required()
def home() -> str:
    gw = current_gateway()
    staff = current_staff()
    assert staff is not None
    period = request.args.get("period") or quarter_of(datetime.now(UTC))
    try:
        with gw.db.session() as session:
            data = overview(session, period, staff.province_code)
    except ValueError:
        abort(400)
    statuses = {"open": _("open"), "in_review": _("in review"), "locked": _("locked")}
    return render_template("staff/overview.html", data=data,
                           status=statuses.get(data.status, data.status))


@bp.get("/audit")
@login_required("admin")
def audit_log() -> str:
    gw = current_gateway()
    with gw.db.session() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())
                                 .limit(500)).all()
        rows = [(e.at, e.actor, e.action, e.subject) for e in events]
    return render_template("staff/audit.html", rows=rows)
