"""Reading scores: cells of a period, with their places and units, into published items.

Rules:
- an item is built from the cells of one (level, place, type) group only, so narrowing the cells
  by type and level (in the query) or place code (as rows are read) gives exactly the items that
  filtering the full list would, at the cost of the cells asked for (an API client polling one
  place does not pay for the intervals of the whole quarter on the web workers that answer USSD
  hops).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from gateway.models import Cell, InstitutionUnit, Location
from scoring.aggregate import decode_counts
from scoring.report import CellInput, Method, Node, Place, build_items


def period_items(session: Session, period: str, method: Method, *, kind: str | None = None,
                 level: str | None = None, places: Collection[str] | None = None,
                 ) -> list[dict[str, Any]]:
    """The period's items, in publishing order; `kind`, `level` and `places` (place codes) keep
    only the items of that type, level and places (None: all)."""
    place = aliased(Location)
    parent = aliased(Location)
    query = (
        select(Cell.level, Cell.institution_type, Cell.indicator, Cell.counts, Cell.dont_know,
               place.code, place.name, place.level, parent.code,
               InstitutionUnit.code, InstitutionUnit.name)
        .join(place, place.id == Cell.location_id)
        .outerjoin(parent, parent.id == place.parent_id)
        .outerjoin(InstitutionUnit, InstitutionUnit.id == Cell.unit_id)
        .where(Cell.period == period)
    )
    if kind is not None:
        query = query.where(Cell.institution_type == kind)
    if level is not None:
        query = query.where(Cell.level == level)
    rows: Iterable[Any] = session.execute(query)
    if places is not None:  # as rows are read: a province's subtree is thousands of codes
        rows = (row for row in rows if row[5] in places)
    cells = [
        CellInput(Node(cell_level, Place(code, name, place_level, parent_code), unit_code,
                       unit_name), cell_type, indicator, decode_counts(counts, dont_know))
        for (cell_level, cell_type, indicator, counts, dont_know, code, name, place_level,
             parent_code, unit_code, unit_name) in rows
    ]
    return build_items(cells, method)
