"""Enqueueing jobs: best effort, never on the critical path of a USSD hop.

Rules (DESIGN §7):
- Redis is disposable: every job is also represented by a row in the database (a dirty cell), and
  the sweeper re-enqueues whatever was lost; a failed enqueue is logged and counted, never raised.
- a change that finds its job already running gets one more run queued behind it (`-again`):
  the running job may have read the database before the change was committed;
- Short socket timeouts bound the wait on a stopped or hung Redis; after a failure the queue stops
  trying for a short cool-down, so a hung Redis costs one timeout, not one per hop.
- With no `REDIS_URL` (embedded mode) jobs run in-process on one background thread, after the reply.
- Failed enqueues are counted by queue and reason (`gateway_enqueue_failures`); in embedded mode
  each job run is timed and its failure counted here, as the RQ worker does for its jobs.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy.exc import SQLAlchemyError

from gateway import metrics

if TYPE_CHECKING:
    from gateway.db import Database
    from gateway.settings import Settings

log = logging.getLogger(__name__)

QUEUE_NAME = "scores"
SMS_QUEUE = "sms"  # outbound SMS: a broadcast or a slow provider never delays a score refresh
QUEUES = (QUEUE_NAME, SMS_QUEUE)  # what a worker listens to, taking turns (gateway.worker)
FAILURE_TTL = 600  # seconds: tracebacks may hold personal data
JOB_TIMEOUT = 1800
COOL_DOWN = 5.0
DEFAULT_RETRY = (2, 10, 60)  # seconds before each retry of a failed job
AGAIN = "-again"  # the id suffix of the one run queued behind a running job of the same id
for _queue in QUEUES:  # series at 0 from the start
    for _reason in metrics.ENQUEUE_FAILURE_REASONS:
        metrics.enqueue_failures.labels(_queue, _reason)


class JobQueue(Protocol):
    def enqueue(self, func: str, *args: Any, job_id: str,
                retry: Sequence[int] | None = None, queue: str = QUEUE_NAME) -> bool:
        """Queue `func` (a dotted name) unless that job id is already queued; False on failure.
        `retry`: the delays (seconds) before each retry of a failed run (RQ's `Retry`);
        `queue`: one of QUEUES."""
        ...

    def drain(self, timeout: float = 30.0) -> None:
        """Wait for the jobs this process runs itself (CLI commands, tests); RQ's are the
        worker's."""
        ...

    def close(self) -> None: ...


def redis_connection(url: str, timeout: float) -> Redis:
    return Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry_on_timeout=False,
        health_check_interval=0,
    )


class RedisJobQueue:
    def __init__(self, connection: Redis, *, cool_down: float = COOL_DOWN) -> None:
        self.connection = connection
        self.queues = {name: Queue(name, connection=connection) for name in QUEUES}
        self.queue = self.queues[QUEUE_NAME]
        self.cool_down = cool_down
        self.failures = 0
        self._paused_until = 0.0

    @classmethod
    def from_url(cls, url: str, timeout: float) -> RedisJobQueue:
        return cls(redis_connection(url, timeout))

    @classmethod
    def for_current_job(cls) -> RedisJobQueue:
        """The queue of the RQ job running in this process (used by the sweeper job)."""
        from rq import get_current_job

        job = get_current_job()
        if job is None:
            raise RuntimeError("not inside an RQ job: pass a queue explicitly")
        return cls(job.connection, cool_down=0.0)

    def enqueue(self, func: str, *args: Any, job_id: str,
                retry: Sequence[int] | None = None, queue: str = QUEUE_NAME) -> bool:
        if time.monotonic() < self._paused_until:
            self.failures += 1
            metrics.enqueue_failures.labels(queue, "cool_down").inc()
            return False
        delays = list(retry or DEFAULT_RETRY)
        target = self.queues[queue]
        try:
            return self._submit(target, func, args, job_id, delays)
        except (RedisError, OSError) as exc:
            self.failures += 1
            metrics.enqueue_failures.labels(queue, "redis_error").inc()
            self._paused_until = time.monotonic() + self.cool_down
            log.warning(
                "enqueue %s failed (%s); the sweeper will retry it", job_id, type(exc).__name__
            )
            return False

    @staticmethod
    def _put(target: Queue, func: str, args: tuple[Any, ...], job_id: str,
             delays: list[int]) -> None:
        """RQ's enqueue with this module's rules; DuplicateJobError when the id is taken."""
        target.enqueue(func, *args, job_id=job_id, unique=True,
                       retry=Retry(max=len(delays), interval=delays), result_ttl=0,
                       failure_ttl=FAILURE_TTL, job_timeout=JOB_TIMEOUT)

    def _submit(self, target: Queue, func: str, args: tuple[Any, ...], job_id: str,
                delays: list[int]) -> bool:
        try:
            self._put(target, func, args, job_id, delays)
        except DuplicateJobError:
            return self._requeue_if_done(target, func, args, job_id, delays)
        return True

    def _requeue_if_done(self, target: Queue, func: str, args: tuple[Any, ...], job_id: str,
                         delays: list[int]) -> bool:
        """A job with this id exists: fine if it is queued or scheduled (it will see this change);
        a running one may have read the database before this change, so one follow-up run is
        queued after it, under `<id>-again` (jobs are idempotent; at most one waits); a failed or
        finished one kept for its TTL is replaced, and one that finished and went between the
        two looks (`result_ttl=0`) is queued again."""
        try:
            job: Job | None = Job.fetch(job_id, connection=self.connection)
            status = job.get_status() if job is not None else None
        except (NoSuchJobError, InvalidJobOperation):
            job, status = None, None
        if status == JobStatus.STARTED and not job_id.endswith(AGAIN):
            return self._submit(target, func, args, job_id + AGAIN, delays)
        if status is not None and status not in (JobStatus.FAILED, JobStatus.FINISHED,
                                                 JobStatus.STOPPED, JobStatus.CANCELED):
            return True
        if job is not None:
            job.delete()
        try:
            self._put(target, func, args, job_id, delays)
        except DuplicateJobError:
            return True  # queued again meanwhile, by another request
        return True

    def schedule(self, when: datetime, func: str, *args: Any, job_id: str) -> bool:
        """Run `func` at `when` (RQ's scheduler, in the worker); the same id is scheduled once."""
        try:
            self.queue.enqueue_at(when, func, *args, job_id=job_id, result_ttl=0,
                                  failure_ttl=FAILURE_TTL,
                                  retry=Retry(max=3, interval=[10, 60, 300]))
        except (RedisError, OSError):
            metrics.enqueue_failures.labels(self.queue.name, "redis_error").inc()
            log.warning("scheduling %s failed; the next tick retries", job_id)
            return False
        return True

    def drain(self, timeout: float = 30.0) -> None:
        """Nothing runs here: the RQ worker runs the jobs, when it runs."""

    def ping(self) -> bool:
        try:
            return bool(self.connection.ping())
        except (RedisError, OSError):
            return False

    def close(self) -> None:
        self.connection.close()


