"""Cell refresh jobs: idempotent, concurrency-safe, batch and cell refreshes write the same rows,
and the sweeper re-enqueues what Redis lost."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import OperationalError

from gateway.answers import mark_dirty
from gateway.db import Database
from gateway.models import Answer, DirtyCell, InstitutionUnit
from gateway.models import Cell as CellRow
from gateway.queueing import InProcessJobQueue
from scoring.aggregate import lock_period, recompute_period
from scoring.cells import clear_mark, dirty_generation, refresh_dirty
from scoring.jobs import refresh_cell, refresh_period, sweep_dirty_cells
from scoring.keys import REFRESH_CELL, REFRESH_PERIOD, Cell, refresh_job_id
from tests.africastalking import GOMA_POLICE_UNIT, first_time_goma_police, play


class RecordingQueue:
    """A JobQueue that records what it was asked to run (the sweeper's only collaborator)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, tuple[Any, ...], str]] = []

    def enqueue(self, func, *args, job_id, retry=None, queue="scores"):
        self.jobs.append((func, args, job_id))
        return True

    def drain(self, timeout=30.0):
        pass

    def close(self):
        pass


def at_once(n: int, work: Callable[[], Any]) -> list[BaseException]:
    """Run `work` on `n` threads at once; return what they raised."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # pragma: no cover - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def seed(app: Any, client: Any, values: list[str]) -> Cell:
    """Callers rating the Goma police; returns the cell of their `trust` answers."""
    for i, value in enumerate(values):
        play(client, f"+2439700002{i:02d}", first_time_goma_police(trust=value))
    app.extensions["gateway"].queue.drain()
    db = app.extensions["gateway"].db
    with db.session() as session:
        answer = session.scalars(select(Answer).where(Answer.indicator == "trust")).first()
        assert answer is not None
        return Cell(answer.period, answer.unit_id, answer.indicator)


def score_row(db: Database, cell: Cell) -> tuple[Any, ...]:
    """The unit cell's (respondents, don't know, counts), and its parents' counts."""
    with db.session() as session:
        row = session.scalars(select(CellRow).where(
            CellRow.unit_id == cell.unit_id, CellRow.indicator == cell.indicator)).one()
        parents = sorted(session.execute(select(CellRow.level, CellRow.counts).where(
            CellRow.indicator == cell.indicator, CellRow.level != "unit")).all())
        return (row.respondents, row.dont_know, row.counts, parents)


def test_refresh_is_idempotent(app, client, db):
    cell = seed(app, client, ["1", "2", "9", "4"])
    first = score_row(db, cell)
    counts = '{"1":1,"2":1,"4":1}'
    assert first == (3, 1, counts, [("collectivity", counts), ("province", counts),
                                    ("territory", counts)])
    with db.session() as session:
        cells = session.scalar(select(func.count()).select_from(CellRow))
    for _ in range(3):
        refresh_cell(cell.period, cell.unit_id, cell.indicator, database=db)
    assert score_row(db, cell) == first
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(CellRow)) == cells


def test_concurrent_refreshes_leave_the_same_row(app, client, db):
    cell = seed(app, client, ["3", "4", "4"])
    expected = score_row(db, cell)
    with db.transaction() as session:
        session.execute(delete(CellRow))
        mark_dirty(session, [cell], datetime.now(UTC))
    assert at_once(4, lambda: refresh_cell(cell.period, cell.unit_id, cell.indicator,
                                           database=db)) == []
    assert score_row(db, cell) == expected
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DirtyCell)) == 0


def test_a_mark_made_during_a_refresh_is_not_cleared(app, client, db):
    cell = seed(app, client, ["2"])
    with db.transaction() as session:
        mark_dirty(session, [cell], datetime.now(UTC))
    with db.session() as session:
        seen = dirty_generation(session, cell)  # what a refresh reads before computing
    assert seen == 1
    with db.transaction() as session:  # an answer arrives while the refresh computes
        mark_dirty(session, [cell], datetime.now(UTC))
    with db.transaction() as session:
        assert clear_mark(session, cell, seen) is False
    with db.session() as session:
        assert session.scalar(select(DirtyCell.generation)) == 2  # still marked for the sweeper
    refresh_cell(cell.period, cell.unit_id, cell.indicator, database=db)  # a fresh run clears it
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DirtyCell)) == 0


