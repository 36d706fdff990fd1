"""Catching an RQ worker in the middle of a job, so that a fault lands there every run.

Rules:
- `hold_cells` takes `LOCK TABLE cells IN SHARE MODE` in a transaction of its own: every job that
  writes score cells then waits (its reads go on), while the webhooks, which write answers and
  dirty marks but never cells, carry on; the lock is held a few seconds at most (jobs have a
  10 s statement timeout);
- `held_up` waits until some transaction (a job's) is actually waiting on that lock, so a fault
  injected then lands in the middle of a job, every run;
- `idle_workers` waits until every worker is idle and no job waits in a queue (a follow-up refresh
  still queued would take a worker a test needs free);
- `busy_worker` reads RQ's own registry of workers (`Worker.all`): the pid and job of a worker
  running a job other than the sweeper (which writes no cells and is never held up).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from rq import Queue, Worker

from gateway.queueing import QUEUES
from scoring.keys import SWEEP_JOB_ID

from .services import PrivateRedis


@contextmanager
def hold_cells(database_url: str) -> Iterator[int]:
    """Hold the lock; yields the backend pid of the transaction holding it."""
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        conn.execute("LOCK TABLE cells IN SHARE MODE")
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        try:
            yield int(row[0])
        finally:
            conn.rollback()


def held_up(database_url: str, holder: int, timeout: float = 10.0) -> None:
    """Wait until a transaction waits on a lock that `holder` holds."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, connect_timeout=5, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity "
                               "WHERE %s = ANY(pg_blocking_pids(pid))", (holder,)).fetchone()
            if row and row[0]:
                return
            time.sleep(0.05)
    raise AssertionError(f"no job waited on the cells lock within {timeout:.0f} s")


def busy_worker(redis_server: PrivateRedis, timeout: float = 10.0) -> tuple[int, str]:
    """(pid, job id) of a worker running a job other than the sweeper; fails after `timeout`
    seconds without one."""
    conn = redis_server.client()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for worker in Worker.all(connection=conn):
                job_id = worker.get_current_job_id()
                if job_id and job_id != SWEEP_JOB_ID and worker.pid:
                    return int(worker.pid), str(job_id)
            time.sleep(0.05)
    finally:
        conn.close()
    raise AssertionError(f"no RQ worker took a job within {timeout:.0f} s")


def idle_workers(redis_server: PrivateRedis, count: int, timeout: float = 30.0) -> None:
    """Wait until `count` workers are registered, none runs a job and every queue is empty."""
    conn = redis_server.client()
    deadline = time.monotonic() + timeout
    seen = ""
    try:
        while time.monotonic() < deadline:
            workers = Worker.all(connection=conn)
            busy = [str(w.get_current_job_id()) for w in workers if w.get_current_job_id()]
            queued = {name: Queue(name, connection=conn).count for name in QUEUES}
            if len(workers) == count and not busy and not any(queued.values()):
                return
            seen = f"{len(workers)} workers, running {busy}, queued {queued}"
            time.sleep(0.1)
    finally:
        conn.close()
    raise AssertionError(f"the workers did not fall idle within {timeout:.0f} s: {seen}")
