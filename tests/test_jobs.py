"""Cell refresh jobs: idempotent, concurrency-safe, and the sweeper re-enqueues what Redis lost."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select

from gateway.answers import mark_dirty
from gateway.db import Database
from gateway.models import Answer, DirtyCell, InstitutionUnit
from gateway.models import Cell as CellRow
from gateway.queueing import InProcessJobQueue
from scoring.cells import clear_mark, dirty_generation
from scoring.jobs import refresh_cell, sweep_dirty_cells
from scoring.keys import REFRESH_CELL, Cell
from tests.africastalking import GOMA_POLICE_UNIT, first_time_goma_police, play


class RecordingQueue:
    """A JobQueue that records what it was asked to run (the sweeper's only collaborator)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, tuple[Any, ...], str]] = []

    def enqueue(self, func, *args, job_id, retry=None, queue="scores"):
        self.jobs.append((func, args, job_id))
        return True

    def drain(self, timeout=30.0):
        pass

    def close(self):
        pass


def seed(app: Any, client: Any, values: list[str]) -> Cell:
    """Callers rating the Goma police; returns the cell of their `trust` answers."""
    for i, value in enumerate(values):
        play(client, f"+2439700002{i:02d}", first_time_goma_police(trust=value))
    app.extensions["gateway"].queue.drain()
    db = app.extensions["gateway"].db
    with db.session() as session:
        answer = session.scalars(select(Answer).where(Answer.indicator == "trust")).first()
        assert answer is not None
        return Cell(answer.period, answer.unit_id, answer.indicator)


def score_row(db: Database, cell: Cell) -> tuple[Any, ...]:
    """The unit cell's (respondents, don't know, counts), and its parents' counts."""
    with db.session() as session:
        row = session.scalars(select(CellRow).where(
            CellRow.unit_id == cell.unit_id, CellRow.indicator == cell.indicator)).one()
        parents = sorted(session.execute(select(CellRow.level, CellRow.counts).where(
            CellRow.indicator == cell.indicator, CellRow.level != "unit")).all())
        return (row.respondents, row.dont_know, row.counts, parents)


def test_refresh_is_idempotent(app, client, db):
    cell = seed(app, client, ["1", "2", "9", "4"])
    first = score_row(db, cell)
    counts = '{"1":1,"2":1,"4":1}'
    assert first == (3, 1, counts, [("collectivity", counts), ("province", counts),
                                    ("territory", counts)])
    with db.session() as session:
        cells = session.scalar(select(func.count()).select_from(CellRow))
    for _ in range(3):
        refresh_cell(cell.period, cell.unit_id, cell.indicator, database=db)
    assert score_row(db, cell) == first
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(CellRow)) == cells


def test_concurrent_refreshes_leave_the_same_row(app, client, db):
    cell = seed(app, client, ["3", "4", "4"])
    expected = score_row(db, cell)
    with db.transaction() as session:
        session.execute(delete(CellRow))
        mark_dirty(session, [cell], datetime.now(UTC))
    errors: list[BaseException] = []

    def work() -> None:
        try:
            refresh_cell(cell.period, cell.unit_id, cell.indicator, database=db)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert score_row(db, cell) == expected
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DirtyCell)) == 0


def test_a_mark_made_during_a_refresh_is_not_cleared(app, client, db):
    cell = seed(app, client, ["2"])
    with db.transaction() as session:
        mark_dirty(session, [cell], datetime.now(UTC))
    with db.session() as session:
        seen = dirty_generation(session, cell)  # what a refresh reads before computing
    assert seen == 1
    with db.transaction() as session:  # an answer arrives while the refresh computes
        mark_dirty(session, [cell], datetime.now(UTC))
    with db.transaction() as session:
        assert clear_mark(session, cell, seen) is False
    with db.session() as session:
        assert session.scalar(select(DirtyCell.generation)) == 2  # still marked for the sweeper
    refresh_cell(cell.period, cell.unit_id, cell.indicator, database=db)  # a fresh run clears it
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DirtyCell)) == 0


def test_sweeper_enqueues_every_dirty_cell_once_with_a_safe_job_id(app, client, db):
    cell = seed(app, client, ["4"])
    with db.session() as session:
        other = session.scalar(
            select(InstitutionUnit.id).where(InstitutionUnit.code != GOMA_POLICE_UNIT).limit(1)
        )
    assert other is not None
    other_cell = Cell(cell.period, other, cell.indicator)
    with db.transaction() as session:
        mark_dirty(session, [cell, other_cell, cell], datetime.now(UTC))
    queue = RecordingQueue()
    assert sweep_dirty_cells(database=db, queue=queue) == 2
    assert sorted(queue.jobs) == sorted(
        (REFRESH_CELL, (c.period, c.unit_id, c.indicator), c.job_id) for c in (cell, other_cell)
    )
    for _, _, job_id in queue.jobs:
        assert job_id.replace("-", "").replace("_", "").isalnum()


def test_in_process_queue_runs_jobs_and_dedupes_pending_ids(app, client, db):
    cell = seed(app, client, ["4"])
    with db.transaction() as session:
        session.execute(delete(CellRow))
        mark_dirty(session, [cell], datetime.now(UTC))
    queue = InProcessJobQueue(db, sweep_interval=3600)
    try:
        for _ in range(5):
            assert queue.enqueue(
                REFRESH_CELL, cell.period, cell.unit_id, cell.indicator, job_id=cell.job_id
            )
        queue.drain()
    finally:
        queue.close()
    assert score_row(db, cell)[0] == 1
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DirtyCell)) == 0
