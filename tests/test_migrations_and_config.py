"""Schema and config/: migrations match the models on both databases, and loading is idempotent."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select

from gateway.configdata import ConfigError, load_into_database, read_locations
from gateway.db import Database
from gateway.migrate import current_revision, downgrade, head_revision, upgrade
from gateway.models import Base, InstitutionUnit, Location
from gateway.settings import DEFAULT_CONFIG_DIR, Settings


@pytest.fixture
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """An empty database of the parametrized backend (a throwaway schema on PostgreSQL)."""
    if request.param == "sqlite":
        return Database(f"sqlite:///{tmp_path / 'empty.db'}")
    url = request.getfixturevalue("postgres_url")
    base = Database(Settings.from_env(environ={"DATABASE_URL": url}).database_url)
    schema = f"empty_{tmp_path.name[-8:].replace('-', '_')}".lower()
    with base.engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    base.dispose()
    db = Database(base.url + f"?options=-csearch_path%3D{schema}")
    request.addfinalizer(db.dispose)
    return db


BACKEND_PARAMS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("empty_db", BACKEND_PARAMS, indirect=True)
def test_migrations_build_exactly_the_models_and_go_down_and_up(empty_db):
    if empty_db.dialect == "postgresql":  # a schema of its own, never the shared test tables
        with empty_db.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT current_schema()").scalar() != "public"
    upgrade(empty_db)
    assert current_revision(empty_db) == head_revision()
    with empty_db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []
    downgrade(empty_db, "base")
    with empty_db.engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    upgrade(empty_db)
    assert current_revision(empty_db) == head_revision()


@pytest.mark.parametrize("empty_db", BACKEND_PARAMS, indirect=True)
def test_config_loads_idempotently(empty_db):
    upgrade(empty_db)
    with empty_db.transaction() as session:
        first = load_into_database(session, DEFAULT_CONFIG_DIR)
    assert first["locations_added"] == 92 and first["units_added"] > 100
    with empty_db.transaction() as session:
        second = load_into_database(session, DEFAULT_CONFIG_DIR)
    assert set(second.values()) == {0}
    with empty_db.session() as session:
        goma = session.scalars(select(Location).where(Location.code == "NK-V-GOM-GOM")).one()
        assert goma.parent is not None and goma.parent.code == "NK-V-GOM"
        assert goma.parent.parent is not None and goma.parent.parent.code == "CD61"
        provinces = session.scalars(select(Location).where(Location.level == "province")).all()
        assert {(p.code, p.is_pcode) for p in provinces} == {("CD61", True), ("CD54", True)}


@pytest.mark.parametrize("empty_db", ["sqlite"], indirect=True)
def test_a_unit_removed_from_config_is_deactivated_not_deleted(empty_db, tmp_path):
    upgrade(empty_db)
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    with empty_db.transaction() as session:
        load_into_database(session, config)
    units = (config / "units.csv").read_text().splitlines()
    removed = units[1].split(",")[0]
    (config / "units.csv").write_text("\n".join([units[0], *units[2:]]) + "\n")
    with empty_db.transaction() as session:
        counts = load_into_database(session, config)
    assert counts["units_deactivated"] == 1
    with empty_db.session() as session:
        unit = session.scalars(select(InstitutionUnit).where(InstitutionUnit.code == removed)).one()
        assert unit.active is False
        assert session.scalar(select(func.count()).select_from(InstitutionUnit)) == len(units) - 1


def _broken(tmp_path: Path, edit: Callable[[str], str]) -> Path:
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    path = config / "locations.csv"
    path.write_text(edit(path.read_text()))
    return config


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t + "CD61,Dup,Dup,province,province,,yes,x,\n", "appears twice"),
        (lambda t: t + "X-1,Lost,Lost,collectivity,commune,NOPE,,project,\n", "parent NOPE"),
        (lambda t: t + "X-2,Odd,Odd,village,village,CD61,,project,\n", "level must be one of"),
        (lambda t: t + "X-3,,Nameless,territory,ville,CD61,,project,\n", "are required"),
    ],
)
def test_broken_gazetteer_is_refused_with_file_and_line(tmp_path, edit, expected):
    config = _broken(tmp_path, edit)
    with pytest.raises(ConfigError) as info:
        read_locations(config)
    line_count = len((config / "locations.csv").read_text().splitlines())
    assert any(expected in p and f"locations.csv:{line_count}" in p for p in info.value.problems)
