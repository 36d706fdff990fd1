"""The baselines the webhooks are measured against, served by the Procfile's own gunicorn line.

`create_app()` answers the same URLs as the gateway (`/at/<token>/ussd`, `/at/<token>/sms`,
`/healthz`) and parses the same form with the same rules (session id pattern, E.164 phone
parsing with `phonenumbers`, the HMAC pseudonym, the `text` split), then:
- `BASELINE=bare`: returns a fixed `CON` screen (USSD) or `OK` (SMS): the cost of Flask,
  gunicorn and parsing;
- `BASELINE=insert`: first writes one row per request (one INSERT, its own transaction) in the
  same database the gateway uses, through the same SQLAlchemy engine settings: the cost of one
  durable write, the least any webhook that stores an answer must pay.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

from flask import Flask, Response, abort, request
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, insert

from gateway.db import Database
from gateway.phones import InvalidPhone, normalise, pseudonym
from gateway.settings import Settings

_SESSION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
metadata = MetaData()
hits = Table(
    "bench_baseline_hits", metadata,
    Column("id", Integer, primary_key=True),
    Column("session_id", String(128), nullable=False),
    Column("phone_hash", String(64), nullable=False),
    Column("text", String(1000), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)


def create_table(database_url: str) -> None:
    """Before the servers start (two workers creating it at once would race)."""
    db = Database(database_url)
    metadata.create_all(db.engine)
    db.dispose()


def create_app() -> Flask:
    settings = Settings.from_env()
    mode = os.environ.get("BASELINE", "bare")
    db = Database(settings.database_url) if mode == "insert" else None  # table: see create_table
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024

    def store(session_id: str, phone_hash: str, text: str) -> None:
        if db is None:
            return
        with db.transaction() as session:
            session.execute(insert(hits).values(
                session_id=session_id, phone_hash=phone_hash, text=text,
                received_at=datetime.now(UTC)))

    def caller(field: str) -> str:
        try:
            return pseudonym(normalise(request.form.get(field, "")), settings.phone_hash_key)
        except InvalidPhone:
            abort(400)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", mimetype="text/plain")

    @app.post("/at/<token>/ussd")
    def ussd(token: str) -> Response:
        if token != settings.webhook_token:
            abort(404)
        session_id = request.form.get("sessionId", "").strip()
        if not _SESSION_ID.match(session_id):
            abort(400)
        phone_hash = caller("phoneNumber")
        text = request.form.get("text", "")
        path = text.split("*") if text else []
        store(session_id, phone_hash, "*".join(path))
        return Response("CON Langue / Lugha / Lokota:\n1. Francais\n2. Kiswahili\n3. Lingala",
                        mimetype="text/plain")

    @app.post("/at/<token>/sms")
    def sms(token: str) -> Response:
        if token != settings.webhook_token:
            abort(404)
        message_id = request.form.get("id", "").strip()
        if not _SESSION_ID.match(message_id):
            abort(400)
        phone_hash = caller("from")
        store(message_id, phone_hash, request.form.get("text", "")[:1000])
        return Response("OK", mimetype="text/plain")

    return app
