"""Staff pages on scores: the table with intervals and trend, benchmarking, quarter review and
lock, the printable scorecard and the CSV export (`/staff/...`, under `gateway.staff`'s rules).

Rules:
- a locked quarter shows its published snapshot (never recomputed); an open or in-review quarter
  shows the live cells, labelled provisional;
- suppression is the published one: below MIN_RESPONDENTS a row shows its count, not its values,
  on pages and in exports alike;
- a province-limited account sees only its province's places;
- only reviewers and admins without a province limit move a quarter to review or lock it (it
  freezes every province at once); locking asks for a confirmation that shows what will be
  frozen; both are in the audit log;
- intervals are drawn as server-rendered SVG error bars (no script), on the 0-100 score scale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from gateway.accounts import audit
from gateway.models import INSTITUTION_TYPES, IntegrityFlag, Location, Period
from gateway.places import places_under
from gateway.quarters import LOCKED, LifecycleError, latest_snapshot, lock, move_to_review
from gateway.scores import period_items
from gateway.staff import current_staff, load_staff, login_required, staff_headers
from gateway.state import current_gateway
from scoring.aggregate import recompute_period
from scoring.periods import PERIOD_RE, quarter_bounds, quarter_of

bp = Blueprint("staff_scores", __name__, url_prefix="/staff")
bp.before_request(load_staff)
bp.after_request(staff_headers)
LEVEL_NAMES = ("province", "territory", "collectivity", "unit")
TREND_QUARTERS = 4


@dataclass
class Quarter:
    period: str
    status: str
    provisional: bool
    version: int | None
    sha256: str | None
    method_version: str | None
    items: list[dict[str, Any]]


def _period_arg() -> str:
    period = request.args.get("period") or quarter_of(datetime.now(UTC))
    if not PERIOD_RE.fullmatch(period):
        abort(400)
    try:
        quarter_bounds(period)
    except (ValueError, OverflowError):
        abort(400)
    return period


def load_quarter(session: Session, period: str, allowed: set[str] | None) -> Quarter:
    """A quarter's items, only those of the `allowed` places when given (`places_under`)."""
    row = session.scalars(select(Period).where(Period.code == period)).first()
    status = row.status if row else "open"
    if row is not None and row.status == LOCKED:
        snapshot = latest_snapshot(session, period)
        assert snapshot is not None
        document = json.loads(snapshot.document)
        quarter = Quarter(period, status, False, snapshot.version, snapshot.sha256,
                          snapshot.method_version, document["items"])
    else:
        gw = current_gateway()
        quarter = Quarter(period, status, True, None, None, gw.method.version,
                          period_items(session, period, gw.method))
    if allowed is not None:
        quarter.items = [i for i in quarter.items if i["location"]["code"] in allowed]
    return quarter


def _key(item: dict[str, Any]) -> tuple[str, str, str, str]:
    unit = item["unit"]["code"] if item.get("unit") else ""
    return (item["level"], item["location"]["code"], unit, item["type"])


def _trends(session: Session, period: str, allowed: set[str] | None,
            keys: set[tuple[str, str, str, str]]) -> dict[tuple[str, str, str, str],
                                                          list[tuple[str, float | None]]]:
    """Each row's score in the quarters before `period` that have answers (oldest first)."""
    earlier = list(session.scalars(select(Period.code).where(Period.code < period)
                                   .order_by(Period.code.desc()).limit(TREND_QUARTERS - 1)))
    trends: dict[tuple[str, str, str, str], list[tuple[str, float | None]]] = {k: [] for k in keys}
    for code in reversed(earlier):
        scores = {_key(i): i.get("score") for i in load_quarter(session, code, allowed).items}
        for key in keys:
            trends[key].append((code, scores.get(key)))
    return trends


def _filtered(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str, str]:
    kind = request.args.get("type", "police")
    level = request.args.get("level", "collectivity")
    if kind not in INSTITUTION_TYPES or level not in LEVEL_NAMES:
        abort(400)
    return [i for i in items if i["type"] == kind and i["level"] == level], kind, level


@bp.get("/scores")
@login_required()
def scores() -> str:
    return _table(ranked=False)


@bp.get("/benchmark")
@login_required()
def benchmark() -> str:
    return _table(ranked=True)


def _table(*, ranked: bool) -> str:
    staff = current_staff()
    assert staff is not None
    period = _period_arg()
    with current_gateway().db.session() as session:
        allowed = places_under(session, staff.province_code)
        quarter = load_quarter(session, period, allowed)
        rows, kind, level = _filtered(quarter.items)
        if ranked:  # the Conseils de Securite compare scores; too few answers go last
            rows.sort(key=lambda i: (i["score"] is None, -(i["score"] or 0),
                                     i["location"]["name"]))
        trends = _trends(session, period, allowed, {_key(i) for i in rows})
    return render_template("staff/scores.html", quarter=quarter, rows=rows, kind=kind,
                           level=level, ranked=ranked, trends=trends, key=_key,
                           types=INSTITUTION_TYPES, levels=LEVEL_NAMES)


