"""Do the incrementally refreshed scores equal a full recompute? (DESIGN §6: "both give identical
tables".)

Rules:
- scores have converged when no cell of the period is marked dirty: a refresh clears its mark in
  the transaction that writes the cell, so no mark means every answer is in its cells;
- the comparison is of what a cell says (its counts, respondents, don't-knows), not when it was
  computed; a cell that only one side has is a difference too (a full recompute deletes the cells
  nothing supports any more);
- the recompute is the operator's own command, `flask --app gateway scores recompute --period P`,
  run once the gateway's workers are stopped, so nothing else writes cells meanwhile.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

from .services import Gateway

CellRow = tuple[str, int, int]


def dirty_cells(database_url: str, period: str) -> int:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM dirty_cells WHERE period = %s",
                           (period,)).fetchone()
    return int(row[0]) if row else 0


def wait_for_scores(database_url: str, period: str, timeout: float) -> float:
    """Seconds until no cell of `period` is dirty; raises AssertionError after `timeout`."""
    started = time.monotonic()
    left = -1
    while time.monotonic() - started < timeout:
        try:
            left = dirty_cells(database_url, period)
        except psycopg.OperationalError:
            left = -1  # the database is coming back
        if left == 0:
            return time.monotonic() - started
        time.sleep(0.25)
    raise AssertionError(f"{left} cells of {period} still dirty after {timeout:.0f} s: the "
                         "workers and the sweeper did not bring the scores up to date")


def cells(database_url: str, period: str) -> dict[str, CellRow]:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        rows = conn.execute("SELECT key, counts, respondents, dont_know FROM cells "
                            "WHERE period = %s", (period,)).fetchall()
    return {str(key): (str(counts), int(people), int(dont_know))
            for key, counts, people, dont_know in rows}


def recompute_differences(gateway: Gateway, period: str) -> tuple[int, list[str]]:
    """Run `scores recompute` and return (cells compared, every cell it changed)."""
    before = cells(gateway.database_url, period)
    done = gateway.flask("scores", "recompute", "--period", period)
    if done.returncode != 0:
        raise AssertionError(f"scores recompute failed: {done.stderr[-2000:]}")
    after = cells(gateway.database_url, period)
    changed = [f"{key}: incremental {before.get(key)} != recompute {after.get(key)}"
               for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]
    return len(after), changed


@dataclass(frozen=True)
class Settled:
    """After a scenario's load: how long the scores took to catch up (None: they did not, and
    `error` says how far they were), and how a full recompute compares with them."""

    catch_up: float | None
    error: str | None
    compared: int
    changed: list[str]

    def figures(self) -> dict[str, object]:
        """What a scenario's summary line says of its scores."""
        return {"scores_caught_up_s": None if self.catch_up is None else round(self.catch_up, 1),
                "cells_compared": self.compared}


def settle(gateway: Gateway, period: str, timeout: float) -> Settled:
    """Wait for the period's scores, stop the gateway, then compare them with a recompute."""
    try:
        catch_up: float | None = wait_for_scores(gateway.database_url, period, timeout)
        error = None
    except AssertionError as exc:
        catch_up, error = None, str(exc)
    gateway.stop()
    compared, changed = recompute_differences(gateway, period)
    return Settled(catch_up, error, compared, changed)
