"""Prometheus metrics: what an operator watches on a campaign day (`GET /metrics`, in health.py).

Rules:
- every metric object lives here, named `gateway_…`; the instrumenting modules import them and never
  build their own (one name, one meaning);
- labels are closed sets written in code (screen kinds, channels, outcomes, queue and job function
  names): never a phone number, a pseudonym, a session or message id, free text or a URL, so the
  page holds no personal data and its series stay few;
- counters move for what happened: an answer is counted once its transaction committed
  (`count_on_commit`), an SMS once its outcome is recorded;
- what lives elsewhere (RQ queue depths, dirty cells waiting in the database) is read at scrape time
  by `LiveCollector`, with short timeouts; a service that does not answer is reported as
  `gateway_redis_up 0` or `gateway_database_up 0`, and the scrape still succeeds;
- with `PROMETHEUS_MULTIPROC_DIR` set, prometheus_client's multiprocess mode: every process (the
  gunicorn workers, the RQ worker) writes its own files in that directory and a scrape sums them
  (`MultiProcessCollector`). The directory is created here, before any metric writes to it; its
  files of processes that are gone are removed when gunicorn starts (`gateway/gunicorn_conf.py`).
  Without the variable this process's own registry is served (tests, `flask run`);
- this module imports no other gateway module at import time (they all import it): the collector
  imports what it reads when it runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    values,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from prometheus_client.metrics import Counter as CounterChild

    from gateway.state import GatewayState

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


HORSE_SUFFIX = "-horses"
_files_owner: list[str] = []  # set in an RQ work horse: see `share_horse_files`


def _process_identifier() -> str:
    return _files_owner[0] if _files_owner else str(os.getpid())


def share_horse_files() -> None:
    """Called in an RQ work horse (forked for one job): write to the files of "this worker's
    horses" rather than to files of the horse's own pid, so a worker leaves two sets of files, not
    one per job it ever ran. Horses of one worker run one at a time, so they never write at once."""
    _files_owner[:] = [f"{os.getppid()}{HORSE_SUFFIX}"]


_directory = multiprocess_dir()
if _directory is not None:  # before the first metric below opens its file there
    os.makedirs(_directory, exist_ok=True)
    values.ValueClass = values.MultiProcessValue(  # type: ignore[no-untyped-call]
        _process_identifier)
# No `_created` series: Prometheus does not need them.
disable_created_metrics()  # type: ignore[no-untyped-call]

# A USSD hop should answer within 50 ms; Africa's Talking gives up at 15 s.
HOP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)
# Jobs run from milliseconds (one cell, one SMS) to minutes (a sweep of a large backlog).
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0)

SCREEN_KINDS = ("con", "end", "polite_end", "bad_request")
CHANNELS = ("ussd", "sms")
SMS_OUTCOMES = ("stored", "duplicate", "kept_unhandled", "retry_later", "bad_request")
ENQUEUE_FAILURE_REASONS = ("redis_error", "cool_down")

ussd_hops = Counter(
    "gateway_ussd_hops", "USSD hops answered, by kind of screen (con, end, polite_end: the "
    "apology after a failure, bad_request: a 400)", ["screen"])
ussd_hop_seconds = Histogram(
    "gateway_ussd_hop_seconds", "Time to answer a USSD hop in the view, by kind of screen",
    ["screen"], buckets=HOP_BUCKETS)
answers_stored = Counter(
    "gateway_answers_stored", "Answers stored (new or changed; a replayed hop stores none), "
    "counted when their transaction committed, by channel", ["channel"])
sms_incoming = Counter(
    "gateway_sms_incoming", "Incoming SMS webhook calls, by outcome (stored, duplicate, "
    "kept_unhandled, retry_later: a 503, bad_request: a 400)", ["outcome"])
sms_sent = Counter(
    "gateway_sms_sent", "Outbound SMS accepted by Africa's Talking, by kind of message", ["kind"])
sms_failed = Counter(
    "gateway_sms_failed", "Outbound SMS failures: final=true when the message is failed for good "
    "(when sending, or by a delivery report), false when the attempt will be retried", ["final"])
enqueue_failures = Counter(
    "gateway_enqueue_failures", "Jobs not enqueued (left to the sweeper): Redis failed "
    "(redis_error), or was skipped during the cool-down after a failure (cool_down)",
    ["queue", "reason"])
job_seconds = Histogram(
    "gateway_job_seconds", "Time a job ran, by job function (recorded by the process that runs "
    "it: the RQ worker, or the web process in embedded mode)", ["job"], buckets=JOB_BUCKETS)
job_failures = Counter(
    "gateway_job_failures", "Job runs that failed, by job function; final=false when RQ will "
    "retry it", ["job", "final"])

# Series that exist from the start read 0 rather than missing, so rates and alerts work at once.
for _screen in SCREEN_KINDS:
    ussd_hops.labels(_screen)
    ussd_hop_seconds.labels(_screen)
for _channel in CHANNELS:
    answers_stored.labels(_channel)
for _outcome in SMS_OUTCOMES:
    sms_incoming.labels(_outcome)
for _final in ("true", "false"):
    sms_failed.labels(_final)


def count_on_commit(session: Session, counter: CounterChild, amount: float = 1.0) -> None:
    """Increment `counter` when this session's transaction commits (never if it rolls back)."""
    if amount <= 0:
        return

    def _committed(_session: Session) -> None:
        counter.inc(amount)

    event.listen(session, "after_commit", _committed, once=True)


