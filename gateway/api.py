"""The RBF API, `/api/v1/...`, behind `Authorization: Bearer <token>`.

Rules:
- only the Authorization header authenticates; a token in the query string is refused (it would
  end up in proxy logs) and cookies are never read here;
- 401 with `WWW-Authenticate` without or with a wrong token; 400 naming the field for bad input;
- small cells (fewer than MIN_RESPONDENTS answers) keep their counts and carry null values;
- responses never contain a phone number or a respondent id.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import aliased

from gateway.models import InstitutionUnit, Location, Score
from gateway.state import current_gateway
from gateway.tokens import verify
from scoring.periods import is_period

bp = Blueprint("api", __name__, url_prefix="/api/v1")
F = TypeVar("F", bound=Callable[..., Any])


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
            g.api_token_id = row.id
        return view(*args, **kwargs)

    return cast(F, wrapper)


@bp.get("/scores")
@require_token
def scores() -> Response:
    period = request.args.get("period", "").strip()
    if not is_period(period):
        return problem(400, "period must be a quarter written YYYYQn, e.g. 2026Q4", "period")
    gw = current_gateway()
    minimum = gw.settings.min_respondents
    loc = aliased(Location)
    with gw.db.session() as session:
        rows = session.execute(
            select(Score, InstitutionUnit, loc)
            .join(InstitutionUnit, InstitutionUnit.id == Score.unit_id)
            .join(loc, loc.id == InstitutionUnit.location_id)
            .where(Score.period == period)
            .order_by(InstitutionUnit.type, loc.code, InstitutionUnit.code, Score.indicator)
        ).all()
    items = []
    for score, unit, location in rows:
        suppressed = score.respondents < minimum
        items.append(
            {
                "type": unit.type,
                "level": "unit",
                "location": {"code": location.code, "name": location.name, "level": location.level},
                "unit": {"code": unit.code, "name": unit.name},
                "indicator": score.indicator,
                "respondents": score.respondents,
                "dont_know": score.dont_know,
                "suppressed": suppressed,
                "mean": None if suppressed or score.mean is None else round(score.mean, 4),
            }
        )
    return jsonify(
        {
            "period": period,
            "status": "open",
            "provisional": True,
            "min_respondents": minimum,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "items": items,
        }
    )
