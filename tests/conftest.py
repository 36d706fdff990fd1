"""Fixtures: databases (SQLite always; PostgreSQL when it answers), Redis, RQ workers, apps.

Services: TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test) and TEST_REDIS_URL
(default redis://127.0.0.1:6379/15). Tests that need one are skipped, with the reason, when it does
not answer — except under CI=true, where they fail. PostgreSQL tests run in a database of their own,
created for the session and dropped after it, so the server's `test` database is left alone.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import settings
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import delete, text

from gateway import create_app
from gateway.configdata import load_into_database
from gateway.db import Database
from gateway.migrate import upgrade
from gateway.models import (
    Answer,
    ApiToken,
    AuditEvent,
    Cell,
    Delivery,
    DeliveryAttempt,
    DirtyCell,
    Feedback,
    IntegrityFlag,
    LoginFailure,
    OutboundSms,
    Period,
    PhoneVault,
    Respondent,
    SmsInbound,
    SmsPending,
    Snapshot,
    StaffSession,
    StaffUser,
    Submission,
    UssdEvent,
    UssdSession,
)
from gateway.settings import DEFAULT_CONFIG_DIR, Settings
from tests.africastalking import TOKEN
from tests.fake_africastalking import API_KEY as AT_API_KEY
from tests.fake_africastalking import SENDER as AT_SENDER
from tests.fake_africastalking import USERNAME as AT_USERNAME
from tests.fake_africastalking import FakeAfricasTalking

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Under CI, property tests draw the same examples every run: a red CI is then reproducible, and
# new counter-examples are hunted locally, where examples are random.
settings.register_profile("ci", derandomize=True, database=None)
if CI:
    settings.load_profile("ci")
PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PHONE_KEY = "test-phone-hash-key-0123456789abcdef0123"
VAULT_KEY = "dGVzdC12YXVsdC1rZXktMDEyMzQ1Njc4OWFiY2RlZjA="  # base64 of 32 test bytes
ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def unavailable(what: str, why: str) -> None:
    if CI:
        pytest.fail(f"{what} is required under CI and is not available: {why}", pytrace=False)
    pytest.skip(f"{what} not available: {why}")


def _pg_admin_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://").replace(
        "postgres://", "postgresql://"
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    admin = _pg_admin_url(PG_URL)
    try:
        conn = psycopg.connect(admin, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        unavailable("PostgreSQL", f"{admin}: {type(exc).__name__}")
        raise  # unreachable: unavailable() skips or fails
    name = f"gw_test_{uuid.uuid4().hex[:10]}"
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin.rpartition("/")
    url = f"{base}/{name}"
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as drop:
            drop.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'gateway.db'}"


_prepared: set[str] = set()


def prepare(url: str) -> str:
    """Migrate and load config/ once per database per session."""
    if url not in _prepared:
        db = Database(Settings.from_env(environ={"DATABASE_URL": url}).database_url)
        upgrade(db)
        with db.transaction() as session:
            load_into_database(session, DEFAULT_CONFIG_DIR)
        db.dispose()
        _prepared.add(url)
    return url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using it runs on SQLite and on PostgreSQL."""
    name = request.param
    url = request.getfixturevalue("sqlite_url" if name == "sqlite" else "postgres_url")
    return prepare(url)


def env_for(database_url: str, redis_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {
        "GATEWAY_ENV": "test",
        "DATABASE_URL": database_url,
        "WEBHOOK_TOKEN": TOKEN,
        "PHONE_HASH_KEY": PHONE_KEY,
        "SECRET_KEY": "test-secret-key-0123456789abcdef0123456789",
        "VAULT_KEY": VAULT_KEY,
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


def clean(db: Database) -> None:
    """Empty every table; the append-only audit log too (tests only: its triggers are lifted
    for the moment, inside the same transaction)."""
    with db.transaction() as session:
        if db.url.startswith("sqlite"):
            session.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
            session.execute(delete(AuditEvent))
            staff_migration = importlib.import_module(
                "gateway.migrations.versions.0006_staff_accounts")
            session.execute(text(staff_migration.APPEND_ONLY["sqlite"][1]))
        else:
            session.execute(text("TRUNCATE audit_log"))  # row triggers do not fire on TRUNCATE
        for model in (StaffSession, LoginFailure, StaffUser, OutboundSms, Feedback, SmsPending,
                      SmsInbound, PhoneVault, Answer, Submission, DirtyCell, Cell,
                      DeliveryAttempt, Delivery, Snapshot, Period, IntegrityFlag, ApiToken,
                      UssdSession, UssdEvent, Respondent):
            session.execute(delete(model))


@pytest.fixture
def make_app(database_url: str) -> Iterator[Any]:
    """Build apps on the test database (cleaned first); closed after the test."""
    apps = []

    def factory(redis_url: str | None = None, **extra: str) -> Any:
        app = create_app(Settings.from_env(environ=env_for(database_url, redis_url, **extra)))
        apps.append(app)
        return app

    database = Database(Settings.from_env(environ={"DATABASE_URL": database_url}).database_url)
    clean(database)
    database.dispose()
    yield factory
    for app in apps:
        app.extensions["gateway"].close()


@pytest.fixture
def fake_at() -> Iterator[FakeAfricasTalking]:
    """A local Africa's Talking SMS API (tests/fake_africastalking.py)."""
    fake = FakeAfricasTalking().start()
    yield fake
    fake.stop()


def at_env(fake: FakeAfricasTalking) -> dict[str, str]:
    """Settings that point the gateway's SDK at the fake server."""
    return {"AT_USERNAME": AT_USERNAME, "AT_API_KEY": AT_API_KEY, "AT_SENDER": AT_SENDER,
            "AT_API_URL": fake.url, "SMS_RATE_PER_SECOND": "1000"}


@pytest.fixture
def pg_app(postgres_url: str) -> Iterator[Any]:
    """An app on PostgreSQL only, for what only PostgreSQL has (row locks between sessions)."""
    url = prepare(postgres_url)
    database = Database(Settings.from_env(environ={"DATABASE_URL": url}).database_url)
    clean(database)
    database.dispose()
    app = create_app(Settings.from_env(environ=env_for(url)))
    yield app
    app.extensions["gateway"].close()


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def db(app: Any) -> Database:
    database: Database = app.extensions["gateway"].db
    return database


# --- Redis and RQ ---------------------------------------------------------------------------


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The shared Redis (a database number of its own), flushed before and after the test."""
    try:
        conn = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        conn.ping()
    except (RedisError, OSError) as exc:
        unavailable("Redis", f"{REDIS_URL}: {type(exc).__name__}")
        raise
    conn.flushdb()
    yield REDIS_URL
    conn.flushdb()
    conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateRedis:
    """A redis-server of the test's own, on its own port, that the test may stop and restart."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server", "not on PATH")
            return
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
                return
            except (RedisError, OSError):
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def run_worker_burst(env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """A real RQ worker (`flask --app gateway worker --burst`) in its own process."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    full_env.update(env)
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "gateway", "worker", "--burst"],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result
