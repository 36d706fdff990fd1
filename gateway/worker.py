"""The RQ worker process (`worker:` in the Procfile).

Rules:
- it runs RQ's own Worker (a forked work horse per job) with its scheduler, on the `scores`
  queue first, then `sms` (outbound messages wait behind score refreshes, never the reverse);
- a small ticker thread in the worker's main process enqueues the sweeper every SWEEP_INTERVAL
  seconds under one fixed job id, so several workers never queue it twice, and a Redis that came
  back empty is re-seeded at the next tick: losing Redis loses no score; the same tick schedules,
  under a fixed id, the job that moves the current quarter to review when it ends (RQ's scheduler
  runs it; the sweeper also checks, as a safety net);
- jobs open their own database connection in the work horse (see `scoring.jobs`).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from redis import Redis
from rq import Worker

from gateway.queueing import QUEUES, RedisJobQueue
from gateway.settings import Settings
from scoring.keys import REVIEW_QUARTERS, SWEEP, SWEEP_JOB_ID
from scoring.periods import quarter_bounds, quarter_of

log = logging.getLogger(__name__)


def enqueue_sweep(queue: RedisJobQueue) -> bool:
    """Queue the sweeper now, and the move to review for the end of the current quarter."""
    now = datetime.now(UTC)
    period = quarter_of(now)
    queue.schedule(quarter_bounds(period)[1], REVIEW_QUARTERS, job_id=f"review-{period}")
    return queue.enqueue(SWEEP, job_id=SWEEP_JOB_ID)


def _ticker(queue: RedisJobQueue, interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        enqueue_sweep(queue)


def run_worker(settings: Settings, *, burst: bool = False, name: str | None = None) -> bool:
    if not settings.redis_url:
        raise SystemExit("REDIS_URL is not set: without Redis, jobs run inside the web process")
    connection = Redis.from_url(settings.redis_url)
    # The ticker has its own short-timeout connection: a hung Redis must not wedge it.
    ticker_queue = RedisJobQueue.from_url(settings.redis_url, max(settings.enqueue_timeout, 1.0))
    ticker_queue.cool_down = 0.0
    enqueue_sweep(ticker_queue)  # at start: pick up whatever was marked while no worker ran
    stop = threading.Event()
    if not burst:
        threading.Thread(
            target=_ticker,
            args=(ticker_queue, settings.sweep_interval, stop),
            name="sweep-ticker",
            daemon=True,
        ).start()
    worker = Worker(list(QUEUES), connection=connection, name=name)
    try:
        return bool(worker.work(burst=burst, with_scheduler=True, logging_level="INFO"))
    finally:
        stop.set()
