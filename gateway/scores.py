"""Reading scores: cells of a period, with their places and units, into published items."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from gateway.models import Cell, InstitutionUnit, Location
from scoring.aggregate import decode_counts
from scoring.report import CellInput, Method, Node, Place, build_items


def period_items(session: Session, period: str, method: Method) -> list[dict[str, Any]]:
    place = aliased(Location)
    parent = aliased(Location)
    rows = session.execute(
        select(Cell.level, Cell.institution_type, Cell.indicator, Cell.counts, Cell.dont_know,
               place.code, place.name, place.level, parent.code,
               InstitutionUnit.code, InstitutionUnit.name)
        .join(place, place.id == Cell.location_id)
        .outerjoin(parent, parent.id == place.parent_id)
        .outerjoin(InstitutionUnit, InstitutionUnit.id == Cell.unit_id)
        .where(Cell.period == period)
    )
    cells = [
        CellInput(Node(level, Place(code, name, place_level, parent_code), unit_code, unit_name),
                  kind, indicator, decode_counts(counts, dont_know))
        for (level, kind, indicator, counts, dont_know, code, name, place_level, parent_code,
             unit_code, unit_name) in rows
    ]
    return build_items(cells, method)
