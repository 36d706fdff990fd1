"""Scoring at scale (issue 4's acceptance): a synthetic quarter of N answers on PostgreSQL.

    .venv/bin/python bench/scoring_scale.py [--answers 1000000] [--seed 20261127] [--url postgresql://…]

It creates a database of its own (dropped at the end), writes N synthetic answers with the seed
(`gateway.synth`, reproducible), then:
1. times a full recompute (`flask --app gateway scores recompute`, in its own process, which
   reports its own peak memory) against a bare `SELECT … GROUP BY` that counts and averages the
   same answers, at N/10 and at N answers, so memory growth and the ratio are both visible;
2. checks the published counts, means and positive shares of every indicator of every item
   against an independent recomputation (tests/independent.py: raw answers streamed, statistics
   from numpy/scipy/statsmodels);
3. locks the quarter, writes N/10 more answers into it, recomputes, and checks that the locked
   snapshot's SHA-256 is unchanged.
Prints a table and writes it to bench/results/scoring-<date>-<host>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway import create_app  # noqa: E402
from gateway.migrate import upgrade  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.synth import generate  # noqa: E402

PERIOD = "2026Q3"
Row = tuple[str, str]


def flask(env: dict[str, str], *args: str) -> tuple[float, int, str]:
    """Run a CLI command in its own process: (seconds, its own peak RSS in MB, output)."""
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "flask", "--app", "gateway", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    peak = re.search(r"process peak (\d+) MB", done.stdout)
    return elapsed, int(peak.group(1)) if peak else 0, done.stdout


def inner_seconds(output: str) -> float:
    """The recompute's own time, as `scores recompute` prints it ("... in 1.23 s")."""
    return float(re.search(r" in ([0-9.]+) s", output).group(1))  # type: ignore[union-attr]


def bare_group_by(url: str) -> float:
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        conn.execute("SELECT unit_id, indicator, count(*), avg(value) FROM answers "
                     "WHERE period = %s GROUP BY unit_id, indicator", (PERIOD,)).fetchall()
        return time.perf_counter() - started


def measure(env: dict[str, str], url: str, gw: Any, answers: int, seed: int) -> list[Row]:
    """Write N/10 answers, recompute; write the rest, recompute again; compare with GROUP BY."""
    rows: list[Row] = []
    tenth = answers // 10
    started = time.perf_counter()
    generate(gw.db, PERIOD, tenth, seed)
    rows.append((f"write {tenth:,} synthetic answers", f"{time.perf_counter() - started:.1f} s"))
    small_time, small_mem, small_out = flask(env, "scores", "recompute", "--period", PERIOD)
    small_bare = bare_group_by(url)
    started = time.perf_counter()
    generate(gw.db, PERIOD, answers - tenth, seed + 1)
    rows.append((f"write {answers - tenth:,} more", f"{time.perf_counter() - started:.1f} s"))
    big_time, big_mem, out = flask(env, "scores", "recompute", "--period", PERIOD)
    big_bare = bare_group_by(url)
    small_in, big_in = inner_seconds(small_out), inner_seconds(out)
    return [
        *rows,
        (f"full recompute, {tenth:,} answers",
         f"{small_in:.2f} s ({small_time:.2f} s with process start), peak {small_mem} MB"),
        (f"bare GROUP BY, {tenth:,} answers", f"{small_bare:.2f} s"),
        (f"full recompute, {answers:,} answers",
         f"{big_in:.2f} s ({big_time:.2f} s with process start), peak {big_mem} MB"),
        (f"bare GROUP BY, {answers:,} answers", f"{big_bare:.2f} s"),
        (f"recompute / bare query at {answers:,}", f"{big_in / big_bare:.2f}x"),
        ("peak memory, 10x the answers", f"{big_mem / max(small_mem, 1):.2f}x"),
        ("recompute output", out.strip().splitlines()[0]),
    ]


def verify(gw: Any) -> tuple[Row, bool]:
    """Every published value of the quarter against the independent recomputation."""
    from gateway.scores import period_items
    from tests.independent import counts_by_node, expected_indicator

    started = time.perf_counter()
    with gw.db.session() as session:
        items = period_items(session, PERIOD, gw.method)
    expected = counts_by_node(gw.db, PERIOD)
    compared = mismatches = 0
    for item in items:
        code = item["unit"]["code"] if item["unit"] else item["location"]["code"]
        for ind in item["indicators"]:
            counts = expected[(item["level"], code, item["type"], ind["code"])]
            want = expected_indicator(ind["code"], counts)
            fields = [("respondents", 0), ("dont_know", 0)]
            if not ind["suppressed"]:
                fields += [("mean", 3), ("positive_share", 4)]
            for field, digits in fields:
                if want.get(field) is None:
                    continue
                compared += 1
                if abs((ind[field] or 0) - want[field]) > 10 ** -digits:
                    mismatches += 1
    row = ("published counts, means, shares vs an independent recomputation",
           f"{compared:,} values, {mismatches} mismatches ({time.perf_counter() - started:.1f} s)")
    return row, mismatches == 0


def lock_then_add(env: dict[str, str], url: str, gw: Any, answers: int, seed: int
                  ) -> tuple[Row, bool]:
    flask(env, "quarter", "review", PERIOD)
    _, _, locked = flask(env, "quarter", "lock", PERIOD)
    digest = locked.strip().rsplit(" ", 1)[-1]
    generate(gw.db, PERIOD, answers // 10, seed + 2)
    flask(env, "scores", "recompute", "--period", PERIOD)
    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT sha256 FROM snapshots WHERE period = %s",
                              (PERIOD,)).fetchall()
    same = stored == [(digest,)]
    return ("snapshot after locking and adding answers",
            "byte-identical" if same else f"CHANGED: {stored}"), same


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--url", default=os.environ.get(
        "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    name = f"bench_scoring_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = args.url.rsplit("/", 1)[0] + "/" + name
    env = {**os.environ, "DATABASE_URL": url, "GATEWAY_ENV": "test", "MIN_RESPONDENTS": "10"}
    env.pop("REDIS_URL", None)
    try:
        app = create_app(Settings.from_env(environ=env))
        gw = app.extensions["gateway"]
        upgrade(gw.db)
        flask(env, "release")
        rows = measure(env, url, gw, args.answers, args.seed)
        checked, values_ok = verify(gw)
        frozen, snapshot_ok = lock_then_add(env, url, gw, args.answers, args.seed)
        rows += [checked, frozen]
        gw.db.dispose()
    finally:
        with psycopg.connect(args.url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    width = max(len(k) for k, _ in rows)
    print(f"scoring benchmark, seed {args.seed}, {platform.node()}, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    for key, value in rows:
        print(f"  {key.ljust(width)}  {value}")
    out_file = ROOT / "bench" / "results" / (
        f"scoring-{datetime.now(UTC):%Y%m%d}-{platform.node() or 'host'}.json")
    out_file.write_text(json.dumps({"seed": args.seed, "answers": args.answers,
                                    "machine": platform.platform(), "cpus": os.cpu_count(),
                                    "results": dict(rows)}, indent=2) + "\n")
    return 0 if values_ok and snapshot_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
