"""Refresh touched cells (period x institution unit x indicator) and the parents above them.

Rules:
- a cell is derived only from `answers` (the source of truth) and upserted, so running it twice,
  or on two workers at once, leaves the same rows (see `scoring.aggregate`);
- the dirty mark is cleared only if its generation is the one read before computing: an answer that
  arrives meanwhile bumps the generation, keeps the mark, and the caller computes again;
- `refresh_dirty` does a period's dirty cells as one batch: one GROUP BY over the answers of the
  touched units, and one roll-up per institution type x indicator touched, however many answers
  came in since the last batch; it writes exactly the rows `refresh` would write cell by cell.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.models import DirtyCell
from scoring.aggregate import (
    load_tree,
    lock_period,
    refresh_unit,
    unit_cell,
    unit_counts,
    write_cells,
    write_parents,
)
from scoring.keys import Cell
from scoring.stats import Counts

__all__ = ["Cell", "clear_mark", "dirty_generation", "refresh", "refresh_dirty"]

BATCH = 2000  # dirty cells per batch: one statement each way, a few hundred KB at most


def dirty_generation(session: Session, cell: Cell) -> int | None:
    return session.scalar(
        select(DirtyCell.generation).where(
            DirtyCell.period == cell.period,
            DirtyCell.unit_id == cell.unit_id,
            DirtyCell.indicator == cell.indicator,
        )
    )


def clear_mark(session: Session, cell: Cell, generation: int) -> bool:
    """Delete the dirty mark if nobody touched the cell since `generation` was read."""
    result = session.execute(
        delete(DirtyCell).where(
            DirtyCell.period == cell.period,
            DirtyCell.unit_id == cell.unit_id,
            DirtyCell.indicator == cell.indicator,
            DirtyCell.generation == generation,
        )
    )
    return bool(getattr(result, "rowcount", 0))


def refresh(session: Session, cell: Cell) -> tuple[Counts, bool]:
    """Recompute one cell and its parents inside the caller's transaction.

    Returns the unit cell's counts and whether the cell is now clean (False: touched meanwhile).
    """
    generation = dirty_generation(session, cell)
    tree = load_tree(session)  # units are deactivated, never deleted: every cell's unit is here
    counts = refresh_unit(session, cell.period, tree, cell.unit_id, cell.indicator,
                          now=datetime.now(UTC))
    if generation is None:
        return counts, True
    return counts, clear_mark(session, cell, generation)


def refresh_dirty(session: Session, period: str, limit: int = BATCH) -> tuple[int, bool]:
    """Recompute up to `limit` dirty cells of `period`, oldest marks first, and the parents above
    them, inside the caller's transaction. Returns how many cells were refreshed and whether the
    period had no other dirty cell (False: more than `limit`, or one touched meanwhile)."""
    # A look without the lock first: a refresh with nothing to do (a follow-up run, the sweeper's)
    # must not wait behind another writer of the period, holding a worker that SMS replies need.
    # A mark committed after this look is left as it would be after a look under the lock: to
    # the refresh its webhook enqueues (or, when a run and its follow-up are both running, the
    # sweeper's); a batch being written keeps its marks until it commits, so it is seen here.
    if session.execute(select(DirtyCell.unit_id).where(DirtyCell.period == period)
                       .limit(1)).first() is None:
        return 0, True
    # Then the period's lock, as every writer of its cells takes it: the marks read under it
    # are not being cleared by another refresh at the same time.
    lock_period(session, period)
    marks = session.execute(
        select(DirtyCell.unit_id, DirtyCell.indicator, DirtyCell.generation)
        .where(DirtyCell.period == period)
        .order_by(DirtyCell.marked_at)
        .limit(limit)
    ).all()
    if not marks:
        return 0, True
    tree = load_tree(session)  # units are deactivated, never deleted: every cell's unit is here
    now = datetime.now(UTC)
    wanted = {(int(uid), str(ind)) for uid, ind, _ in marks}
    found = {(uid, ind): counts for uid, ind, counts in unit_counts(
        session, period, unit_ids={uid for uid, _ in wanted}) if (uid, ind) in wanted}
    empty = Counts({}, 0)
    write_cells(session, [unit_cell(period, tree, uid, ind, found.get((uid, ind), empty))
                          for uid, ind in sorted(wanted)], now)
    by_series: dict[tuple[str, str], set[int]] = {}
    for uid, ind in wanted:
        by_series.setdefault((tree.units[uid].type, ind), set()).add(uid)
    for series, unit_ids in sorted(by_series.items()):
        write_parents(session, period, tree, series, unit_ids, now=now)
    # In the order webhooks mark them (gateway.answers.mark_dirty): never a lock-order deadlock.
    cleared = sum(clear_mark(session, Cell(period, uid, ind), int(generation))
                  for uid, ind, generation in sorted(marks))
    return len(marks), cleared == len(marks) and len(marks) < limit

