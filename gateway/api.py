"""The RBF API, `/api/v1/...`, behind `Authorization: Bearer <token>`.

Rules:
- only the Authorization header authenticates; a token in the query string is refused (it would
  end up in proxy logs) and cookies are never read here;
- 401 with `WWW-Authenticate` without or with a wrong token; 403 outside the token's scope;
  400 naming the field for bad input; 404 for a quarter without answers or an unknown place;
- a locked quarter is served from its snapshot, byte for byte what was frozen; an open or
  in-review quarter is computed from the cells, marked `provisional`, and only for tokens allowed
  to see provisional figures;
- small cells keep their counts and carry null values (`scoring.report`);
- lists are in a stable order, paged (`page`, `per_page`), with a strong ETag: a client that
  sends `If-None-Match` gets a 304 when nothing changed;
- responses never contain a phone number or a respondent id;
- `/api/v1/openapi.json` describes every route, and tests hold the responses to it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.dhis2 import data_values, to_csv
from gateway.models import ApiToken, Cell, InstitutionUnit, Location, Period
from gateway.openapi import openapi_document
from gateway.places import Tree, place_tree, subtree
from gateway.quarters import LOCKED, latest_snapshot
from gateway.scores import period_items
from gateway.state import current_gateway
from gateway.tokens import verify
from scoring.periods import is_period
from scoring.report import LEVELS

bp = Blueprint("api", __name__, url_prefix="/api/v1")
F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_PAGE, MAX_PAGE = 500, 5000


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


@dataclass
class Published:
    """A quarter's items as this token may see them, and the header that goes with them."""

    head: dict[str, Any]
    items: list[dict[str, Any]]
    allowed: set[str] | None  # place codes of the token's province, or None for all
    tree: Tree


def _scope(session: Session, token: ApiToken) -> tuple[Tree, set[str] | None]:
    """The place tree, and the codes this token may see (None: all)."""
    tree = place_tree(session)
    return tree, (subtree(tree, token.province_code) if token.province_code else None)


def _published(token: ApiToken, period: str, *, kind: str | None = None,
               level: str | None = None, location: str | None = None) -> Published | Response:
    """Resolve a quarter for a token: the locked snapshot, or provisional items if allowed.
    Provisional items are computed only for the type, level and place subtree asked for (the
    caller filters a snapshot's items the same way)."""
    gw = current_gateway()
    with gw.db.session() as session:
        tree, allowed = _scope(session, token)
        row = session.scalars(select(Period).where(Period.code == period)).first()
        if row is None:
            return problem(404, "no answers for this quarter", "period")
        if row.status == LOCKED:
            snapshot = latest_snapshot(session, period)
            assert snapshot is not None
            document = json.loads(snapshot.document)
            head = {"period": period, "status": LOCKED, "provisional": False,
                    "version": snapshot.version, "method_version": snapshot.method_version,
                    "generated_at": document["locked_at"],
                    # the threshold the numbers were suppressed with, not today's
                    "min_respondents": document["thresholds"]["min_respondents"]}
            return Published(head, document["items"], allowed, tree)
        if not token.provisional:
            return problem(403, f"{period} is {row.status}: provisional figures need a token "
                                "created with --provisional", "period")
        computed = session.scalar(select(func.max(Cell.computed_at)).where(Cell.period == period))
        head = {"period": period, "status": row.status, "provisional": True, "version": None,
                "method_version": gw.method.version,
                "min_respondents": gw.method.min_respondents,
                "generated_at": (computed or row.opened_at).isoformat(timespec="seconds")}
        places = subtree(tree, location) if location is not None else None
        if allowed is not None:
            places = allowed if places is None else places & allowed
        items = period_items(session, period, gw.method, kind=kind, level=level, places=places)
        return Published(head, items, allowed, tree)


def _page_args() -> tuple[int, int] | Response:
    try:
        page = int(request.args.get("page", "1"))
        per_page = int(request.args.get("per_page", str(DEFAULT_PAGE)))
    except ValueError:
        return problem(400, "page and per_page are whole numbers", "page")
    if page < 1:
        return problem(400, "page starts at 1", "page")
    if not 1 <= per_page <= MAX_PAGE:
        return problem(400, f"per_page is between 1 and {MAX_PAGE}", "per_page")
    return page, per_page


