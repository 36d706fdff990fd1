"""End to end on real services: Africa's Talking hops → stored answer → job on a real RQ worker
(its own process) → score through the API. Runs on SQLite and PostgreSQL, with Redis."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from redis import Redis
from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from gateway.db import Database
from gateway.models import Answer, DirtyCell
from gateway.queueing import QUEUE_NAME
from gateway.tokens import create_token
from scoring.keys import refresh_job_id
from scoring.periods import quarter_bounds
from tests.africastalking import GOMA_POLICE_UNIT, INDICATORS, first_time_goma_police, play
from tests.conftest import env_for, run_worker_burst

pytestmark = pytest.mark.redis


def api_token(db: Database) -> str:
    with db.transaction() as session:
        _, token = create_token(session, "rbf-engine", provisional=True)
    return token


def scores(client: Any, token: str, period: str) -> list[dict[str, Any]]:
    response = client.get(
        f"/api/v1/scores?period={period}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    items: list[dict[str, Any]] = response.get_json()["items"]
    return items


def period_of(db: Database) -> str:
    with db.session() as session:
        return str(session.scalars(select(Answer.period).distinct()).one())


def test_session_to_score_through_a_real_worker(make_app, database_url, redis_url):
    app = make_app(redis_url, MIN_RESPONDENTS="1")
    client = app.test_client()
    db = app.extensions["gateway"].db
    hops = play(client, "+243970000001", first_time_goma_police(trust="4"))
    assert hops[-1][1].startswith("END ")
    period = period_of(db)
    queue = Queue(QUEUE_NAME, connection=Redis.from_url(redis_url))
    # One batch refresh of the quarter, queued by the first hop that stored answers; the later
    # hops found it queued (a unique job id) and added nothing.
    assert queue.job_ids == [refresh_job_id(period)]
    token = api_token(db)
    assert scores(client, token, period) == []  # nothing computed until the worker runs

    run_worker_burst(env_for(database_url, redis_url))

    items = scores(client, token, period)
    assert [i["level"] for i in items] == ["province", "territory", "collectivity", "unit"]
    item = items[-1]
    assert item["type"] == "police"
    assert item["unit"]["code"] == GOMA_POLICE_UNIT
    assert item["location"] == {
        "code": "NK-V-GOM-GOM",
        "name": "Commune de Goma",
        "level": "collectivity",
        "parent": "NK-V-GOM",
    }
    assert sorted(i["code"] for i in item["indicators"]) == sorted(INDICATORS)
    (trust,) = [i for i in item["indicators"] if i["code"] == "trust"]
    assert (item["respondents"], trust["mean"], trust["score"]) == (1, 4.0, 100.0)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DirtyCell)) == 0
    # The worker also scheduled, with RQ's scheduler, the move of this quarter to review at its end.
    scheduled = ScheduledJobRegistry(queue=queue)  # type: ignore[no-untyped-call]
    assert f"review-{period}" in scheduled.get_job_ids()
    when = scheduled.get_scheduled_time(f"review-{period}")
    assert when == quarter_bounds(period)[1].astimezone(UTC).replace(tzinfo=None) or \
        when.replace(tzinfo=UTC) == quarter_bounds(period)[1]


def test_answers_survive_a_stopped_redis_and_scores_catch_up_after_the_sweeper(
    make_app, database_url, private_redis
):
    app = make_app(private_redis.url, MIN_RESPONDENTS="1", ENQUEUE_TIMEOUT="0.2")
    client = app.test_client()
    db = app.extensions["gateway"].db
    private_redis.stop()

    started = time.monotonic()
    hops = play(client, "+243970000001", first_time_goma_police(trust="4"))
    hops += play(client, "+243970000002", first_time_goma_police(trust="2"))
    elapsed = time.monotonic() - started
    assert all(status == 200 for status, _ in hops)
    assert hops[-1][1].startswith("END Merci")
    assert elapsed < 10  # a stopped Redis costs a short timeout at most, never a hung hop
    queue = app.extensions["gateway"].queue
    assert queue.failures >= 1  # the enqueue failed...
    with db.session() as session:  # ...but the answers and their dirty marks are stored
        assert session.scalar(select(func.count()).select_from(Answer)) == 2 * len(INDICATORS)
        assert session.scalar(select(func.count()).select_from(DirtyCell)) == len(INDICATORS)
    period = period_of(db)
    token = api_token(db)
    assert scores(client, token, period) == []

    private_redis.start()  # back, and empty
    env = env_for(database_url, private_redis.url)
    # The worker enqueues the sweeper at start; the sweeper enqueues the quarter's batch refresh;
    # the same burst runs both before the queue is empty.
    result = run_worker_burst(env)
    assert f"sweep: {period} has {len(INDICATORS)} dirty cells; refresh enqueued" in result.stderr

    items = scores(client, token, period)
    assert len(items) == 4  # the unit and its three parents
    for item in items:
        (trust,) = [i for i in item["indicators"] if i["code"] == "trust"]
        assert (item["respondents"], trust["respondents"], trust["mean"]) == (2, 2, 3.0)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DirtyCell)) == 0


def test_a_locked_quarter_is_pushed_by_a_real_worker(make_app, database_url, redis_url):
    from gateway.models import Delivery
    from gateway.push import verify_signature
    from gateway.quarters import move_to_review
    from gateway.synth import generate
    from tests.test_rbf_api import SECRET, Receiver

    receiver = Receiver()
    try:
        hooks = {"RBF_WEBHOOK_URLS": receiver.url, "RBF_WEBHOOK_SECRET": SECRET}
        app = make_app(redis_url, **hooks)
        db = app.extensions["gateway"].db
        generate(db, "2026Q3", 300, seed=6)
        with db.transaction() as session:
            move_to_review(session, "2026Q3", datetime.now(UTC))
        locked = app.test_cli_runner().invoke(args=["quarter", "lock", "2026Q3"])
        assert "1 pushes to the RBF engine queued" in locked.output
        assert receiver.received == []  # queued in Redis, not sent by the web process
        run_worker_burst(env_for(database_url, redis_url, **hooks))
        assert len(receiver.received) == 1
        headers, body = receiver.received[0]
        assert verify_signature(SECRET, headers["X-Gateway-Signature"], body)
        with db.session() as session:
            assert session.scalars(select(Delivery.status)).one() == "delivered"
    finally:
        receiver.close()
