"""The scoring engine on SQLite and PostgreSQL: aggregation, incremental = full, independent
recomputation, the quarter lifecycle and its snapshots, integrity flags."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from gateway.db import Database
from gateway.models import Answer, Cell, IntegrityFlag, Period, Respondent, Snapshot, UssdSession
from gateway.quarters import LifecycleError, lock, move_to_review, review_ended_quarters
from gateway.scores import period_items
from gateway.synth import generate
from gateway.tokens import create_token
from scoring.aggregate import recompute_period
from scoring.cells import refresh
from scoring.integrity import IntegrityRules, scan
from scoring.keys import Cell as CellKey
from scoring.periods import quarter_bounds
from tests.independent import counts_by_node, expected_indicator, improvement_probability

PERIOD = "2026Q3"


def cell_rows(db: Database, period: str = PERIOD) -> list[tuple[Any, ...]]:
    with db.session() as session:
        return sorted(session.execute(
            select(Cell.key, Cell.counts, Cell.respondents, Cell.dont_know, Cell.location_id,
                   Cell.unit_id).where(Cell.period == period)).all())


def touched_cells(db: Database, period: str = PERIOD) -> list[CellKey]:
    with db.session() as session:
        return [CellKey(p, u, i) for p, u, i in session.execute(
            select(Answer.period, Answer.unit_id, Answer.indicator)
            .where(Answer.period == period).distinct())]


def full(db: Database, period: str = PERIOD) -> int:
    with db.transaction() as session:
        return recompute_period(session, period, datetime.now(UTC))


def incremental(db: Database, cells: list[CellKey]) -> None:
    for cell in cells:
        with db.transaction() as session:
            refresh(session, cell)


def test_incremental_refreshes_and_a_full_recompute_write_identical_cells(app, db):
    generate(db, PERIOD, 3000, seed=7)
    full(db)
    expected = cell_rows(db)
    assert {key.split("|")[1] for key, *_ in expected} == {
        "unit", "collectivity", "territory", "province"}
    with db.transaction() as session:
        session.execute(delete(Cell))
    cells = touched_cells(db)
    random.Random(1).shuffle(cells)
    incremental(db, cells)
    assert cell_rows(db) == expected
    # Move a tenth of the answers to another unit of the same type, change some values, then
    # refresh only what was touched: still identical to a full recompute.
    with db.session() as session:
        moved = session.execute(select(Answer.id, Answer.unit_id, Answer.indicator,
                                       Answer.institution_type)
                                .where(Answer.period == PERIOD).order_by(Answer.id)).all()[::10]
        units = {kind: sorted(session.scalars(select(Cell.unit_id).where(
            Cell.level == "unit", Cell.institution_type == kind).distinct()))
            for kind in ("police", "justice", "administration")}
    touched = set()
    with db.transaction() as session:
        for answer_id, unit_id, indicator, kind in moved:
            target = units[kind][(units[kind].index(unit_id) + 1) % len(units[kind])]
            session.execute(update(Answer).where(Answer.id == answer_id).values(
                unit_id=target, value=None if answer_id % 3 == 0 else 1))
            touched |= {CellKey(PERIOD, unit_id, indicator), CellKey(PERIOD, target, indicator)}
    incremental(db, sorted(touched))
    after_incremental = cell_rows(db)
    full(db)
    assert cell_rows(db) == after_incremental != expected


def test_parents_are_the_sums_of_their_units(app, db):
    generate(db, PERIOD, 2000, seed=11)
    full(db)
    with db.session() as session:
        provinces = session.execute(select(Cell.institution_type, Cell.indicator,
                                           func.sum(Cell.respondents), func.sum(Cell.dont_know))
                                    .where(Cell.level == "province")
                                    .group_by(Cell.institution_type, Cell.indicator)).all()
        answers = dict(session.execute(select(Answer.indicator, func.count())
                                       .where(Answer.period == PERIOD)
                                       .group_by(Answer.indicator)).all())
    by_indicator: dict[str, int] = {}
    for _, indicator, respondents, dont_know in provinces:
        by_indicator[indicator] = by_indicator.get(indicator, 0) + respondents + dont_know
    assert by_indicator == answers  # every countable answer once in its province


def test_published_values_equal_an_independent_recomputation(make_app):
    app = make_app(MIN_RESPONDENTS="1")
    db = app.extensions["gateway"].db
    method = app.extensions["gateway"].method
    generate(db, PERIOD, 4000, seed=3)
    full(db)
    with db.session() as session:
        items = period_items(session, PERIOD, method)
    expected = counts_by_node(db, PERIOD)
    checked = 0
    for item in items:
        code = item["unit"]["code"] if item["unit"] else item["location"]["code"]
        for ind in item["indicators"]:
            counts = expected[(item["level"], code, item["type"], ind["code"])]
            want = expected_indicator(ind["code"], counts)
            assert (ind["respondents"], ind["dont_know"]) == (want["respondents"],
                                                               want["dont_know"])
            for field, digits in (("mean", 3), ("positive_share", 4)):
                if want.get(field) is not None:
                    assert ind[field] == pytest.approx(want[field], abs=10 ** -digits)
            for field, digits in (("mean_ci", 3), ("positive_ci", 4)):
                if want.get(field) is not None:
                    assert ind[field] == pytest.approx(want[field], abs=10 ** -digits)
            if ind["code"] in ("bribe", "trust", "respect"):  # the indicators with a score
                if want.get("score") is None:
                    assert ind["score"] is None
                else:
                    assert ind["score"] == pytest.approx(want["score"], abs=0.005)
            checked += 1
        change = expected.get((item["level"], code, item["type"], "change"), {})
        worse, same, better = change.get(1, 0), change.get(2, 0), change.get(3, 0)
        imp = item["improvement"]
        assert imp["respondents"] == worse + same + better
        if imp["respondents"]:
            n = imp["respondents"]
            assert imp["net"] == pytest.approx((better - worse) / n, abs=5e-5)
            assert imp["probability"] == pytest.approx(
                improvement_probability(better, same, worse, draws=100_000), abs=0.01)
    assert checked > 500


def test_the_quarter_lifecycle_and_an_immutable_snapshot(make_app):
    app = make_app(MIN_RESPONDENTS="5")
    client = app.test_client()
    db = app.extensions["gateway"].db
    method = app.extensions["gateway"].method
    generate(db, PERIOD, 2000, seed=5)
    full(db)
    now = datetime.now(UTC)
    with pytest.raises(LifecycleError, match="review"), db.transaction() as session:
        lock(session, PERIOD, method, now)
    with db.transaction() as session:
        move_to_review(session, PERIOD, now)
    with db.transaction() as session:
        snapshot = lock(session, PERIOD, method, now)
        document, digest = snapshot.document, snapshot.sha256
    with pytest.raises(LifecycleError, match="already locked"), db.transaction() as session:
        lock(session, PERIOD, method, now)
    with pytest.raises(LifecycleError, match="locked"), db.transaction() as session:
        move_to_review(session, PERIOD, now)
    with db.transaction() as session:
        _, plain = create_token(session, "rbf")  # not provisional: locked quarters only
    url = f"/api/v1/scores?period={PERIOD}"
    first = client.get(url, headers={"Authorization": f"Bearer {plain}"})
    assert first.status_code == 200
    body = first.get_json()
    assert (body["status"], body["provisional"], body["version"]) == ("locked", False, 1)
    assert body["items"] and body["method_version"] == method.version
    # Answers arrive after the lock: kept, counted in the cells, never in the snapshot.
    before = cell_rows(db)
    generate(db, PERIOD, 500, seed=99)
    full(db)
    assert cell_rows(db) != before
    with db.session() as session:
        stored = session.scalars(select(Snapshot)).one()
        assert (stored.document, stored.sha256) == (document, digest)
        assert session.scalar(select(Period.status).where(Period.code == PERIOD)) == "locked"
    again = client.get(url, headers={"Authorization": f"Bearer {plain}"})
    assert again.get_data() == first.get_data()


def test_ended_quarters_move_to_review_and_the_current_one_stays_open(app, db):
    now = datetime.now(UTC)
    generate(db, "2020Q1", 50, seed=1)
    generate(db, "2999Q4", 50, seed=2)
    with db.transaction() as session:
        assert review_ended_quarters(session, now) == ["2020Q1"]
    with db.session() as session:
        status = dict(session.execute(select(Period.code, Period.status)).all())
    assert status == {"2020Q1": "in_review", "2999Q4": "open"}
    start, end = quarter_bounds("2020Q1")
    assert (start.month, end.month, end.year) == (1, 4, 2020)


@pytest.mark.postgres
def test_two_staff_locking_at_once_make_one_snapshot(pg_app):
    # PostgreSQL only: its row locks are what is tested (SQLite serialises every writer anyway).
    app = pg_app
    db = app.extensions["gateway"].db
    generate(db, PERIOD, 300, seed=8)
    with db.transaction() as session:
        move_to_review(session, PERIOD, datetime.now(UTC))
    outcomes: list[str] = []

    def attempt() -> None:
        try:
            with db.transaction() as session:
                lock(session, PERIOD, app.extensions["gateway"].method, datetime.now(UTC))
            outcomes.append("locked")
        except LifecycleError:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["locked", "refused", "refused"]
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Snapshot)) == 1


def test_concurrent_refreshes_of_units_under_one_parent_roll_up_exactly(app, db):
    generate(db, PERIOD, 3000, seed=13)
    full(db)
    expected = cell_rows(db)
    with db.transaction() as session:
        session.execute(delete(Cell))
    cells = touched_cells(db)
    errors: list[BaseException] = []

    def work(part: list[CellKey]) -> None:
        try:
            incremental(db, part)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(cells[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert cell_rows(db) == expected


def test_integrity_flags_name_the_cell_the_window_and_the_counts(app, db):
    generate(db, PERIOD, 3000, seed=21)
    start, _ = quarter_bounds(PERIOD)
    with db.transaction() as session:
        # Everybody was already known before the quarter...
        session.execute(update(Respondent).values(created_at=start - timedelta(days=200)))
    with db.session() as session:
        unit_id, kind = session.execute(
            select(Answer.unit_id, Answer.institution_type).where(Answer.period == PERIOD)
            .group_by(Answer.unit_id, Answer.institution_type)
            .order_by(func.count(), Answer.unit_id).limit(1)).one()  # the quietest unit
    burst_at = start + timedelta(days=40, hours=10, minutes=5)
    generate_burst(db, unit_id, kind, burst_at, 40)  # ...but 40 newcomers in one hour at one unit
    with db.transaction() as session:
        respondent = session.scalars(select(Respondent).limit(1)).one()
        for i in range(20):
            session.add(UssdSession(
                session_id=f"ATUid_limit_{i}", respondent_id=respondent.id, start_profile={},
                path=[], path_profile={}, answered=0, hops=1, last_node="home",
                ended=True, resumable=False, started_at=start + timedelta(days=3, minutes=i),
                updated_at=start + timedelta(days=3, minutes=i)))
    with db.transaction() as session:
        flags = scan(session, PERIOD, IntegrityRules(max_sessions_per_day=20), datetime.now(UTC))
    kinds = {f.kind: f for f in flags}
    assert set(kinds) == {"burst", "first_time_dominated", "over_daily_limit"}
    burst = kinds["burst"]
    assert burst.counts["respondents"] >= 40 and burst.subject.endswith(f"/{kind}")
    assert burst.window_start <= burst_at < burst.window_end
    assert kinds["over_daily_limit"].counts == {"callers": 1, "most_sessions": 20, "limit": 20}
    assert kinds["first_time_dominated"].counts["first_time"] >= 40
    with db.transaction() as session:
        scan(session, PERIOD, IntegrityRules(max_sessions_per_day=20), datetime.now(UTC))
    with db.session() as session:  # a second scan replaces the first
        assert session.scalar(select(func.count()).select_from(IntegrityFlag)) == len(flags)


def generate_burst(db: Database, unit_id: int, kind: str, at: datetime, n: int) -> None:
    from gateway.models import Submission

    with db.transaction() as session:
        for i in range(n):
            person = Respondent(phone_hash=f"{i:064x}"[-64:].replace("0", "b", 1),
                                key_version=0, created_at=at, last_seen_at=at)
            session.add(person)
            session.flush()
            sub = Submission(idempotency_key=f"burst:{i}", respondent_id=person.id,
                             channel="ussd", period=PERIOD, unit_id=unit_id,
                             institution_type=kind, indicator="trust", option="1", value=1,
                             survey_version="synthetic", received_at=at + timedelta(seconds=i))
            session.add(sub)
            session.flush()
            session.add(Answer(respondent_id=person.id, period=PERIOD, institution_type=kind,
                               indicator="trust", unit_id=unit_id, value=1,
                               survey_version="synthetic", channel="ussd", submission_id=sub.id,
                               received_at=at + timedelta(seconds=i)))
