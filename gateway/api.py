"""The RBF API, `/api/v1/...`, behind `Authorization: Bearer <token>`.

Rules:
- only the Authorization header authenticates; a token in the query string is refused (it would
  end up in proxy logs) and cookies are never read here;
- 401 with `WWW-Authenticate` without or with a wrong token; 403 outside the token's scope;
  400 naming the field for bad input; 404 for a quarter that has no answers;
- a locked quarter is served from its snapshot, byte for byte what was frozen; an open or
  in-review quarter is computed from the cells, marked `provisional`, and only for tokens allowed
  to see provisional figures;
- small cells keep their counts and carry null values (`scoring.report`);
- responses never contain a phone number or a respondent id.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy import select

from gateway.models import ApiToken, Location, Period
from gateway.quarters import LOCKED, latest_snapshot
from gateway.scores import period_items
from gateway.state import current_gateway
from gateway.tokens import verify
from scoring.periods import is_period

bp = Blueprint("api", __name__, url_prefix="/api/v1")
F = TypeVar("F", bound=Callable[..., Any])
LEVELS = ("province", "territory", "collectivity", "unit")


def problem(status: int, title: str, field: str | None = None) -> Response:
    body: dict[str, Any] = {"error": title}
    if field is not None:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="rbf"'
    return response


def require_token(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if any(k in request.args for k in ("token", "access_token", "api_key")):
            return problem(401, "tokens are accepted only in the Authorization header")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return problem(401, "missing bearer token")
        gw = current_gateway()
        with gw.db.transaction() as session:
            row = verify(session, token.strip())
            if row is None:
                return problem(401, "invalid or revoked token")
            session.expunge(row)
        g.api_token = row
        return view(*args, **kwargs)

    return cast(F, wrapper)


def _subtree(locations: list[tuple[str, str | None]], root: str) -> set[str]:
    """Codes of `root` and every place under it."""
    children: dict[str | None, list[str]] = {}
    for code, parent in locations:
        children.setdefault(parent, []).append(code)
    found, stack = set(), [root]
    while stack:
        code = stack.pop()
        found.add(code)
        stack.extend(children.get(code, []))
    return found


@bp.get("/scores")
@require_token
def scores() -> Response:
    token: ApiToken = g.api_token
    args = request.args
    period = args.get("period", "").strip()
    if not is_period(period):
        return problem(400, "period must be a quarter written YYYYQn, e.g. 2026Q4", "period")
    gw = current_gateway()
    kind = args.get("type")
    if kind is not None and kind not in gw.method.types:
        return problem(400, f"type must be one of {', '.join(gw.method.types)}", "type")
    level = args.get("level")
    if level is not None and level not in LEVELS:
        return problem(400, f"level must be one of {', '.join(LEVELS)}", "level")
    with gw.db.session() as session:
        places = [(c, p) for c, p in session.execute(
            select(Location.code, Location.parent_id))]  # parent ids, resolved below
        codes = dict(session.execute(select(Location.id, Location.code)).all())
        tree = [(code, codes.get(parent) if parent else None) for code, parent in places]
        location = args.get("location")
        if location is not None and location not in codes.values():
            return problem(400, "unknown location code", "location")
        allowed = _subtree(tree, token.province_code) if token.province_code else None
        if location is not None and allowed is not None and location not in allowed:
            return problem(403, "this token is limited to another province", "location")
        row = session.scalars(select(Period).where(Period.code == period)).first()
        if row is None:
            return problem(404, "no answers for this quarter", "period")
        if row.status == LOCKED:
            snapshot = latest_snapshot(session, period)
            assert snapshot is not None
            document = json.loads(snapshot.document)
            items = document["items"]
            head = {"period": period, "status": LOCKED, "provisional": False,
                    "version": snapshot.version, "method_version": snapshot.method_version,
                    "generated_at": document["locked_at"]}
        else:
            if not token.provisional:
                return problem(403, f"{period} is {row.status}: provisional figures need a token "
                                    "created with --provisional", "period")
            items = period_items(session, period, gw.method)
            head = {"period": period, "status": row.status, "provisional": True, "version": None,
                    "method_version": gw.method.version,
                    "generated_at": datetime.now(UTC).isoformat(timespec="seconds")}
    wanted = _subtree(tree, location) if location is not None else None
    items = [
        item for item in items
        if (kind is None or item["type"] == kind)
        and (level is None or item["level"] == level)
        and (wanted is None or item["location"]["code"] in wanted)
        and (allowed is None or item["location"]["code"] in allowed)
    ]
    return jsonify({**head, "min_respondents": gw.method.min_respondents, "items": items})
