"""The directory of places and units the USSD flow offers, read from the database.

Rules: built once per process and refreshed every `ttl` seconds (config changes arrive through
`release`, not per hop), so a hop costs no gazetteer query; only active units are offered.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from flows import Directory, Item
from gateway.db import Database
from gateway.models import InstitutionUnit, Location

_QUALIFIER = re.compile(r"\s*\([^)]*\)")


@dataclass(frozen=True)
class Snapshot:
    directory: Directory
    unit_ids: dict[str, int]
    location_ids: dict[str, int]
    # Localities (collectivity level), and the cities and territories above them, by code:
    # every name a citizen may text (SMS), qualifiers in brackets dropped too ("Beni (ville)").
    place_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    area_names: dict[str, tuple[str, ...]] = field(default_factory=dict)


def read_snapshot(db: Database) -> Snapshot:
    with db.session() as session:
        locs = session.execute(
            select(Location.id, Location.code, Location.ussd_name, Location.parent_id,
                   Location.name, Location.level, Location.aliases).order_by(
                Location.position, Location.code
            )
        ).all()
        units = session.execute(
            select(
                InstitutionUnit.id,
                InstitutionUnit.code,
                InstitutionUnit.ussd_name,
                InstitutionUnit.type,
                InstitutionUnit.location_id,
            )
            .where(InstitutionUnit.active.is_(True))
            .order_by(InstitutionUnit.code)
        ).all()
    code_of = {row.id: row.code for row in locs}
    directory = Directory.build(
        [
            Item(r.code, r.ussd_name, code_of.get(r.parent_id) if r.parent_id else None)
            for r in locs
        ],
        [(Item(u.code, u.ussd_name), u.type, code_of[u.location_id]) for u in units],
    )
    return Snapshot(
        directory,
        unit_ids={u.code: u.id for u in units},
        location_ids={row.code: row.id for row in locs},
        place_names={row.code: _names(row) for row in locs if row.level == "collectivity"},
        area_names={row.code: _names(row) for row in locs if row.level == "territory"},
    )


def _names(row: Any) -> tuple[str, ...]:
    names = [row.ussd_name, row.name, *(row.aliases or ())]
    plain = [_QUALIFIER.sub("", n).strip() for n in names]
    return tuple(dict.fromkeys(n for n in names + plain if n))


class DirectoryCache:
    def __init__(self, db: Database, ttl: float = 300.0) -> None:
        self.db = db
        self.ttl = ttl
        self._snapshot: Snapshot | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> Snapshot:
        now = time.monotonic()
        if self._snapshot is None or now - self._loaded_at > self.ttl:
            with self._lock:
                if self._snapshot is None or now - self._loaded_at > self.ttl:
                    self._snapshot = read_snapshot(self.db)
                    self._loaded_at = now
        return self._snapshot

    def last_known(self) -> Snapshot | None:
        """The snapshot held now, however old, without reading the database (which may be down)."""
        return self._snapshot

    def invalidate(self) -> None:
        self._snapshot = None
