"""CSV and XLSX exports of every staff table (`/staff/export/<table>.<csv|xlsx>`).

Rules: an export holds exactly what its page shows to this account (its province, its filters),
suppression included (withheld values are empty cells, the counts stay); every export is in the
audit log; files are built by `gateway.exports` (formula-safe cells).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, request
from sqlalchemy import select

from gateway.accounts import audit
from gateway.dashboard import overview
from gateway.exports import Table, to_csv, to_xlsx
from gateway.models import AuditEvent, Period
from gateway.places import places_under
from gateway.staff import current_staff, load_staff, login_required, staff_headers
from gateway.staff_inbox import feedback_rows, flag_rows, funnel_rows
from gateway.staff_scores import _filtered, _period_arg, load_quarter
from gateway.state import current_gateway

bp = Blueprint("staff_exports", __name__, url_prefix="/staff")
bp.before_request(load_staff)
bp.after_request(staff_headers)
FORMATS = {"csv": ("text/csv; charset=utf-8", to_csv),
           "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", to_xlsx)}


def _scores(period: str) -> tuple[Table, str]:
    staff = current_staff()
    assert staff is not None
    with current_gateway().db.session() as session:
        quarter = load_quarter(session, period, places_under(session, staff.province_code))
    rows, kind, level = _filtered(quarter.items)
    out = []
    for item in rows:
        ci = item.get("score_ci") or [None, None]
        improvement = item.get("improvement") or {}
        unit = item.get("unit") or {}
        out.append([quarter.period, quarter.status, quarter.provisional, item["type"],
                    item["level"], item["location"]["code"], item["location"]["name"],
                    unit.get("code"), unit.get("name"), item["respondents"], item["suppressed"],
                    item.get("score"), ci[0], ci[1], improvement.get("verdict"),
                    improvement.get("probability")])
    headers = ["period", "status", "provisional", "type", "level", "location_code", "location",
               "unit_code", "unit", "respondents", "suppressed", "score", "score_low",
               "score_high", "improvement_verdict", "improvement_probability"]
    return Table("scores", headers, out), f"scores-{period}-{kind}-{level}"


def _funnel(period: str) -> tuple[Table, str]:
    rows, total = funnel_rows(period)
    return Table("funnel", ["last_screen", "language", "sessions", "finished_there",
                            "dropped_there", "share"],
                 [[*row, round(row[2] / total, 4)] for row in rows]), f"funnel-{period}"


def _flags(period: str) -> tuple[Table, str]:
    staff = current_staff()
    if staff is not None and staff.province_code:
        abort(403)  # flags name cells of every province, as on the page
    return Table("flags", ["kind", "subject", "from", "to", "detail"],
                 [list(row) for row in flag_rows(period)]), f"flags-{period}"


def _feedback(_period: str) -> tuple[Table, str]:
    rows = [[item.id, item.created_at, item.category, item.language, place, code,
             item.institution_type, item.status, ", ".join(item.tags), item.text]
            for item, place, code in feedback_rows()]
    return Table("feedback", ["id", "received", "category", "language", "place", "place_code",
                              "institution", "status", "tags", "text"], rows), "feedback"


def _overview(period: str) -> tuple[Table, str]:
    staff = current_staff()
    assert staff is not None
    with current_gateway().db.session() as session:
        data = overview(session, period, staff.province_code)
    rows: list[list[Any]] = [["province", code, name, people, count, None, None]
                             for code, name, people, count in data.by_province]
    rows += [["language", row.language, row.language, None, None, row.sessions, row.completed]
             for row in data.by_language]
    return Table("overview", ["breakdown", "code", "name", "respondents", "answers",
                              "ussd_sessions", "completed"], rows), f"overview-{period}"


def _benchmark(period: str) -> tuple[Table, str]:
    table, name = _scores(period)
    ranked = sorted(table.rows, key=lambda r: (r[11] is None, -(r[11] or 0), str(r[6])))
    rows = [[i + 1 if r[11] is not None else None, *r] for i, r in enumerate(ranked)]
    return Table("benchmark", ["rank", *table.headers], rows), name.replace("scores", "benchmark")


def _quarters(_period: str) -> tuple[Table, str]:
    with current_gateway().db.session() as session:
        rows = [[p.code, p.status, p.opened_at, p.review_at, p.locked_at, p.snapshot_version]
                for p in session.scalars(select(Period).order_by(Period.code.desc()))]
    return Table("quarters", ["quarter", "status", "opened", "in_review_since", "locked",
                              "snapshot_version"], rows), "quarters"


def _audit(_period: str) -> tuple[Table, str]:
    staff = current_staff()
    if staff is None or not staff.is_admin:
        abort(403)
    with current_gateway().db.session() as session:
        rows = [[e.at, e.actor, e.action, e.subject]
                for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())
                                         .limit(10_000))]
    return Table("audit", ["at", "actor", "action", "subject"], rows), "audit-log"


TABLES = {"scores": _scores, "benchmark": _benchmark, "funnel": _funnel, "flags": _flags,
          "feedback": _feedback, "overview": _overview, "quarters": _quarters, "audit": _audit}


@bp.get("/export/<table>.<fmt>")
@login_required()
def export(table: str, fmt: str) -> Response:
    staff = current_staff()
    assert staff is not None
    if table not in TABLES or fmt not in FORMATS:
        abort(404)
    period = _period_arg()
    data, name = TABLES[table](period)
    mimetype, render = FORMATS[fmt]
    with current_gateway().db.transaction() as session:
        audit(session, staff, f"export.{table}", f"{name}.{fmt}", datetime.now(UTC),
              rows=len(data.rows), query=request.query_string.decode()[:150])
    return Response(render(data), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})
