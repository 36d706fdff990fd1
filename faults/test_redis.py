"""Redis is disposable (DESIGN §7): killed and restarted empty, or frozen, mid-load.

Rules checked:
- killed in the middle of a job and restarted empty: every hop is answered as usual (Redis is not
  on a hop's path), every accepted answer is stored exactly once, and once the sweeper has
  re-enqueued what Redis lost the scores equal a full recompute;
- the RQ worker outlives Redis going away, even as a job ends meanwhile (a Procfile host would
  restart a worker that exits, but `honcho start` — `make run` — stops every process when one
  exits);
- frozen (SIGSTOP: the kernel still accepts connections, nothing answers): USSD p99 stays under
  1 s and no hop fails, because an enqueue waits at most ENQUEUE_TIMEOUT and then pauses; after
  SIGCONT the scores catch up and equal a full recompute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from scoring.periods import quarter_of
from tests.africastalking import first_time_goma_police, play

from .jobs import busy_worker, held_up, hold_cells
from .load import ALL_PHONES, Load, Tally
from .scores import Settled, recompute_differences, settle, wait_for_scores
from .services import Gateways, PrivateRedis, wait_until

RATE = 3.0  # new callers a second; each plays about 12 hops, 0.25 s apart
REDIS_GONE = 8.0  # seconds between the kill and the restart, mid-load
# Longer than redis-py's own retries of a lost connection (a few seconds, in the work horse and
# then in the worker), so that the job in flight ends while Redis is still gone.
JOB_ENDS_WITHOUT_REDIS = 20.0
QUIET_CALLER = "+243991999001"
ALL_PHONES.add(QUIET_CALLER)
CATCH_UP = 60.0  # seconds the workers and the sweeper get to bring the scores up to date


@dataclass
class Run:
    tally: Tally
    worker_survived: bool
    scores: Settled


@pytest.fixture(scope="module")
def redis_killed(module_gateways: Gateways, redis_server: PrivateRedis,
                 record: Callable[..., Tally]) -> Run:
    gateway = module_gateways("redis_killed")
    gateway.start_web()
    worker = gateway.start_worker()
    period = quarter_of(datetime.now(UTC))
    load = Load(gateway.url, seconds=REDIS_GONE + 14, rate=RATE).start()
    load.sleep_until(5)
    with hold_cells(gateway.database_url) as holder:
        held_up(gateway.database_url, holder)
        busy_worker(redis_server)  # a score refresh is under way, waiting on the lock
        redis_server.kill()
        killed_at = load.elapsed()
        time.sleep(0.5)
    load.sleep_until(killed_at + REDIS_GONE)
    redis_server.start()  # empty: no RDB, no AOF
    load.join()
    survived = worker.alive
    if not survived:
        gateway.start_worker()  # as a Procfile host restarts a process that exited
    settled = settle(gateway, period, CATCH_UP)
    result = record("redis killed mid-job, restarted empty", load.callers, gateway.database_url,
                    outage_s=REDIS_GONE, worker_survived=survived, **settled.figures())
    return Run(result, survived, settled)


def test_redis_killed_every_accepted_answer_is_stored_exactly_once(redis_killed: Run) -> None:
    result = redis_killed.tally
    assert result.lost == 0 and result.duplicated == 0 and result.wrong == 0
    assert result.errors == 0 and result.polite == 0, "a hop failed because Redis was gone"
    assert result.accepted == result.sent


def test_redis_killed_scores_converge_to_a_full_recompute(redis_killed: Run) -> None:
    scores = redis_killed.scores
    assert scores.error is None, scores.error
    assert scores.compared > 0
    assert scores.changed == [], scores.changed[:5]


def test_redis_killed_as_a_job_ends_the_worker_survives(gateways: Gateways,
                                                         redis_server: PrivateRedis) -> None:
    gateway = gateways("redis_killed_job_ends")
    client = gateway.app().test_client()
    worker = gateway.start_worker()
    with hold_cells(gateway.database_url) as holder:
        play(client, QUIET_CALLER, first_time_goma_police())  # dirty cells, a refresh
        held_up(gateway.database_url, holder, timeout=30)
        busy_worker(redis_server)
        redis_server.kill()
    try:
        wait_until(lambda: not worker.alive, JOB_ENDS_WITHOUT_REDIS, "the worker exiting")
    except AssertionError:
        pass  # it outlived the outage
    finally:
        redis_server.start()
    assert worker.alive, "the RQ worker exited while Redis was gone"


def test_redis_frozen_holds_no_hop(gateways: Gateways, redis_server: PrivateRedis,
                                   record: Callable[..., Tally]) -> None:
    gateway = gateways("redis_frozen")
    gateway.start_web()
    worker = gateway.start_worker()
    period = quarter_of(datetime.now(UTC))
    load = Load(gateway.url, seconds=15, rate=RATE).start()
    load.sleep_until(4)
    redis_server.pause()
    load.sleep_until(10)
    redis_server.resume()
    load.join()
    catch_up = wait_for_scores(gateway.database_url, period, CATCH_UP)
    survived = worker.alive
    gateway.stop()
    compared, changed = recompute_differences(gateway, period)
    frozen = [h for h in load.hops() if 4 <= h.sent_at < 10]
    result = record("redis frozen (SIGSTOP 6 s)", load.callers, gateway.database_url,
                    hops_while_frozen=len(frozen),
                    max_while_frozen_ms=round(max((h.seconds for h in frozen), default=0) * 1000),
                    scores_caught_up_s=round(catch_up, 1), worker_survived=survived)
    assert frozen, "the freeze fell outside the load"
    assert result.lost == 0 and result.duplicated == 0 and result.wrong == 0
    assert result.errors == 0 and result.polite == 0 and result.accepted == result.sent
    assert result.p99_ms < 1000, f"USSD p99 {result.p99_ms:.0f} ms with Redis frozen"
    assert survived
    assert compared > 0 and changed == [], changed[:5]
