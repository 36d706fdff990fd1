"""Refresh one touched cell (period x institution unit x indicator) and the parents above it.

Rules:
- the cell is derived only from `answers` (the source of truth) and upserted, so running it twice,
  or on two workers at once, leaves the same rows (see `scoring.aggregate`);
- the dirty mark is cleared only if its generation is the one read before computing: an answer that
  arrives meanwhile bumps the generation, keeps the mark, and the caller computes again.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.models import DirtyCell
from scoring.aggregate import load_tree, refresh_unit
from scoring.keys import Cell
from scoring.stats import Counts

__all__ = ["Cell", "clear_mark", "dirty_generation", "refresh"]


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