def record_job(func_name: str, seconds: float, *, failed: bool, final: bool = True) -> None:
    job_seconds.labels(func_name).observe(seconds)
    if failed:
        job_failures.labels(func_name, "true" if final else "false").inc()


# --- Read at scrape time ------------------------------------------------------------------------


class LiveCollector(Collector):
    """RQ queue depths and registries, and the dirty cells waiting, as the scrape runs."""

    def __init__(self, gw: GatewayState) -> None:
        self.gw = gw

    def collect(self) -> Iterator[Metric]:
        yield from self._queues()
        yield from self._database()

    def _queues(self) -> Iterator[Metric]:
        from redis.exceptions import RedisError

        from gateway.queueing import RedisJobQueue

        queue = self.gw.queue
        if not isinstance(queue, RedisJobQueue):
            return  # embedded mode: jobs run in-process, there is no queue to watch
        up = GaugeMetricFamily("gateway_redis_up", "1 when Redis answered this scrape")
        depth = GaugeMetricFamily("gateway_queue_depth", "Jobs waiting in an RQ queue",
                                  labels=["queue"])
        held = GaugeMetricFamily(
            "gateway_queue_registry_jobs", "Jobs of an RQ queue that are scheduled (retries, "
            "the quarter's review), started, or failed (kept for a few minutes)",
            labels=["queue", "registry"])
        registries = ("scheduled", "started", "failed")
        try:
            # The queue's own connection: its socket timeout is ENQUEUE_TIMEOUT (short).
            pipe = queue.connection.pipeline(transaction=False)
            for rq_queue in queue.queues.values():
                pipe.llen(rq_queue.key)
                pipe.zcard(rq_queue.scheduled_job_registry.key)
                pipe.zcard(rq_queue.started_job_registry.key)
                pipe.zcard(rq_queue.failed_job_registry.key)
            values = [int(v) for v in pipe.execute()]
        except (RedisError, OSError):
            up.add_metric([], 0)
            yield up
            return
        for index, name in enumerate(queue.queues):
            counts = values[4 * index: 4 * index + 4]
            depth.add_metric([name], counts[0])
            for registry, count in zip(registries, counts[1:], strict=True):
                held.add_metric([name, registry], count)
        up.add_metric([], 1)
        yield from (up, depth, held)

    def _database(self) -> Iterator[Metric]:
        from sqlalchemy import func, select
        from sqlalchemy.exc import SQLAlchemyError

        from gateway.db import within_hop_budget
        from gateway.models import DirtyCell

        up = GaugeMetricFamily("gateway_database_up", "1 when the database answered this scrape")
        try:
            with self.gw.db.session() as session:
                within_hop_budget(session)  # PostgreSQL: a few seconds at most
                dirty = int(session.scalar(select(func.count()).select_from(DirtyCell)) or 0)
        except (SQLAlchemyError, OSError):
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(
            "gateway_dirty_cells", "Score cells marked for a refresh that has not run yet "
            "(a backlog that grows means no worker, or a worker that cannot keep up)",
            value=dirty)


class _ThisProcess(Collector):
    """The default registry of this process (single-process mode)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def exposition(gw: GatewayState, accept: str | None) -> tuple[bytes, str]:
    """The page a scrape gets, in the format its Accept header asks for, and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory is not None:
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    registry.register(LiveCollector(gw))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


# --- Multiprocess bookkeeping ---------------------------------------------------------------

_PID_FILE = re.compile(rf"_(\d+)(?:{HORSE_SUFFIX})?\.db$")


def prune_dead_processes(directory: str | os.PathLike[str]) -> list[Path]:
    """Remove the files of processes that no longer run (what a restart leaves behind); those of
    running processes (an RQ worker still up while the web restarts, and its horses' files) are
    kept. Returns what was removed."""
    removed = []
    for path in Path(directory).glob("*.db"):
        match = _PID_FILE.search(path.name)
        if match is None:
            continue
        pid = int(match.group(1))
        if pid != os.getpid() and not _alive(pid):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
