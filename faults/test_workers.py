"""RQ workers killed and doubled (DESIGN §7: every job is idempotent, safe to run twice or
concurrently; the sweeper re-enqueues what was lost).

Rules checked:
- a worker killed with SIGKILL in the middle of a job (the worker, its work horse and its
  scheduler: the whole process group, as the kernel's OOM killer or a lost machine would), then
  restarted as a Procfile host does: no hop notices, every accepted answer is stored exactly
  once, and within a minute the scores equal a full recompute;
- two workers refreshing the same cell at the same moment leave exactly the cells a full
  recompute writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import pytest
from rq import Queue
from rq.job import Job, JobStatus

from scoring.keys import REFRESH_CELL
from scoring.periods import quarter_of
from tests.africastalking import GOMA_POLICE_UNIT

from .jobs import busy_worker, held_up, hold_cells, idle_workers
from .load import Load, Tally
from .scores import Settled, recompute_differences, settle, wait_for_scores
from .services import Gateways, PrivateRedis, wait_until

RATE = 3.0
CATCH_UP = 60.0


@dataclass
class Run:
    tally: Tally
    killed_job: str
    scores: Settled


@pytest.fixture(scope="module")
def worker_killed(module_gateways: Gateways, redis_server: PrivateRedis,
                  record: Callable[..., Tally]) -> Run:
    gateway = module_gateways("worker_killed")
    gateway.start_web()
    workers = [gateway.start_worker(), gateway.start_worker()]
    period = quarter_of(datetime.now(UTC))
    load = Load(gateway.url, seconds=20, rate=RATE).start()
    load.sleep_until(6)
    with hold_cells(gateway.database_url) as holder:
        held_up(gateway.database_url, holder)
        pid, job_id = busy_worker(redis_server)
        (victim,) = [w for w in workers if w.pid == pid]
        victim.kill()  # SIGKILL to the worker, its horse and its scheduler
        time.sleep(0.5)
    load.sleep_until(9)
    gateway.start_worker()  # the host restarts the process that died
    load.join()
    settled = settle(gateway, period, CATCH_UP)
    result = record("worker SIGKILLed mid-job", load.callers, gateway.database_url,
                    killed_job=job_id, workers=2, **settled.figures())
    return Run(result, job_id, settled)


def test_worker_killed_every_accepted_answer_is_stored_exactly_once(worker_killed: Run) -> None:
    result = worker_killed.tally
    assert result.lost == 0 and result.duplicated == 0 and result.wrong == 0
    assert result.errors == 0 and result.polite == 0 and result.accepted == result.sent


def test_worker_killed_scores_converge_to_a_full_recompute(worker_killed: Run) -> None:
    scores = worker_killed.scores
    assert scores.error is None, scores.error
    assert scores.compared > 0
    assert scores.changed == [], scores.changed[:5]


def test_two_workers_on_the_same_cell_leave_the_recompute(
        gateways: Gateways, redis_server: PrivateRedis, record: Callable[..., Tally]) -> None:
    gateway = gateways("two_workers")
    gateway.start_web()
    gateway.start_worker()
    gateway.start_worker()
    period = quarter_of(datetime.now(UTC))
    load = Load(gateway.url, seconds=10, rate=RATE).run()
    wait_for_scores(gateway.database_url, period, CATCH_UP)
    with psycopg.connect(gateway.database_url) as conn:
        row = conn.execute("SELECT id FROM institution_units WHERE code = %s",
                           (GOMA_POLICE_UNIT,)).fetchone()
    assert row is not None
    # Both workers free first: a follow-up refresh still queued or running would take one, and the
    # first twin would time out on the held lock (10 s) before the second one started.
    idle_workers(redis_server, 2)
    conn_redis = redis_server.client()
    try:
        queue = Queue("scores", connection=conn_redis)
        with hold_cells(gateway.database_url):
            twins = [queue.enqueue(REFRESH_CELL, period, int(row[0]), "trust",
                                   job_id=f"faults-twin-{n}", result_ttl=600)
                     for n in ("a", "b")]

            def both_started() -> bool:
                statuses = [Job.fetch(j.id, connection=conn_redis).get_status() for j in twins]
                if JobStatus.FAILED in statuses or JobStatus.FINISHED in statuses:
                    raise AssertionError(f"a twin ended before the other started: {statuses}")
                return all(status == JobStatus.STARTED for status in statuses)

            wait_until(both_started, 8, "both workers running a refresh of the same cell")
        wait_until(lambda: all(Job.fetch(j.id, connection=conn_redis).get_status()
                               == JobStatus.FINISHED for j in twins), 30, "both refreshes done")
        ran_on = {Job.fetch(j.id, connection=conn_redis).worker_name for j in twins}
    finally:
        conn_redis.close()
    gateway.stop()
    compared, changed = recompute_differences(gateway, period)
    result = record("two workers, same cell", load.callers, gateway.database_url, workers=2,
                    cells_compared=compared)
    assert len(ran_on) == 2, "the two refreshes ran on one worker"
    assert result.lost == result.duplicated == result.wrong == 0 and result.accepted == result.sent
    assert compared > 0 and changed == [], changed[:5]
