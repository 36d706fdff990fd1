"""RQ jobs: refresh a period's dirty score cells, sweep dirty cells.

Rules (DESIGN §7):
- arguments are JSON-able primitives; job ids are `[A-Za-z0-9_-]+` and deterministic, so the same
  period is never queued twice at once (`unique`);
- the webhooks queue one batch refresh per period (`refresh_period`), not one job per cell: a busy
  campaign day touches hundreds of cells a second, and one batch costs about what one cell did,
  so scores stay seconds behind the answers instead of falling behind; the job loops, a batch per
  REFRESH_PAUSE, while answers keep dirtying cells (bounded by REFRESH_BUDGET seconds), because a
  webhook that finds it running relies on it to see its cells; `refresh_cell` remains for jobs
  already queued;
- every job recomputes from the database and upserts: safe to run twice, or concurrently;
- the database connection is built in the process that runs the job (the RQ work horse), from the
  environment; the in-process runner of the embedded mode passes its own `database` instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError
from sqlalchemy import func, select

from gateway.models import DirtyCell
from scoring.cells import BATCH, refresh, refresh_dirty
from scoring.keys import REFRESH_PERIOD, Cell, refresh_job_id

if TYPE_CHECKING:
    from gateway.db import Database
    from gateway.queueing import JobQueue
    from gateway.settings import Settings

log = logging.getLogger(__name__)

MAX_ROUNDS = 5
REFRESH_BUDGET = 60.0  # seconds a batch refresh keeps looping under load before handing over
REFRESH_PAUSE = 0.5  # seconds between batches: the freshness goal is 2 s at p99


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


def refresh_period(period: str, *, database: Database | None = None,
                   budget: float = REFRESH_BUDGET, pause: float = REFRESH_PAUSE,
                   others_waiting: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Refresh the period's dirty cells in batches, one batch per `pause` seconds at most, until a
    batch and a look `pause` seconds later find nothing more (or `budget` seconds have gone: the
    sweeper, or the next answer's enqueue, takes over). The pause is what makes a busy day cheap:
    while the job waits, the webhooks find it running and queue nothing, and the next batch takes
    every cell touched meanwhile in one pass. Instead of pausing, the job returns when other jobs
    wait for the worker (`others_waiting`; under RQ: outbound SMS), so a busy day never holds the
    replies back: the next answer queues the refresh again."""
    db = database or default_database()
    waiting = others_waiting or _others_waiting_in_rq
    started = time.monotonic()
    refreshed, batches, idle = 0, 0, False
    while time.monotonic() - started < budget:
        with db.transaction() as session:
            done, clean = refresh_dirty(session, period)
        refreshed += done
        batches += 1
        if done == 0 and (idle or batches == 1):
            break  # nothing (more) to do: the next answer's enqueue starts a new run
        if pause <= 0 and done < BATCH:
            break  # no pause asked (in-process runner): an answer from now on queues a new run
        idle = clean
        if clean or done < BATCH:
            if waiting():
                break  # the dirty cells left keep their marks: the next enqueue or the sweeper
            time.sleep(pause)
    else:
        log.info("%s: cells still being touched after %.0f s (%d batches); the next answer's "
                 "refresh or the sweeper takes over", period, budget, batches)
    return {"cells": refreshed, "batches": batches}


def _others_waiting_in_rq() -> bool:
    """Whether the RQ worker running this job has other queues' jobs waiting (False outside RQ,
    and when Redis cannot tell: then the job simply pauses)."""
    from rq import Queue, get_current_job

    from gateway.queueing import QUEUE_NAME, QUEUES

    job = get_current_job()
    if job is None:
        return False
    try:
        return any(Queue(name, connection=job.connection).count for name in QUEUES
                   if name != QUEUE_NAME)
    except (RedisError, OSError):
        return False


def sweep_dirty_cells(*, database: Database | None = None, queue: JobQueue | None = None,
                      settings: Settings | None = None) -> int:
    """Enqueue a batch refresh for every period with dirty cells; return how many were enqueued.
    Also: the safety nets of the other row-backed work (quarters to review, pushes and SMS due)
    and the purge of phone numbers past their retention."""
    db = database or default_database()
    if queue is None:
        from gateway.queueing import RedisJobQueue

        queue = RedisJobQueue.for_current_job()
    with db.session() as session:
        periods = session.execute(
            select(DirtyCell.period, func.count()).group_by(DirtyCell.period)
            .order_by(DirtyCell.period)
        ).all()
    sent = 0
    for period, cells in periods:
        queued = queue.enqueue(REFRESH_PERIOD, period, job_id=refresh_job_id(period))
        sent += queued
        log.info("sweep: %s has %d dirty cells; refresh %s", period, cells,
                 "enqueued" if queued else "not enqueued")
    review_ended_quarters(database=db)  # safety net for a scheduled move lost with Redis
    from datetime import UTC, datetime

    from gateway import outbox, push, retention, vault
    from gateway.settings import Settings

    now = datetime.now(UTC)
    push.enqueue_due(db, queue, now)  # pushes due for an attempt, whatever Redis lost
    config = settings or Settings.from_env()
    outbox.enqueue_due(db, queue, now, config)  # SMS due for an attempt
    with db.transaction() as session:
        purged = vault.purge_expired(session, now)
    if purged:
        log.info("vault: %d numbers past their retention purged", purged)
    with db.transaction() as session:
        events, texts = retention.purge_raw_events(session, now, config.raw_retention_days)
    if events or texts:
        log.info("raw traffic past %d days: %d USSD notifications deleted, %d SMS texts cleared",
                 config.raw_retention_days, events, texts)
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
