"""Recompute one score cell (period x institution unit x indicator) from the countable answers.

Rules:
- the cell is derived only from `answers` (the source of truth) and upserted, so running it twice,
  or on two workers at once, leaves the same row;
- the dirty mark is cleared only if its generation is the one read before computing: an answer that
  arrives meanwhile bumps the generation, keeps the mark, and the caller computes again.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session

from gateway.db import insert_for
from gateway.models import Answer, DirtyCell, Score
from scoring.keys import Cell
from scoring.stats import CellSums, mean

__all__ = ["Cell", "cell_sums", "refresh"]


def dirty_generation(session: Session, cell: Cell) -> int | None:
    return session.scalar(
        select(DirtyCell.generation).where(
            DirtyCell.period == cell.period,
            DirtyCell.unit_id == cell.unit_id,
            DirtyCell.indicator == cell.indicator,
        )
    )


def cell_sums(session: Session, cell: Cell) -> CellSums:
    has_value = Answer.value.is_not(None)
    row = session.execute(
        select(
            func.count(Answer.value),
            func.coalesce(func.sum(case((has_value, 0), else_=1)), 0),
            func.coalesce(func.sum(Answer.value), 0),
            func.coalesce(func.sum(Answer.value * Answer.value), 0),
        ).where(
            Answer.period == cell.period,
            Answer.unit_id == cell.unit_id,
            Answer.indicator == cell.indicator,
        )
    ).one()
    return CellSums(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def upsert_score(session: Session, cell: Cell, sums: CellSums, now: datetime) -> None:
    values = {
        "respondents": sums.respondents,
        "dont_know": sums.dont_know,
        "value_sum": sums.value_sum,
        "value_sq_sum": sums.value_sq_sum,
        "mean": mean(sums),
        "computed_at": now,
    }
    stmt = insert_for(session, Score).values(
        period=cell.period, unit_id=cell.unit_id, indicator=cell.indicator, **values
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["period", "unit_id", "indicator"], set_=values
    )
    session.execute(stmt)


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


def refresh(session: Session, cell: Cell) -> tuple[CellSums, bool]:
    """Recompute and upsert one cell inside the caller's transaction.

    Returns the sums and whether the cell is now clean (False: touched again meanwhile).
    """
    generation = dirty_generation(session, cell)
    sums = cell_sums(session, cell)
    upsert_score(session, cell, sums, datetime.now(UTC))
    if generation is None:
        return sums, True
    return sums, clear_mark(session, cell, generation)
