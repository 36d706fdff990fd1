"""The demo dataset: a first look at every staff page, in one command, never in production.

Rules:
- loaded only into an embedded SQLite database, only when it holds no answer and no staff
  account yet, and never with GATEWAY_ENV=production: a real database never gets it;
- generated from a seed: synthetic answers over the three quarters before the current one and
  the current one (`gateway.synth`), and USSD sessions and SMS played through the gateway's own
  webhooks with synthetic numbers (+243 99 000 …, a range no operator hands out here), so
  the funnel, the inbox and the overview have real rows;
- it is labelled: an audit entry `demo.load` (every staff page then shows a DEMO banner); its demo
  staff accounts get a random password, printed, and kept beside the database file
  (`demo-logins.txt`, owner-only) so that the next `make run` prints it again;
- the SMS replies its callers would get are marked suppressed: a demo never texts anyone.
"""

from __future__ import annotations

import logging
import random
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from gateway.accounts import audit, create_user
from gateway.models import Answer, AuditEvent, OutboundSms, SmsInbound, StaffUser, UssdSession
from gateway.quarters import lock, move_to_review
from gateway.state import GatewayState
from gateway.synth import generate
from scoring.aggregate import recompute_period
from scoring.periods import quarter_bounds, quarter_of

DEMO_USERS = (("demo-admin@example.org", "admin"), ("demo-reviewer@example.org", "reviewer"),
              ("demo-analyst@example.org", "analyst"))
FEEDBACK = (
    "AVIS La police de notre quartier patrouille plus souvent la nuit, merci.",
    "PLAINTE On m'a demande 5000 FC au poste pour enregistrer ma plainte.",
    "MAONI Mahakama inachelewa sana kusikiliza kesi zetu.",
    "MALALAMIKO Polisi walichukua simu yangu bila sababu.",
    "LIKANISI Bato ya leta basalisi biso malamu.",
    "AVIS Le chef de secteur a organise une reunion avec la population.",
)


class DemoRefused(RuntimeError):
    """Not a database the demo may touch (the message says why)."""


def is_demo(db_session: Any) -> bool:
    return db_session.scalar(select(AuditEvent.id).where(AuditEvent.action == "demo.load")
                             .limit(1)) is not None


def previous(period: str, back: int) -> str:
    year, quarter = int(period[:4]), int(period[5])
    index = year * 4 + quarter - 1 - back
    return f"{index // 4}Q{index % 4 + 1}"


def load(gw: GatewayState, app: Any, seed: int = 2026, answers: int = 12_000) -> list[str]:
    """Load the demo; the lines to print. Raises DemoRefused where it may not."""
    settings = gw.settings
    if settings.is_production:
        raise DemoRefused("never in production")
    if not settings.is_sqlite:
        raise DemoRefused("only into the embedded SQLite database")
    with gw.db.session() as session:
        for table in (Answer, UssdSession, SmsInbound):
            if session.scalar(select(func.count()).select_from(table)):
                raise DemoRefused("the database already has data")
        if session.scalar(select(StaffUser.id).limit(1)) is not None:
            raise DemoRefused("the database already has staff accounts")
    now = datetime.now(UTC)
    current = quarter_of(now)
    past = [previous(current, back) for back in (3, 2, 1)]
    for i, period in enumerate(past):
        generate(gw.db, period, answers, seed + i)
        with gw.db.transaction() as session:
            recompute_period(session, period, quarter_bounds(period)[1])
    with gw.db.transaction() as session:  # the oldest is locked, the last one awaits review
        move_to_review(session, past[0], now)
        lock(session, past[0], gw.method, now)
        move_to_review(session, past[2], now)
    _play(app, gw, seed)
    password = secrets.token_urlsafe(12)
    with gw.db.transaction() as session:
        recompute_period(session, current, now)
        session.execute(update(OutboundSms).values(status="suppressed", failure_reason="demo",
                                                   next_attempt_at=None))
        for email, role in DEMO_USERS:
            create_user(session, email, password, role=role, province_code=None, now=now)
        audit(session, None, "demo.load", f"seed {seed}", now, quarters=[*past, current])
    logins = logins_file(settings.database_url)
    logins.write_text("".join(f"{email} {password} {role}\n" for email, role in DEMO_USERS))
    logins.chmod(0o600)
    return [f"  demo dataset      : loaded (seed {seed}): {', '.join(past)} and {current}",
            *login_lines(settings.database_url)]


def _play(app: Any, gw: GatewayState, seed: int) -> None:
    """Callers of the current quarter, through the real webhooks: completed, dropped, by SMS
    (without an access-log line per hop: `make run` prints the demo logins right after)."""
    access = logging.getLogger("gateway.access")
    level = access.level
    access.setLevel(logging.WARNING)
    try:
        _calls(app, gw, seed)
    finally:
        access.setLevel(level)


def _calls(app: Any, gw: GatewayState, seed: int) -> None:
    token = gw.settings.webhook_token
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not a secret
    client = app.test_client()
    for n in range(60):
        phone = f"+2439900{n:05d}"
        language = rng.choice(["1", "2", "3"])
        path = [language, "1", "1", "1", "1", "1", *rng.choice(
            [["2", "3", "3", "3", "2"], ["1", "2", "2", "2", "1", "2"], ["2", "4", "4", "3", "2"]])]
        stop = len(path) + 1 if rng.random() < 0.7 else rng.randint(3, len(path))
        session_id = f"DEMO-{seed}-{n}"
        for hop in range(stop):
            client.post(f"/at/{token}/ussd", data={
                "sessionId": session_id, "serviceCode": "*384*2026#", "phoneNumber": phone,
                "networkCode": "63001", "text": "*".join(path[:hop])})
    for n, text in enumerate(FEEDBACK):
        phone = f"+2439901{n:05d}"
        client.post(f"/at/{token}/sms", data={"from": phone, "to": "2026", "id": f"DEMO-{n}",
                                              "text": "POLICE GOMA 3 2"})
        client.post(f"/at/{token}/sms", data={"from": phone, "to": "2026",
                                              "id": f"DEMO-F{n}", "text": text})
    gw.queue.drain()


def logins_file(database_url: str) -> Path:
    return Path(database_url.removeprefix("sqlite:///")).parent / "demo-logins.txt"


def login_lines(database_url: str) -> list[str]:
    try:
        lines = logins_file(database_url).read_text().splitlines()
    except OSError:
        return ["  demo login        : (demo-logins.txt is gone: `user create` makes accounts)"]
    return [f"  demo login        : {email} / {password} ({role})"
            for email, password, role in (line.split() for line in lines if line.strip())]
