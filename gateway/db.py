"""Database engine and sessions.

Rules:
- The engine is created lazily in the process that uses it and re-created after a fork (gunicorn
  workers, RQ work horses), so no connection is ever shared between processes.
- SQLite (embedded mode) runs in WAL mode and opens every transaction with `BEGIN IMMEDIATE`, so
  concurrent writers queue on the lock instead of failing half-way; foreign keys are enforced.
- The caller owns the session and the transaction (`with db.transaction() as s:`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self._echo = echo
        self._pid: int | None = None
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None or self._pid != os.getpid():
            if self._engine is not None:
                # Inherited through fork: drop the parent's pooled connections without closing them.
                self._engine.dispose(close=False)
            self._engine = make_engine(self.url, echo=self._echo)
            self._sessions = sessionmaker(self._engine, expire_on_commit=False)
            self._pid = os.getpid()
        return self._engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        _ = self.engine
        assert self._sessions is not None
        return self._sessions()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on any error."""
        with self.session() as session, session.begin():
            yield session

    def dispose(self) -> None:
        if self._engine is not None and self._pid == os.getpid():
            self._engine.dispose()
        self._engine = None


def make_engine(url: str, *, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        # hide_parameters: an error's message never carries a pseudonym or a session id to logs.
        engine = create_engine(url, echo=echo, hide_parameters=True, connect_args={"timeout": 5})
        _configure_sqlite(engine)
        return engine
    parsed = make_url(url)
    # A USSD hop has 15 s in all: fail fast rather than wait on a dead server. Options already in
    # the URL (e.g. a search_path) are kept.
    options = " ".join(
        filter(None, [str(parsed.query.get("options", "")), "-c statement_timeout=10000"])
    )
    return create_engine(
        parsed.difference_update_query(["options"]),
        echo=echo,
        hide_parameters=True,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        pool_timeout=2,
        connect_args={"connect_timeout": 3, "options": options},
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event emit BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # The wait first: switching a new file to WAL needs a moment alone with it, and another
        # process (the embedded sweeper, a CLI command) may be writing.
        cursor.execute("PRAGMA busy_timeout=5000")  # inside the 15 s USSD budget
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def insert_for(session: Session, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ON CONFLICT on both PostgreSQL and SQLite."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def within_hop_budget(session: Session) -> None:
    """Cap this transaction's statements and lock waits on PostgreSQL, so a USSD hop answers
    within Africa's Talking's 15 s whatever holds the database (SQLite waits at most 5 s)."""
    if session.get_bind().dialect.name == "postgresql":  # SET LOCAL twice, in one round trip
        session.execute(text("SELECT set_config('statement_timeout', '3s', true), "
                             "set_config('lock_timeout', '2s', true)"))
