"""Health endpoints: `/healthz` (the process answers), `/readyz` (the database answers; Redis is
reported, not required, because the database is the source of truth) and `/metrics` (Prometheus,
see `gateway.metrics`).

None needs a login: they are for the platform's health checks and the operator's Prometheus on the
private network (keep `/metrics` off the public proxy), and none shows personal data.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from gateway.metrics import exposition
from gateway.migrate import current_revision, head_revision
from gateway.queueing import RedisJobQueue
from gateway.state import current_gateway

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    gw = current_gateway()
    checks: dict[str, str] = {}
    ready = True
    try:
        with gw.db.session() as session:
            session.execute(text("SELECT 1"))
        revision = current_revision(gw.db)
        if revision != head_revision():
            checks["database"] = f"schema at {revision}, run the release step"
            ready = False
        else:
            checks["database"] = "ok"
    except (SQLAlchemyError, OSError):
        checks["database"] = "unreachable"
        ready = False
    if isinstance(gw.queue, RedisJobQueue):
        checks["redis"] = "ok" if gw.queue.ping() else "unreachable (answers are still stored)"
    else:
        checks["redis"] = "not configured (jobs run in-process)"
    response = jsonify({"status": "ready" if ready else "not ready", "checks": checks})
    response.status_code = 200 if ready else 503
    return response


@bp.get("/metrics")
def metrics() -> Response:
    body, content_type = exposition(current_gateway(), request.headers.get("Accept"))
    return Response(body, content_type=content_type)