@bp.get("/quarters")
@login_required()
def quarters() -> str:
    with current_gateway().db.session() as session:
        rows = session.scalars(select(Period).order_by(Period.code.desc())).all()
        periods = [(p.code, p.status, p.review_at, p.locked_at, p.snapshot_version) for p in rows]
    return render_template("staff/quarters.html", periods=periods)


@bp.post("/quarters/<period>/review")
@login_required("admin", "reviewer")
def review(period: str) -> BaseResponse:
    staff = current_staff()
    assert staff is not None
    if staff.province_code:  # a quarter is reviewed and locked for every province at once
        abort(403)
    now = datetime.now(UTC)
    try:
        with current_gateway().db.transaction() as session:
            move_to_review(session, period, now)
            audit(session, staff, "quarter.review", period, now)
        flash(_("%(period)s is in review.", period=period))
    except LifecycleError as exc:
        flash(str(exc))
    return redirect(url_for("staff_scores.quarters"))


@bp.route("/quarters/<period>/lock", methods=["GET", "POST"])
@login_required("admin", "reviewer")
def lock_quarter(period: str) -> BaseResponse | str:
    staff = current_staff()
    assert staff is not None
    if staff.province_code:  # locking freezes every province: not for a province account
        abort(403)
    gw = current_gateway()
    if not PERIOD_RE.match(period):
        abort(404)
    if request.method == "POST":
        if request.form.get("confirm") != period:
            flash(_("Type the quarter's code to confirm the lock."))
            return redirect(url_for("staff_scores.lock_quarter", period=period))
        now = datetime.now(UTC)
        try:
            with gw.db.transaction() as session:
                snapshot = lock(session, period, gw.method, now, gw.settings.rbf_webhook_urls)
                audit(session, staff, "quarter.lock", period, now, version=snapshot.version,
                      sha256=snapshot.sha256)
                version = snapshot.version
        except LifecycleError as exc:
            flash(str(exc))
            return redirect(url_for("staff_scores.quarters"))
        _push_and_announce(period, version)
        return redirect(url_for("staff_scores.quarters"))
    with gw.db.session() as session:
        row = session.scalars(select(Period).where(Period.code == period)).first()
        if row is None:
            abort(404)
        status = row.status
        # What lock() will freeze: the same recompute, then rolled back (nothing is written).
        recompute_period(session, period, datetime.now(UTC))
        items = period_items(session, period, gw.method)
        session.rollback()
        flags = session.scalar(select(func.count()).select_from(IntegrityFlag)
                               .where(IntegrityFlag.period == period)) or 0
    summary = {
        "items": len(items),
        "suppressed": sum(1 for i in items if i["suppressed"]),
        "respondents": max((i["respondents"] for i in items if i["level"] == "province"),
                           default=0),
        "flags": flags,
        "method": gw.method.version,
        "thresholds": gw.method.thresholds(),
        "pushes": len(gw.settings.rbf_webhook_urls),
    }
    ended = datetime.now(UTC) >= quarter_bounds(period)[1]
    return render_template("staff/lock.html", period=period, status=status,
                           summary=summary, ended=ended)


def _push_and_announce(period: str, version: int) -> None:
    from gateway.models import Delivery
    from gateway.push import DELIVER

    gw = current_gateway()
    with gw.db.session() as session:
        pushes = list(session.scalars(select(Delivery.id).where(
            Delivery.period == period, Delivery.version == version)))
    for pk in pushes:
        gw.queue.enqueue(DELIVER, pk, job_id=f"delivery-{pk}")
    flash(_("%(period)s is locked: snapshot version %(version)d.", period=period,
            version=version))


@bp.get("/scorecard/<period>/<location>")
@login_required()
def scorecard(period: str, location: str) -> str:
    """One printable page, in French whatever the page language (it goes to the Conseil)."""
    staff = current_staff()
    assert staff is not None
    if not PERIOD_RE.match(period):
        abort(404)
    with current_gateway().db.session() as session:
        place = session.scalars(select(Location).where(Location.code == location)).first()
        if place is None:
            abort(404)
        quarter = load_quarter(session, period, places_under(session, staff.province_code))
    items = {i["type"]: i for i in quarter.items
             if i["location"]["code"] == location and i["level"] != "unit"}
    units = [i for i in quarter.items if i["location"]["code"] == location
             and i["level"] == "unit"]
    if not items and not units and staff.province_code:
        abort(404)
    with force_locale("fr"):
        return render_template("staff/scorecard.html", quarter=quarter, place=place,
                               items=items, units=units, types=INSTITUTION_TYPES,
                               printed=datetime.now(UTC))