def resolve(func: str) -> Callable[..., Any]:
    module, _, name = func.rpartition(".")
    target: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return target


class InProcessJobQueue:
    """Embedded mode: jobs run on one background thread of this process, deduplicated by id.

    A sweeper thread also re-runs dirty cells every `sweep_interval` seconds (and once at start),
    so a crash between an answer's commit and its refresh is repaired without Redis.
    """

    def __init__(self, database: Database, sweep_interval: float,
                 extra: dict[str, dict[str, Any]] | None = None,
                 settings: Settings | None = None) -> None:
        self.database = database
        self.settings = settings  # what the sweeper passes on (the app's, not the environment's)
        self.extra = extra or {}  # per job name, keyword arguments a worker reads from its env
        self.sweep_interval = sweep_interval
        self.failures = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobs")
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    def start(self) -> None:
        """Start the sweeper thread (the application does, when it is built)."""
        self._start_sweeper()

    def enqueue(self, func: str, *args: Any, job_id: str,
                retry: Sequence[int] | None = None, queue: str = QUEUE_NAME) -> bool:
        # `retry` and `queue` are RQ's; here one thread runs every job, and a failed job's row
        # stays due for the sweeper.
        self._start_sweeper()
        with self._lock:
            if job_id in self._pending:
                return True
            self._pending.add(job_id)
        try:
            self._executor.submit(self._run, func, args, job_id)
        except RuntimeError:  # shut down
            with self._lock:
                self._pending.discard(job_id)
            return False
        return True

    def _run(self, func: str, args: tuple[Any, ...], job_id: str) -> None:
        with self._lock:
            self._pending.discard(job_id)  # a change arriving from now on queues a fresh run
        started = time.perf_counter()
        try:
            resolve(func)(*args, database=self.database, **self.extra.get(func, {}))
        except Exception:  # a failed job must not kill the runner; the dirty mark stays
            self.failures += 1
            metrics.record_job(func, time.perf_counter() - started, failed=True)
            log.exception("in-process job %s failed; the sweeper will retry it", job_id)
        else:
            metrics.record_job(func, time.perf_counter() - started, failed=False)

    def _start_sweeper(self) -> None:
        with self._lock:
            if self._sweeper is not None or self._stop.is_set():
                return
            self._sweeper = threading.Thread(target=self._sweep_loop, name="sweeper", daemon=True)
        self._sweeper.start()

    def _sweep_loop(self) -> None:
        from scoring.jobs import sweep_dirty_cells

        while not self._stop.is_set():
            try:
                sweep_dirty_cells(database=self.database, queue=self, settings=self.settings)
            except SQLAlchemyError as exc:  # not migrated yet, or unreachable: try again later
                log.warning("in-process sweep skipped: database not ready (%s)",
                            type(exc).__name__)
            except Exception:
                log.exception("in-process sweep failed")
            self._stop.wait(self.sweep_interval)

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until every queued job has run (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self._executor.submit(lambda: None)
            done.result(timeout=max(deadline - time.monotonic(), 0.01))
            with self._lock:
                if not self._pending:
                    return

    def close(self) -> None:
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=30)  # a sweep in progress finishes with its connection
        self._executor.shutdown(wait=True)