def test_sweeper_enqueues_one_batch_refresh_per_dirty_period_with_a_safe_job_id(app, client, db):
    cell = seed(app, client, ["4"])
    with db.session() as session:
        other = session.scalar(
            select(InstitutionUnit.id).where(InstitutionUnit.code != GOMA_POLICE_UNIT).limit(1)
        )
    assert other is not None
    other_cell = Cell(cell.period, other, cell.indicator)
    earlier = Cell("2025Q1", other, "respect")
    with db.transaction() as session:
        mark_dirty(session, [cell, other_cell, cell, earlier], datetime.now(UTC))
    queue = RecordingQueue()
    assert sweep_dirty_cells(database=db, queue=queue) == 2
    assert sorted(queue.jobs) == [
        (REFRESH_PERIOD, (period,), refresh_job_id(period)) for period in ("2025Q1", cell.period)
    ]
    for _, _, job_id in queue.jobs:
        assert job_id.replace("-", "").replace("_", "").isalnum()


def all_cells(db: Database) -> list[tuple[Any, ...]]:
    with db.session() as session:
        return sorted(session.execute(select(
            CellRow.key, CellRow.respondents, CellRow.dont_know, CellRow.counts)).all())


def test_batch_refresh_writes_what_a_full_recompute_writes(app, client, db):
    """Callers of several places and types; the cells wiped and every touched cell marked: a
    batch refresh (in batches of 3, so it loops) rebuilds exactly the full recompute's rows."""
    play(client, "+243970000300", first_time_goma_police(trust="4", contact="1", bribe="1"))
    play(client, "+243970000301", ["1", "1", "1", "1", "2", "2", "2", "2", "3", "2", "2"])
    play(client, "+243970000302", ["1", "1", "2", "1", "1", "1", "2", "1", "3", "1", "2"])
    play(client, "+243970000303", first_time_goma_police(trust="9", change="1"))
    app.extensions["gateway"].queue.drain()
    with db.session() as session:
        touched = {Cell(p, u, i) for p, u, i in session.execute(
            select(Answer.period, Answer.unit_id, Answer.indicator))}
    period = next(iter(touched)).period
    assert len({(c.unit_id, c.indicator) for c in touched}) >= 8
    with db.transaction() as session:
        recompute_period(session, period, datetime.now(UTC))
    expected = all_cells(db)
    with db.transaction() as session:
        session.execute(delete(CellRow))
        mark_dirty(session, touched, datetime.now(UTC))
    with db.transaction() as session:
        done, clean = refresh_dirty(session, period, limit=3)
    assert (done, clean) == (3, False)
    assert refresh_period(period, database=db, pause=0.0)["cells"] == len(touched) - 3
    assert all_cells(db) == expected
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DirtyCell)) == 0


def test_concurrent_batch_refreshes_leave_the_same_rows(app, client, db):
    cell = seed(app, client, ["3", "4", "1"])
    expected = all_cells(db)
    with db.transaction() as session:
        touched = {Cell(p, u, i) for p, u, i in session.execute(
            select(Answer.period, Answer.unit_id, Answer.indicator))}
        session.execute(delete(CellRow))
        mark_dirty(session, touched, datetime.now(UTC))
    assert at_once(4, lambda: refresh_period(cell.period, database=db, pause=0.0)) == []
    assert all_cells(db) == expected
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DirtyCell)) == 0


def test_a_refresh_with_nothing_to_do_does_not_wait_for_the_period_lock(pg_app):
    """A follow-up or sweeper refresh that finds no mark returns at once, even while another
    writer (a long recompute, a cell job waiting on a row) holds the period's lock: it must not
    keep a worker that SMS replies need. With a mark, it does wait for the lock."""
    client, db = pg_app.test_client(), pg_app.extensions["gateway"].db
    cell = seed(pg_app, client, ["3"])
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DirtyCell)) == 0
    with db.transaction() as holder:
        lock_period(holder, cell.period)  # another writer of the period, mid-transaction
        with db.transaction() as session:
            session.execute(text("SET LOCAL lock_timeout = '2s'"))
            assert refresh_dirty(session, cell.period) == (0, True)
        with db.transaction() as session:
            mark_dirty(session, [cell], datetime.now(UTC))
        with pytest.raises(OperationalError, match="lock timeout"), \
                db.transaction() as session:
            session.execute(text("SET LOCAL lock_timeout = '200ms'"))
            refresh_dirty(session, cell.period)
    assert refresh_period(cell.period, database=db, pause=0.0)["cells"] == 1