def _cached_json(body: dict[str, Any]) -> Response:
    """JSON with a strong ETag over its bytes; 304 when the client already has them."""
    data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    tag = hashlib.sha256(data).hexdigest()[:32]
    if request.if_none_match.contains(tag):
        response = Response(status=304)
    else:
        response = Response(data, mimetype="application/json")
    response.set_etag(tag)
    return response


@bp.get("/periods")
@require_token
def periods() -> Response:
    with current_gateway().db.session() as session:
        rows = session.scalars(select(Period).order_by(Period.code)).all()
        items = [{"period": r.code, "status": r.status,
                  "locked_at": r.locked_at.isoformat(timespec="seconds") if r.locked_at else None,
                  "version": r.snapshot_version} for r in rows]
    return _cached_json({"items": items})


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
    paging = _page_args()
    if isinstance(paging, Response):
        return paging
    location = args.get("location")
    if location is not None:
        with gw.db.session() as session:
            if session.scalar(select(Location.id).where(Location.code == location)) is None:
                return problem(404, "no place has this code", "location")
    published = _published(token, period, kind=kind, level=level, location=location)
    if isinstance(published, Response):
        return published
    if location is not None and published.allowed is not None and location not in published.allowed:
        return problem(403, "this token is limited to another province", "location")
    wanted = subtree(published.tree, location) if location is not None else None
    items = [
        item for item in published.items
        if (kind is None or item["type"] == kind)
        and (level is None or item["level"] == level)
        and (wanted is None or item["location"]["code"] in wanted)
        and (published.allowed is None or item["location"]["code"] in published.allowed)
    ]
    page, per_page = paging
    return _cached_json({**published.head,
                         "page": page, "per_page": per_page, "total": len(items),
                         "items": items[(page - 1) * per_page: page * per_page]})


@bp.get("/units")
@require_token
def units() -> Response:
    token: ApiToken = g.api_token
    with current_gateway().db.session() as session:
        _, allowed = _scope(session, token)
        rows = session.execute(
            select(InstitutionUnit, Location).join(Location,
                                                   Location.id == InstitutionUnit.location_id)
            .order_by(InstitutionUnit.type, InstitutionUnit.code)).all()
        items = [{"code": u.code, "name": u.name, "type": u.type, "active": u.active,
                  "illustrative": u.illustrative,
                  "location": {"code": loc.code, "name": loc.name, "level": loc.level}}
                 for u, loc in rows if allowed is None or loc.code in allowed]
    return _cached_json({"items": items})


@bp.get("/dhis2/dataValueSets")
@require_token
def data_value_sets() -> Response:
    token: ApiToken = g.api_token
    period = request.args.get("period", "").strip()
    if not is_period(period):
        return problem(400, "period must be a quarter written YYYYQn, e.g. 2026Q4", "period")
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv"):
        return problem(400, "format is json or csv", "format")
    published = _published(token, period)
    if isinstance(published, Response):
        return published
    items = [i for i in published.items
             if published.allowed is None or i["location"]["code"] in published.allowed]
    values = data_values(items, period, current_gateway().dhis2, "feedback-gateway",
                         str(published.head["generated_at"]))
    if fmt == "csv":
        provisional = bool(published.head["provisional"])
        name = f"{period}-provisional" if provisional else f"{period}-v{published.head['version']}"
        response = Response(to_csv(values), mimetype="text/csv")
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        response.headers["X-Provisional"] = "true" if provisional else "false"
        return response
    return _cached_json({"dataSet": current_gateway().dhis2.data_set, "period": period,
                         "provisional": published.head["provisional"],
                         "version": published.head["version"], "dataValues": values})


@bp.get("/openapi.json")
def openapi() -> Response:
    """The API's description; public, so an RBF engine can discover it before it has a token."""
    return jsonify(openapi_document())
