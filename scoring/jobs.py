"""RQ jobs: refresh a score cell, sweep dirty cells.

Rules (DESIGN §7):
- arguments are JSON-able primitives; job ids are `[A-Za-z0-9_-]+` and deterministic, so the same
  cell is never queued twice at once (`unique`);
- every job recomputes from the database and upserts: safe to run twice, or concurrently;
- the database connection is built in the process that runs the job (the RQ work horse), from the
  environment; the in-process runner of the embedded mode passes its own `database` instead.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from gateway.models import DirtyCell
from scoring.cells import refresh
from scoring.keys import REFRESH_CELL, Cell

if TYPE_CHECKING:
    from gateway.db import Database
    from gateway.queueing import JobQueue
    from gateway.settings import Settings

log = logging.getLogger(__name__)

MAX_ROUNDS = 5
SWEEP_BATCH = 5000


@lru_cache(maxsize=1)
def _database_from_env(pid: int) -> Database:
    from gateway.db import Database
    from gateway.settings import Settings

    return Database(Settings.from_env().database_url)


def default_database() -> Database:
    import os

    return _database_from_env(os.getpid())


def refresh_cell(
    period: str, unit_id: int, indicator: str, *, database: Database | None = None
) -> dict[str, Any]:
    """Recompute one cell until it is clean (bounded), and return what was written."""
    db = database or default_database()
    cell = Cell(period, int(unit_id), indicator)
    clean = False
    rounds = 0
    while not clean and rounds < MAX_ROUNDS:
        rounds += 1
        with db.transaction() as session:
            counts, clean = refresh(session, cell)
    if not clean:
        log.info("cell %s still dirty after %d rounds; the sweeper will return to it", cell, rounds)
    return {"respondents": counts.respondents, "dont_know": counts.dont_know, "clean": clean}


def sweep_dirty_cells(*, database: Database | None = None, queue: JobQueue | None = None,
                      settings: Settings | None = None) -> int:
    """Enqueue a refresh for every dirty cell; return how many were enqueued. Also: the safety
    nets of the other row-backed work (quarters to review, pushes and SMS due) and the purge of
    phone numbers past their retention."""
    db = database or default_database()
    if queue is None:
        from gateway.queueing import RedisJobQueue

        queue = RedisJobQueue.for_current_job()
    with db.session() as session:
        cells = session.execute(
            select(DirtyCell.period, DirtyCell.unit_id, DirtyCell.indicator)
            .order_by(DirtyCell.marked_at)
            .limit(SWEEP_BATCH)
        ).all()
    sent = 0
    for period, unit_id, indicator in cells:
        if queue.enqueue(
            REFRESH_CELL, period, unit_id, indicator, job_id=Cell(period, unit_id, indicator).job_id
        ):
            sent += 1
    if cells:
        log.info("sweep: %d dirty cells, %d enqueued", len(cells), sent)
    review_ended_quarters(database=db)  # safety net for a scheduled move lost with Redis
    from datetime import UTC, datetime

    from gateway import outbox, push, vault
    from gateway.settings import Settings

    now = datetime.now(UTC)
    push.enqueue_due(db, queue, now)  # pushes due for an attempt, whatever Redis lost
    config = settings or Settings.from_env()
    outbox.enqueue_due(db, queue, now, config)  # SMS due for an attempt
    with db.transaction() as session:
        purged = vault.purge_expired(session, now)
    if purged:
        log.info("vault: %d numbers past their retention purged", purged)
    return sent


def review_ended_quarters(*, database: Database | None = None) -> list[str]:
    """Move every open quarter that has ended to review (scheduled for each quarter's end)."""
    from datetime import UTC, datetime

    from gateway.method import load_integrity_rules
    from gateway.quarters import review_ended_quarters as move
    from gateway.settings import Settings
    from scoring.integrity import scan

    db = database or default_database()
    with db.transaction() as session:
        moved = move(session, datetime.now(UTC))
    if moved:
        settings = Settings.from_env()
        rules = load_integrity_rules(settings.config_dir, settings.max_sessions_per_day)
        for code in moved:  # staff review starts with the flags in front of them
            with db.transaction() as session:
                scan(session, code, rules, datetime.now(UTC))
        log.info("quarters moved to review: %s", ", ".join(moved))
    return moved
