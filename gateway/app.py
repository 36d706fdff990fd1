"""The application factory.

`create_app()` reads settings once, validates the flow against its catalog and the gazetteer in
`config/` (refusing to start on a broken flow), and wires blueprints, CLI commands and the queue.
It does not touch the database: each process connects lazily (fork-safe).

Every request gets an id (`X-Request-Id`, see `gateway.logs`) and one access-log line, a JSON
object with the method, the path (the webhook token masked as `***`), the route, the status and
the duration; never a query string.
"""

from __future__ import annotations

import json
import logging
import re
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from flask_babel import Babel, format_datetime, format_percent, get_locale
from flask_wtf.csrf import CSRFProtect
from werkzeug.datastructures import MultiDict

from flows.check import problems as flow_problems
from flows.model import FlowError
from gateway import (
    api,
    health,
    logs,
    sms,
    staff,
    staff_exports,
    staff_inbox,
    staff_scores,
    ussd,
)
from gateway.cli import register_commands
from gateway.configdata import ConfigError, directory_from_files, load_catalog, load_flow
from gateway.settings import Settings, announce_defaults
from gateway.smsconfig import load_sms
from gateway.state import GatewayState

GATEWAY_MESSAGES = {"unavailable", "bad_request", "limit_reached"}
access_log = logging.getLogger("gateway.access")
_WEBHOOK_PATH = re.compile(r"^/at/[^/]*")  # the token is the webhooks' only secret
MAX_LOGGED_PATH = 200


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    if settings is None:
        settings = Settings.from_env(**overrides)
    announce_defaults(settings)
    _configure_logging(settings.log_format)
    flow = load_flow(settings.config_dir)
    catalog = load_catalog(settings.config_dir)
    found = _checked(
        settings.config_dir, _fingerprint(settings.config_dir), settings.ussd_screen_limit
    )
    if found:
        raise FlowError(list(found))

    app = Flask(__name__, instance_relative_config=False)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=64 * 1024,
        MAX_FORM_MEMORY_SIZE=64 * 1024,
        JSON_SORT_KEYS=False,
        # Flask's own signed cookie holds only the CSRF token of the staff forms.
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        WTF_CSRF_TIME_LIMIT=None,  # tied to the session cookie; a long form is not refused
        BABEL_DEFAULT_LOCALE="fr",
        BABEL_DEFAULT_TIMEZONE="Africa/Lubumbashi",
    )
    app.extensions["gateway"] = GatewayState.build(settings, flow, catalog)
    app.register_blueprint(ussd.bp)
    app.register_blueprint(sms.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(staff_scores.bp)
    app.register_blueprint(staff_inbox.bp)
    app.register_blueprint(staff_exports.bp)
    _staff_pages(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    register_commands(app)

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()
        g.request_id = logs.request_id_from(request.headers.get(logs.REQUEST_ID_HEADER))

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        request_id = g.get("request_id") or logs.request_id_from(None)
        response.headers[logs.REQUEST_ID_HEADER] = request_id
        # The path without its query string, the webhook token masked; the route pattern too.
        rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        path = _WEBHOOK_PATH.sub("/at/***", request.path)[:MAX_LOGGED_PATH]
        elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        access_log.info(
            "%s %s %s %.1fms", request.method, path, response.status_code, elapsed,
            extra={"method": request.method, "path": path, "route": rule,
                   "status": response.status_code, "duration_ms": round(elapsed, 1)})
        return response

    def log_exception(exc_info: Any) -> None:
        # Flask's own message names the URL, which holds the webhook token: name the route.
        rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        app.logger.error("Exception on %s %s", request.method, rule, exc_info=exc_info)

    app.log_exception = log_exception  # type: ignore[method-assign]

    @app.errorhandler(500)
    def _internal(_error: Exception) -> tuple[dict[str, str], int]:
        return {"error": "internal error"}, 500

    app.before_request(_refuse_nul)
    return app


_KEEPS_WHAT_IT_CAN = ("ussd", "sms")  # AT's webhooks drop NUL from what they store themselves


def _refuse_nul() -> Response | None:
    """A NUL character in a query or form field is refused with a 400 naming the field, before
    any view runs: PostgreSQL text cannot hold it, and a query or row with it fails (a 500)."""
    if request.blueprint in _KEEPS_WHAT_IT_CAN:
        return None
    sources: list[Any] = [request.args, MultiDict(
        {k: str(v) for k, v in (request.view_args or {}).items()})]  # path parts, too
    if request.method == "POST" and request.mimetype in (
            "application/x-www-form-urlencoded", "multipart/form-data"):
        sources.append(request.form)
    for source in sources:
        for name, value in source.items(multi=True):
            if "\x00" in name or "\x00" in value:
                field = name.replace("\x00", "")[:40] or "?"
                if request.blueprint == "api":
                    return Response(json.dumps({"error": "a NUL character is not allowed",
                                                "field": field}),
                                    status=400, mimetype="application/json")
                return Response(f"{field}: a NUL character is not allowed", status=400,
                                mimetype="text/plain")
    return None


def _staff_pages(app: Flask) -> None:
    """CSRF on every form (the webhooks and the bearer-token API have none: AT and the RBF engine
    do not browse), and French-first translations in Africa/Lubumbashi time."""
    csrf = CSRFProtect(app)
    for blueprint in (ussd.bp, sms.bp, api.bp, health.bp):
        csrf.exempt(blueprint)

    def locale() -> str:
        chosen = request.cookies.get(staff.LANG_COOKIE, "fr")
        return chosen if chosen in staff.LANGUAGES else "fr"

    Babel(app, locale_selector=locale, timezone_selector=lambda: "Africa/Lubumbashi",
          default_translation_directories=str(Path(__file__).parent / "translations"))
    app.jinja_env.globals.update(
        current_locale=lambda: str(get_locale() or "fr"),
        format_percent=format_percent, format_datetime=format_datetime)
    demo_seen: list[bool] = []

    @app.context_processor
    def _demo_banner() -> dict[str, bool]:
        """Staff pages say DEMO when the demo dataset is in this database (it stays there)."""
        if not demo_seen and request.path.startswith("/staff"):
            from gateway.demo import is_demo

            with app.extensions["gateway"].db.session() as session:
                if is_demo(session):
                    demo_seen.append(True)
        return {"demo": bool(demo_seen)}


def _fingerprint(config_dir: Path) -> tuple[tuple[str, int, int], ...]:
    files = sorted(p for p in config_dir.rglob("*") if p.is_file())
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)


@lru_cache(maxsize=8)
def _checked(
    config_dir: Path, _fingerprint: tuple[tuple[str, int, int], ...], limit: int
) -> tuple[str, ...]:
    """Walk every screen once per process and config version (tests build many apps)."""
    flow = load_flow(config_dir)
    catalog = load_catalog(config_dir)
    found = flow_problems(flow, catalog, directory_from_files(config_dir), limit, GATEWAY_MESSAGES)
    try:
        load_sms(config_dir, flow)
    except ConfigError as exc:
        found = [*found, *exc.problems]
    return tuple(found)


def _configure_logging(log_format: str) -> None:
    """JSON lines with request ids, numbers masked (`gateway.logs`), unless the host (gunicorn's
    config, pytest) configured the root logger already. The RQ worker runs inside this app, so it
    logs the same way."""
    logs.configure(log_format)
