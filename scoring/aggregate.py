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
- the query has no ORDER BY (hash aggregation, parallel workers) and the cells are written in one
  statement (on PostgreSQL, one JSON document upserted), so a full recompute costs about the bare
  GROUP BY over the same answers plus a constant (issue 8: at most 3x it at 1M and 10M answers);
- writers of a period's cells serialise on one lock (PostgreSQL advisory lock; SQLite's
  BEGIN IMMEDIATE already does), taken before any cell is written: the last writer always sees
  every committed unit cell, and refreshes and full recomputes cannot deadlock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Executable, Table, Text, bindparam, cast, column, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.models import Answer, InstitutionUnit, Location, UTCDateTime
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
    session: Session, period: str, unit_id: int | None = None, indicator: str | None = None,
    *, unit_ids: Collection[int] | None = None,
) -> Iterator[tuple[int, str, Counts]]:
    """(unit id, indicator, counts) from one GROUP BY over the countable answers, by unit id then
    indicator.

    No ORDER BY in SQL: the database then hashes the groups in one pass (and in parallel workers)
    instead of sorting every answer first, which a stale row estimate turned into an on-disk sort
    4x slower than the aggregation itself. The few thousand groups are ordered here."""
    stmt = (
        select(Answer.unit_id, Answer.indicator, Answer.value, func.count())
        .where(Answer.period == period)
        .group_by(Answer.unit_id, Answer.indicator, Answer.value)
    )
    if unit_id is not None:
        stmt = stmt.where(Answer.unit_id == unit_id)
    if indicator is not None:
        stmt = stmt.where(Answer.indicator == indicator)
    if unit_ids is not None:
        stmt = stmt.where(Answer.unit_id.in_(sorted(unit_ids)))
    groups: dict[tuple[int, str], dict[int | None, int]] = {}
    for uid, ind, value, n in session.execute(stmt):
        groups.setdefault((int(uid), str(ind)), {})[None if value is None else int(value)] = int(n)
    for (uid, ind), found in sorted(groups.items()):
        dont_know = found.pop(None, 0)
        yield uid, ind, Counts({v: n for v, n in found.items() if v is not None}, dont_know)


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


# One encoder for every cell: `json.dumps` with separators builds a new one on each call.
_COUNTS_JSON = json.JSONEncoder(separators=(",", ":"))


def encode_counts(counts: Counts) -> str:
    return _COUNTS_JSON.encode({str(v): n for v, n in sorted(counts.values.items())})


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


# The columns a cell row carries besides `computed_at`, in the order `_json_upsert` lists them.
CELL_FIELDS = ("key", "period", "level", "location_id", "unit_id", "institution_type", "indicator",
               "counts", "respondents", "dont_know")


@lru_cache(maxsize=1)
def _json_upsert() -> Executable:
    """PostgreSQL: every cell in one statement, its rows passed as one JSON document.

    One executemany statement per cell (psycopg's pipeline) cost 50-180 ms for 1,850 cells, and
    array parameters are escaped value by value in Python (40 ms); `json.dumps` and the server's
    `json_to_recordset` take a few ms. Built once: SQLAlchemy then caches its compiled form."""
    table = CellRow.__table__
    assert isinstance(table, Table)
    source = (func.json_to_recordset(cast(bindparam("rows", type_=Text), postgresql.JSON))
              .table_valued(*(column(name, table.c[name].type) for name in CELL_FIELDS))
              .render_derived(name="r", with_types=True))
    # The Table, not the mapped class: a parameter dict with an ORM insert means "bulk insert".
    stmt = postgresql.insert(table).from_select(
        [*CELL_FIELDS, "computed_at"],
        select(*(source.c[name] for name in CELL_FIELDS), bindparam("now", type_=UTCDateTime())))
    return stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={name: stmt.excluded[name] for name in (*CELL_FIELDS[1:], "computed_at")},
        where=(CellRow.counts != stmt.excluded.counts)
        | (CellRow.dont_know != stmt.excluded.dont_know),
    )


def write_cells(session: Session, cells: Iterable[CellData], now: datetime) -> int:
    """Upsert cells in one statement; a cell with no answer left is deleted (a full recompute
    would not have it). `computed_at` changes only when the numbers do, so an unchanged cell stays
    byte-identical. Full recomputes and incremental refreshes both write through here, so they
    write the same rows."""
    rows, empty = [], []
    for cell in cells:
        if cell.counts.respondents == 0 and cell.counts.dont_know == 0:
            empty.append(cell.key.text)
        else:
            rows.append({"key": cell.key.text, **_row_values(cell, now)})
    if empty:
        session.execute(delete(CellRow).where(CellRow.key.in_(empty)))
    if not rows:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        document = json.dumps([{name: row[name] for name in CELL_FIELDS} for row in rows],
                              separators=(",", ":"))
        session.execute(_json_upsert(), {"rows": document, "now": now})
    else:  # SQLite: executemany runs in-process, no round trip per row to save
        stmt = sqlite.insert(CellRow)
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
    write_parents(session, period, tree, (tree.units[unit_id].type, indicator), [unit_id],
                  now=now)
    return counts


def write_parents(session: Session, period: str, tree: Tree, series: tuple[str, str],
                  unit_ids: Iterable[int], *, now: datetime) -> None:
    """Rewrite every parent cell above `unit_ids` of one `series` (institution type, indicator)
    as the sum of the stored unit cells under it; one with nothing left under it is deleted."""
    institution_type, indicator = series
    parents = {c.key.code: c for c in rollup(
        period, tree, stored_unit_cells(session, period, tree, institution_type, indicator))}
    places = {place.code: place for uid in unit_ids
              for place in tree.ancestors(tree.units[uid].location_id)}
    empty = Counts({}, 0)
    write_cells(session, [
        parents.get(code) or CellData(
            CellKey(period, place.level, code, institution_type, indicator), place.id, None, empty)
        for code, place in sorted(places.items())
    ], now)


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
