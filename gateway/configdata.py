"""Reading `config/` (survey, message catalogs, gazetteer, units) and loading it into the database.

Rules:
- files are data edited by program staff; every problem is reported with its file and line, and
  nothing is written unless the whole set is valid;
- loading is idempotent and keyed on codes: a second run changes nothing, a renamed place keeps
  its code and its answers; a unit dropped from `units.csv` is deactivated, never deleted.
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flows import Catalog, Directory, Flow, Item
from gateway.models import INSTITUTION_TYPES, LEVELS, InstitutionUnit, Location

LOCATION_FIELDS = (
    "code",
    "name",
    "ussd_name",
    "level",
    "kind",
    "parent",
    "pcode",
    "source",
    "aliases",
)
UNIT_FIELDS = ("code", "name", "ussd_name", "type", "location", "illustrative")
PARENT_LEVEL = {"province": None, "territory": "province", "collectivity": "territory"}


class ConfigError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class LocationRow:
    code: str
    name: str
    ussd_name: str
    level: str
    kind: str
    parent: str | None
    is_pcode: bool
    source: str
    aliases: list[str]


@dataclass(frozen=True)
class UnitRow:
    code: str
    name: str
    ussd_name: str
    type: str
    location: str
    illustrative: bool


def load_flow(config_dir: Path) -> Flow:
    with (config_dir / "survey.toml").open("rb") as fh:
        return Flow.from_dict(tomllib.load(fh))


def load_catalog(config_dir: Path) -> Catalog:
    messages: dict[str, dict[str, str]] = {}
    for path in sorted((config_dir / "messages").glob("*.toml")):
        with path.open("rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
        language = str(data.get("meta", {}).get("language") or path.stem)
        messages[language] = {str(k): str(v) for k, v in data.get("messages", {}).items()}
    if not messages:
        raise ConfigError([f"{config_dir / 'messages'}: no message catalog"])
    # French first: it is the reference language and the fallback.
    ordered = dict(sorted(messages.items(), key=lambda kv: (kv[0] != "fr", kv[0])))
    return Catalog(ordered, default_language="fr")


def _rows(
    path: Path, fields: tuple[str, ...], problems: list[str]
) -> list[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [f for f in fields if f not in (reader.fieldnames or [])]
        if missing:
            problems.append(f"{path.name}: missing columns {', '.join(missing)}")
            return []
        return [
            (i + 2, {k: (v or "").strip() for k, v in row.items() if k})
            for i, row in enumerate(reader)
        ]


def read_locations(config_dir: Path) -> list[LocationRow]:
    problems: list[str] = []
    path = config_dir / "locations.csv"
    out: list[LocationRow] = []
    levels: dict[str, str] = {}
    for line, row in _rows(path, LOCATION_FIELDS, problems):
        where = f"{path.name}:{line}"
        code, level = row["code"], row["level"]
        if not code or not row["name"] or not row["ussd_name"]:
            problems.append(f"{where}: code, name and ussd_name are required")
            continue
        if code in levels:
            problems.append(f"{where}: code {code} appears twice")
            continue
        if level not in LEVELS:
            problems.append(f"{where}: level must be one of {', '.join(LEVELS)}")
            continue
        parent = row["parent"] or None
        expected = PARENT_LEVEL[level]
        if (parent is None) != (expected is None):
            problems.append(
                f"{where}: a {level} {'has no' if expected is None else 'needs a'} parent"
            )
        elif parent is not None and levels.get(parent) != expected:
            problems.append(f"{where}: parent {parent} must be a {expected} listed above this line")
        levels[code] = level
        aliases = [a.strip() for a in row["aliases"].split("|") if a.strip()]
        out.append(
            LocationRow(
                code,
                row["name"],
                row["ussd_name"],
                level,
                row["kind"] or level,
                parent,
                row["pcode"].lower() == "yes",
                row["source"] or "project",
                aliases,
            )
        )
    if problems:
        raise ConfigError(problems)
    return out


def read_units(config_dir: Path, location_codes: set[str]) -> list[UnitRow]:
    problems: list[str] = []
    path = config_dir / "units.csv"
    out: list[UnitRow] = []
    seen: set[str] = set()
    for line, row in _rows(path, UNIT_FIELDS, problems):
        where = f"{path.name}:{line}"
        if not row["code"] or not row["name"] or not row["ussd_name"]:
            problems.append(f"{where}: code, name and ussd_name are required")
            continue
        if row["code"] in seen:
            problems.append(f"{where}: code {row['code']} appears twice")
        seen.add(row["code"])
        if row["type"] not in INSTITUTION_TYPES:
            problems.append(f"{where}: type must be one of {', '.join(INSTITUTION_TYPES)}")
        if row["location"] not in location_codes:
            problems.append(f"{where}: unknown location {row['location']}")
        out.append(
            UnitRow(
                row["code"],
                row["name"],
                row["ussd_name"],
                row["type"],
                row["location"],
                row["illustrative"].lower() == "yes",
            )
        )
    if problems:
        raise ConfigError(problems)
    return out


def load_into_database(session: Session, config_dir: Path) -> dict[str, int]:
    """Upsert locations and units from `config_dir`; returns counts of what changed."""
    locations = read_locations(config_dir)
    units = read_units(config_dir, {loc.code for loc in locations})
    counts = {
        "locations_added": 0,
        "locations_updated": 0,
        "units_added": 0,
        "units_updated": 0,
        "units_deactivated": 0,
    }
    existing = {loc.code: loc for loc in session.scalars(select(Location))}
    for position, row in enumerate(locations):
        loc = existing.get(row.code)
        parent_id = existing[row.parent].id if row.parent else None
        values: dict[str, Any] = {
            "name": row.name,
            "ussd_name": row.ussd_name,
            "level": row.level,
            "kind": row.kind,
            "parent_id": parent_id,
            "is_pcode": row.is_pcode,
            "source": row.source,
            "aliases": row.aliases,
            "position": position,
        }
        if loc is None:
            loc = Location(code=row.code, **values)
            session.add(loc)
            session.flush()
            existing[row.code] = loc
            counts["locations_added"] += 1
        elif _apply(loc, values):
            counts["locations_updated"] += 1
    current = {u.code: u for u in session.scalars(select(InstitutionUnit))}
    for urow in units:
        unit = current.get(urow.code)
        uvalues: dict[str, Any] = {
            "name": urow.name,
            "ussd_name": urow.ussd_name,
            "type": urow.type,
            "location_id": existing[urow.location].id,
            "illustrative": urow.illustrative,
            "active": True,
        }
        if unit is None:
            session.add(InstitutionUnit(code=urow.code, **uvalues))
            counts["units_added"] += 1
        elif _apply(unit, uvalues):
            counts["units_updated"] += 1
    listed = {u.code for u in units}
    for code, unit in current.items():
        if code not in listed and unit.active:
            unit.active = False
            counts["units_deactivated"] += 1
    session.flush()
    return counts


def _apply(row: object, values: dict[str, Any]) -> bool:
    """Set `values` on `row`; True when anything changed."""
    changed = {k: v for k, v in values.items() if getattr(row, k) != v}
    for key, value in changed.items():
        setattr(row, key, value)
    return bool(changed)


def directory_from_files(config_dir: Path) -> Directory:
    """The directory as `config/` describes it: validates the flow before any database exists."""
    locations = read_locations(config_dir)
    units = read_units(config_dir, {loc.code for loc in locations})
    return Directory.build(
        [Item(loc.code, loc.ussd_name, loc.parent) for loc in locations],
        [(Item(u.code, u.ussd_name), u.type, u.location) for u in units],
    )
