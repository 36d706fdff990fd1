"""Aggregation: answers -> cell counts for every level of the tree, in SQL, never answer by answer.

Rules (DESIGN §6):
- one `GROUP BY unit, indicator, value` over the period's countable answers gives the unit cells;
  the database does the pass over answers, Python only ever holds per-unit counts (a few thousand
  rows whatever the number of answers);
- parents (collectivity, territory, province) are the sums of the unit cells under them: a
  respondent has one countable answer per period x type x indicator, so nobody is counted twice
  and no COUNT(DISTINCT) is needed;
- a full recompute and any sequence of incremental refreshes write the same rows, because both
  roll up from unit cells with `rollup`, and both delete cells whose counts fell to zero;
- writers of a period's cells serialise on one lock (PostgreSQL advisory lock; SQLite's
  BEGIN IMMEDIATE already does), taken before any cell is written: the last writer always sees
  every committed unit cell, and refreshes and full recomputes cannot deadlock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from gateway.db import insert_for
from gateway.models import Answer, InstitutionUnit, Location
from gateway.models import Cell as CellRow
from scoring.stats import Counts


@dataclass(frozen=True)
class Place:
    id: int
    code: str
    level: str
    parent_id: int | None


@dataclass(frozen=True)
class UnitInfo:
    id: int
    code: str
    type: str
    location_id: int


@dataclass(frozen=True)
class Tree:
    places: dict[int, Place]
    units: dict[int, UnitInfo]

    def ancestors(self, location_id: int) -> list[Place]:
        """The location itself, then its parents up to the province."""
        out = []
        current: int | None = location_id
        while current is not None and current in self.places:
            out.append(self.places[current])
            current = self.places[current].parent_id
        return out


@dataclass(frozen=True)
class CellKey:
    period: str
    level: str
    code: str  # the unit code at unit level, the location code above
    institution_type: str
    indicator: str

    @property
    def text(self) -> str:
        return "|".join((self.period, self.level, self.code, self.institution_type, self.indicator))


@dataclass(frozen=True)
class CellData:
    key: CellKey
    location_id: int
    unit_id: int | None
    counts: Counts


def load_tree(session: Session) -> Tree:
    places = {row.id: Place(row.id, row.code, row.level, row.parent_id)
              for row in session.execute(select(Location.id, Location.code, Location.level,
                                                Location.parent_id))}
    units = {row.id: UnitInfo(row.id, row.code, row.type, row.location_id)
             for row in session.execute(select(InstitutionUnit.id, InstitutionUnit.code,
                                               InstitutionUnit.type, InstitutionUnit.location_id))}
    return Tree(places, units)


def unit_counts(
    session: Session, period: str, unit_id: int | None = None, indicator: str | None = None
) -> Iterator[tuple[int, str, Counts]]:
    """(unit id, indicator, counts) from one GROUP BY over the countable answers."""
    stmt = (
        select(Answer.unit_id, Answer.indicator, Answer.value, func.count())
        .where(Answer.period == period)
        .group_by(Answer.unit_id, Answer.indicator, Answer.value)
        .order_by(Answer.unit_id, Answer.indicator)
    )
    if unit_id is not None:
        stmt = stmt.where(Answer.unit_id == unit_id)
    if indicator is not None:
        stmt = stmt.where(Answer.indicator == indicator)
    current: tuple[int, str] | None = None
    values: dict[int, int] = {}
    dont_know = 0
    for uid, ind, value, n in session.execute(stmt):
        if current is not None and (uid, ind) != current:
            yield current[0], current[1], Counts(values, dont_know)
            values, dont_know = {}, 0
        current = (uid, ind)
        if value is None:
            dont_know += int(n)
        else:
            values[int(value)] = int(n)
    if current is not None:
        yield current[0], current[1], Counts(values, dont_know)


def unit_cell(period: str, tree: Tree, unit_id: int, indicator: str, counts: Counts) -> CellData:
    unit = tree.units[unit_id]
    key = CellKey(period, "unit", unit.code, unit.type, indicator)
    return CellData(key, unit.location_id, unit_id, counts)


def rollup(period: str, tree: Tree, unit_cells: Iterable[CellData]) -> list[CellData]:
    """Every parent cell, summed from the unit cells under it."""
    sums: dict[tuple[int, str, str], Counts] = {}
    for cell in unit_cells:
        for place in tree.ancestors(cell.location_id):
            key = (place.id, cell.key.institution_type, cell.key.indicator)
            sums[key] = sums[key] + cell.counts if key in sums else cell.counts
    out = []
    for (place_id, kind, indicator), counts in sums.items():
        place = tree.places[place_id]
        out.append(CellData(CellKey(period, place.level, place.code, kind, indicator),
                            place_id, None, counts))
    return out


def lock_period(session: Session, period: str) -> None:
    """Serialise roll-up writers of one period (a no-op on SQLite, already serialised)."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"cells:{period}".encode()).digest()[:8], "big",
                             signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def encode_counts(counts: Counts) -> str:
    return json.dumps({str(v): n for v, n in sorted(counts.values.items())},
                      separators=(",", ":"))