def test_in_process_queue_runs_jobs_and_dedupes_pending_ids(app, client, db):
    cell = seed(app, client, ["4"])
    with db.transaction() as session:
        session.execute(delete(CellRow))
        mark_dirty(session, [cell], datetime.now(UTC))
    queue = InProcessJobQueue(db, sweep_interval=3600)
    try:
        for _ in range(5):
            assert queue.enqueue(
                REFRESH_CELL, cell.period, cell.unit_id, cell.indicator, job_id=cell.job_id
            )
        queue.drain()
    finally:
        queue.close()
    assert score_row(db, cell)[0] == 1
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DirtyCell)) == 0


def test_a_batch_refresh_hands_the_worker_over_when_other_jobs_wait(app, client, db):
    """Under RQ a refresh pauses between batches to gather a busy day's cells, unless other jobs
    (outbound SMS) wait for the worker: then it returns after its batch."""
    cell = seed(app, client, ["2", "3"])
    with db.transaction() as session:
        mark_dirty(session, [cell], datetime.now(UTC))
    handed_over = refresh_period(cell.period, database=db, pause=30.0, others_waiting=lambda: True)
    assert handed_over == {"cells": 1, "batches": 1}
    with db.transaction() as session:
        mark_dirty(session, [cell], datetime.now(UTC))
    looked_again = refresh_period(cell.period, database=db, pause=0.01,
                                  others_waiting=lambda: False)
    assert looked_again == {"cells": 1, "batches": 2}  # a batch, then a look after the pause
    with db.transaction() as session:
        mark_dirty(session, [cell], datetime.now(UTC))
    in_process = refresh_period(cell.period, database=db, pause=0.0)
    assert in_process == {"cells": 1, "batches": 1}  # no pause: one pass, new answers re-queue
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DirtyCell)) == 0


def test_a_refresh_that_finished_between_two_looks_is_queued_again(redis_url):
    """The webhook's enqueue met the period's job id (DuplicateJobError), and by the time it looks
    at that job the job has finished and gone (`result_ttl=0`): the change must get a new run, not
    wait for the sweeper, and nothing may be raised into the webhook."""
    from redis import Redis
    from rq import Queue

    from gateway.queueing import QUEUE_NAME, RedisJobQueue

    connection = Redis.from_url(redis_url)
    jobs = RedisJobQueue(connection)
    target = Queue(QUEUE_NAME, connection=connection)
    job_id = refresh_job_id("2026Q4")
    assert jobs._requeue_if_done(target, REFRESH_PERIOD, ("2026Q4",), job_id, [1])
    assert target.job_ids == [job_id]
    assert jobs.enqueue(REFRESH_PERIOD, "2026Q4", job_id=job_id)  # queued: nothing more
    assert target.job_ids == [job_id]
    connection.close()


def test_a_change_that_finds_its_refresh_running_queues_one_more_run_behind_it(redis_url):
    """The running job may have read the dirty cells before this change committed: one follow-up
    run (`-again`) is queued, and only one however many changes arrive meanwhile."""
    from redis import Redis
    from rq import Queue
    from rq.job import Job, JobStatus

    from gateway.queueing import AGAIN, QUEUE_NAME, RedisJobQueue

    connection = Redis.from_url(redis_url)
    jobs = RedisJobQueue(connection)
    job_id = refresh_job_id("2026Q4")
    assert jobs.enqueue(REFRESH_PERIOD, "2026Q4", job_id=job_id)
    Job.fetch(job_id, connection=connection).set_status(JobStatus.STARTED)  # a worker took it
    for _ in range(3):
        assert jobs.enqueue(REFRESH_PERIOD, "2026Q4", job_id=job_id)
    queued = Queue(QUEUE_NAME, connection=connection).job_ids
    assert queued == [job_id, job_id + AGAIN]
    connection.close()
