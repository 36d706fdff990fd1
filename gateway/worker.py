"""The RQ worker process (`worker:` in the Procfile).

Rules:
- it runs RQ's own Worker (a forked work horse per job) with its scheduler, on the `scores` and
  `sms` queues taking turns (round robin): a busy day's score refreshes, queued again and again,
  never hold the replies back, nor the replies the scores;
- a small ticker thread in the worker's main process enqueues the sweeper every SWEEP_INTERVAL
  seconds under one fixed job id, so several workers never queue it twice, and a Redis that came
  back empty is re-seeded at the next tick: losing Redis loses no score; the same tick schedules,
  under a fixed id, the job that moves the current quarter to review when it ends (RQ's scheduler
  runs it; the sweeper also checks, as a safety net);
- jobs open their own database connection in the work horse (see `scoring.jobs`);
- every job run is timed and its failure counted (`gateway_job_seconds`, `gateway_job_failures`,
  by job function) in the worker's main process, around the horse: a horse killed by a timeout or
  the kernel is counted too, and the duration includes the fork (a millisecond or so); the
  outcome is the job's status once the horse is gone (gone from Redis = finished: `result_ttl=0`);
  what a job counts itself (an SMS sent) goes to files shared by this worker's horses, one after
  the other, rather than to files of each horse's pid (`metrics.share_horse_files`);
- RQ rides out a refused connection while it waits for a job, but quits when Redis goes away
  as a job ends (raising) or hangs longer than its socket timeout, WORKER_TTL less 5 s (its loop
  logs "quitting" and returns as if done): unless a stop was asked for (a signal, RQ's shutdown
  command), this process waits for Redis and starts a new worker, after a pause that doubles
  (1 s to 30 s) while workers die young. The answers are in the database and the sweeper
  re-queues what Redis lost; the queues are never left without a worker, and under honcho the
  web is not stopped with it. A stop asked during the pause ends the process at once;
- logs are the web's (JSON lines, numbers masked): the worker runs inside the Flask app, whose
  factory configured them; a record logged inside a job carries its `job_id`.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Worker
from rq.exceptions import InvalidJobOperation
from rq.job import Job, JobStatus
from rq.worker import DequeueStrategy

from gateway import metrics
from gateway.queueing import QUEUES, RedisJobQueue
from gateway.settings import Settings
from scoring.keys import REVIEW_QUARTERS, SWEEP, SWEEP_JOB_ID
from scoring.periods import quarter_bounds, quarter_of

log = logging.getLogger(__name__)
_STOP = threading.Event()  # a stop was asked of this process (any of its workers)
RESTART_PAUSE = (1.0, 30.0)  # seconds before starting a worker again: first, and at most
STEADY = 60.0  # a worker that ran this long was not failing at once: the pause starts over


class GatewayWorker(Worker):
    """RQ's Worker (a forked horse per job), each job run timed and its failure counted here, in
    the worker's main process."""

    def execute_job(self, job: Job, queue: Queue) -> None:
        started = time.perf_counter()
        try:
            super().execute_job(job, queue)
        finally:
            try:
                record_run(job, time.perf_counter() - started)
            except Exception:  # a metric must never stop the worker
                log.warning("job %s: its run could not be recorded", job.id, exc_info=True)

    stop_asked = False  # a signal or RQ's shutdown command asked this worker to stop
    done = False  # its loop is over: RQ's signal handlers stay installed until the next one's

    def request_stop(self, signum: int, frame: object) -> None:
        self.stop_asked = True
        _STOP.set()  # for run_worker, between one worker and the next
        if not self.done:  # a stop in the gap needs no RQ loop told, nor Redis
            super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        metrics.share_horse_files()  # in the horse, just forked
        super().main_work_horse(job, queue)


_FINISHED = (JobStatus.FINISHED,)
_FAILED_FOR_GOOD = (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)


def record_run(job: Job, seconds: float) -> None:
    """Record one run of `job`, from its status now that it ran."""
    name = job.func_name or "?"
    try:
        status = job.get_status(refresh=True)
    except InvalidJobOperation:
        status = JobStatus.FINISHED  # finished and deleted at once (result_ttl=0)
    except (RedisError, OSError):
        metrics.job_seconds.labels(name).observe(seconds)
        return  # the outcome is unknown: only the duration is recorded
    failed = status not in _FINISHED
    # Anything else (scheduled, queued, deferred, or already taken by another worker) is a
    # failed run that RQ's Retry runs again.
    metrics.record_job(name, seconds, failed=failed, final=status in _FAILED_FOR_GOOD)


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
    restarts = 0
    pause = RESTART_PAUSE[0]
    _STOP.clear()
    try:
        while not _STOP.is_set():
            worker = GatewayWorker(list(QUEUES), connection=connection,
                                   name=f"{name}-{restarts}" if name and restarts else name,
                                   worker_ttl=settings.worker_ttl)
            started = time.monotonic()
            try:
                worked = worker.work(burst=burst, with_scheduler=True, logging_level="INFO",
                                     dequeue_strategy=DequeueStrategy.ROUND_ROBIN)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                pause = RESTART_PAUSE[0] if time.monotonic() - started > STEADY else pause
                # RQ quits when Redis goes away as a job ends; the process must not (under
                # honcho, one process quitting stops the web too). Answers are safe in the
                # database; the sweeper re-queues their refreshes once Redis is back.
                worker.done = True
                if burst:
                    raise
                _let_go(worker)  # its teardown stopped at Redis: its pubsub thread too
                if worker.stop_asked:
                    return False
                log.warning("Redis lost (%s): the worker waits for it, then starts again",
                            type(exc).__name__)
            else:
                pause = RESTART_PAUSE[0] if time.monotonic() - started > STEADY else pause
                worker.done = True
                if burst or worker.stop_asked:
                    return bool(worked)
                # RQ's loop swallowed an error (a Redis that hung past the socket timeout, say)
                # and returned as if done: nobody asked this worker to stop.
                log.warning("the RQ worker left its loop unasked (see the error above): it "
                            "starts again in %.0f s, once Redis answers", pause)
            # An error that recurs at once must not spin: the pause doubles while workers die
            # young. A stop asked meanwhile (SIGTERM, Ctrl-C) ends the wait and the process.
            if _STOP.wait(pause) or not _wait_for(connection):
                return False
            pause = min(pause * 2, RESTART_PAUSE[1])
            restarts += 1
        return False
    finally:
        stop.set()


def _let_go(worker: GatewayWorker) -> None:
    """Stop a dead worker's pubsub thread (RQ's teardown skips it when Redis fails first)."""
    try:
        worker.unsubscribe()  # type: ignore[no-untyped-call]
    except Exception:  # Redis is gone: the thread is stopped all the same
        log.debug("pubsub of %s not closed cleanly", worker.name, exc_info=True)


def _wait_for(connection: Redis, most: float = 30.0) -> bool:
    """Wait until Redis answers (True), or a stop is asked (False)."""
    delay = 0.5
    while not _STOP.is_set():
        try:
            connection.ping()
            return True
        except (RedisError, OSError):
            _STOP.wait(delay)
            delay = min(delay * 2, most)
    return False