def decode_counts(text_: str, dont_know: int) -> Counts:
    return Counts({int(v): int(n) for v, n in json.loads(text_).items()}, dont_know)


def _row_values(cell: CellData, now: datetime) -> dict[str, object]:
    return {
        "period": cell.key.period,
        "level": cell.key.level,
        "location_id": cell.location_id,
        "unit_id": cell.unit_id,
        "institution_type": cell.key.institution_type,
        "indicator": cell.key.indicator,
        "counts": encode_counts(cell.counts),
        "respondents": cell.counts.respondents,
        "dont_know": cell.counts.dont_know,
        "computed_at": now,
    }


def write_cells(session: Session, cells: Iterable[CellData], now: datetime) -> int:
    """Upsert cells in one statement; a cell with no answer left is deleted (a full recompute
    would not have it). `computed_at` changes only when the numbers do, so an unchanged cell stays
    byte-identical."""
    rows, empty = [], []
    for cell in cells:
        if cell.counts.respondents == 0 and cell.counts.dont_know == 0:
            empty.append(cell.key.text)
        else:
            rows.append({"key": cell.key.text, **_row_values(cell, now)})
    if empty:
        session.execute(delete(CellRow).where(CellRow.key.in_(empty)))
    if rows:
        stmt = insert_for(session, CellRow)
        changed = {k: getattr(stmt.excluded, k) for k in rows[0] if k not in ("key",)}
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"], set_=changed,
            where=(CellRow.counts != stmt.excluded.counts)
            | (CellRow.dont_know != stmt.excluded.dont_know),
        )
        session.execute(stmt, rows)
    return len(rows)


def stored_unit_cells(
    session: Session, period: str, tree: Tree, institution_type: str | None = None,
    indicator: str | None = None,
) -> list[CellData]:
    stmt = select(CellRow.unit_id, CellRow.indicator, CellRow.counts, CellRow.dont_know).where(
        CellRow.period == period, CellRow.level == "unit")
    if institution_type is not None:
        stmt = stmt.where(CellRow.institution_type == institution_type)
    if indicator is not None:
        stmt = stmt.where(CellRow.indicator == indicator)
    return [unit_cell(period, tree, int(uid or 0), ind, decode_counts(counts, int(dk)))
            for uid, ind, counts, dk in session.execute(stmt)]


def refresh_unit(session: Session, period: str, tree: Tree, unit_id: int, indicator: str, *,
                 now: datetime) -> Counts:
    """Incremental: recompute one unit cell from its answers, then the parents above that unit.

    The period lock comes first, before any cell row is written, so a refresh and a full recompute
    always lock in the same order (no deadlock)."""
    lock_period(session, period)
    found = list(unit_counts(session, period, unit_id, indicator))
    counts = found[0][2] if found else Counts({}, 0)
    write_cells(session, [unit_cell(period, tree, unit_id, indicator, counts)], now)
    unit = tree.units[unit_id]
    parents = {c.key.code: c for c in rollup(
        period, tree, stored_unit_cells(session, period, tree, unit.type, indicator))}
    empty = Counts({}, 0)
    write_cells(session, [
        parents.get(place.code) or CellData(
            CellKey(period, place.level, place.code, unit.type, indicator), place.id, None, empty)
        for place in tree.ancestors(unit.location_id)
    ], now)
    return counts


def recompute_period(session: Session, period: str, now: datetime,
                     progress: Callable[[int], None] | None = None) -> int:
    """Full recompute: every cell of the period from one GROUP BY; returns the cells written."""
    tree = load_tree(session)
    lock_period(session, period)
    units = []
    for unit_id, indicator, counts in unit_counts(session, period):
        units.append(unit_cell(period, tree, unit_id, indicator, counts))
        if progress is not None:
            progress(1)
    cells = units + rollup(period, tree, units)
    keep = {cell.key.text for cell in cells}
    stale = set(session.scalars(select(CellRow.key).where(CellRow.period == period))) - keep
    if stale:
        session.execute(delete(CellRow).where(CellRow.key.in_(stale)))
    return write_cells(session, cells, now)
