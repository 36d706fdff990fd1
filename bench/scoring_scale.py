"""Scoring at scale (issues 4 and 8): a synthetic quarter of N answers on PostgreSQL.

    .venv/bin/python bench/scoring_scale.py [--answers 1000000] [--seed 20261127] [--url postgresql://…]

or, from another script, `run(answers, seed, url) -> dict` (bench/run.py calls it for 1M and 10M).

It creates a database of its own (dropped at the end), writes N synthetic answers with the seed
(`gateway.synth`, reproducible: PostgreSQL COPY), then:
1. times a full recompute (`flask --app gateway scores recompute`, in its own process, which
   reports its own time and peak memory) against a bare `SELECT … GROUP BY` that counts and
   averages the same answers (the period's countable answers, the same WHERE), at N/10 and at N
   answers, so memory growth and the ratio are both visible;
2. checks the published counts, means and positive shares of every indicator of every item
   against an independent recomputation (tests/independent.py: raw answers streamed, statistics
   from numpy/scipy/statsmodels), every value of every item at every size (it streams every
   answer once in Python: about 5 s per million);
3. locks the quarter (in review since the first load), writes min(N/10, 100,000) more answers
   into it (with every index and constraint in place, as the webhook would), recomputes, and
   checks that the locked snapshot's SHA-256 is unchanged.

Rules of the comparison (it must be honest):
- both queries run in the same run, on the same database and tables, with the same indexes and
  constraints production has (the loader drops the secondary ones for speed and recreates them
  from their own catalog definitions, then checks the catalog is as before), the same planner
  statistics (ANALYZE after every load) and the same server settings (parallel workers, JIT:
  the server's defaults for both);
- the cache is warm for both: one unmeasured pass of each query first, then three measured runs of
  each, interleaved (recompute, bare, recompute, …), and the medians are compared;
- before each measured recompute the quarter's cells are deleted, so every run writes every cell
  (a repair that finds nothing changed writes nothing and would flatter the figure);
- the recompute figure is its own time inside its process (connection and imports excluded, as
  the CLI reports it), the bare one is the query's round trip on an open connection; the time
  from starting the process to the recompute's line (imports and connection included, the
  integrity scan the command runs next left out) is reported beside it, and the peak memory is
  the process's own (VmHWM: not ru_maxrss, which a child inherits from the bench's own peak across
  fork and exec), beside that of a process that only starts and lists the quarters.
Prints a table and writes bench/results/scoring-<date>-<host>-<N>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gateway import create_app  # noqa: E402
from gateway.migrate import upgrade  # noqa: E402
from gateway.quarters import move_to_review  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.synth import generate  # noqa: E402

PERIOD = "2026Q3"
SEED = 20261127
DEFAULT_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
RUNS = 3  # measured runs of each query; the medians are compared
LOCK_ADD_MAX = 100_000  # answers added to the locked quarter
LOADED = ("respondents", "submissions", "answers")  # the tables the synthetic writer fills
BARE = ("SELECT unit_id, indicator, count(*), avg(value) FROM answers "
        "WHERE period = %s GROUP BY unit_id, indicator")
# The recompute's own aggregation (scoring.aggregate.unit_counts), for the warm-up pass only.
WARM_RECOMPUTE = ("SELECT unit_id, indicator, value, count(*) FROM answers "
                  "WHERE period = %s GROUP BY unit_id, indicator, value")
Row = tuple[str, str]
Log = Callable[[str], None]


def flask(env: dict[str, str], *args: str) -> str:
    """Run a CLI command in its own process; its output."""
    done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "flask", "--app", "gateway", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed ({done.returncode}):\n"
                           f"{done.stdout}\n{done.stderr}")
    return done.stdout


def process_peak_mb(env: dict[str, str]) -> int:
    """Peak memory (VmHWM, as `scores recompute` reports its own) of a CLI process that only
    starts and lists the quarters: imports, the application, one query."""
    code = ("import sys\nfrom flask.cli import main\nfrom gateway.cli import _peak_mb\n"
            "sys.argv = ['flask', '--app', 'gateway', 'quarter', 'list']\ntry:\n    main()\n"
            "finally:\n    print('process peak', _peak_mb(), 'MB')")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,  # noqa: S603
                          capture_output=True, text=True, check=False)
    peak = re.search(r"process peak (\d+) MB", done.stdout)
    return int(peak.group(1)) if peak else 0


RECOMPUTE_LINE = re.compile(r"cells written from \d+ unit cells in ([0-9.]+) s "
                            r"\(process peak (\d+) MB\)")


def recompute(env: dict[str, str]) -> dict[str, Any]:
    """`scores recompute` in its own process: its own time and peak memory (as it prints them),
    and the time from starting the process to that line (process start included; the integrity
    scan the command runs afterwards is not)."""
    started = time.perf_counter()
    with subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
            [sys.executable, "-m", "flask", "--app", "gateway", "scores", "recompute",
             "--period", PERIOD], cwd=ROOT, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True) as process:
        assert process.stdout is not None
        lines, found = [], None
        for line in process.stdout:  # click.echo flushes each line: it arrives when printed
            lines.append(line)
            if found is None and (match := RECOMPUTE_LINE.search(line)):
                found = (match, time.perf_counter() - started, line.strip())
    if process.returncode != 0 or found is None:
        raise RuntimeError(f"scores recompute failed ({process.returncode}):\n{''.join(lines)}")
    match, with_start, line = found
    return {"seconds": float(match.group(1)), "with_start_s": with_start,
            "peak_mb": int(match.group(2)), "line": line}


def bare_group_by(url: str) -> float:
    """The bare query's round trip (rows fetched), on a connection opened beforehand."""
    with psycopg.connect(url) as conn:
        conn.execute("SELECT 1")
        started = time.perf_counter()
        conn.execute(BARE, (PERIOD,)).fetchall()
        return time.perf_counter() - started


# -- loading ------------------------------------------------------------------------------------

def _schema(conn: psycopg.Connection[Any]) -> tuple[list[tuple[str, str, str]],
                                                    list[tuple[str, str]]]:
    """The loaded tables' unique and foreign-key constraints (uniques first) and their plain
    secondary indexes, each with its own definition from the catalog."""
    constraints = conn.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype IN ('u', 'f') AND conrelid = ANY(%s::regclass[]) "
        "ORDER BY contype DESC, conname", (list(LOADED),)).fetchall()
    indexes = conn.execute(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i "
        "WHERE indrelid = ANY(%s::regclass[]) AND NOT indisprimary AND NOT EXISTS ("
        "  SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid"
        "  AND c.conrelid = i.indrelid) ORDER BY 1", (list(LOADED),)).fetchall()
    return constraints, indexes


@contextmanager
def bulk_load(url: str, timings: dict[str, float]) -> Iterator[None]:
    """Load without the secondary indexes, unique constraints and foreign keys of the loaded tables
    (maintaining them row by row made loading 4x slower), then put every one back from its own
    catalog definition. Putting them back checks every row (a duplicate countable answer or a
    dangling reference fails the bench), and the catalog must then read exactly as before: the
    recompute is measured with the indexes production has. Primary keys stay (other tables'
    foreign keys need them). Only ever on the bench's own, throwaway database."""
    with psycopg.connect(url, autocommit=True) as conn:
        constraints, indexes = before = _schema(conn)
        for table, name, _ in reversed(constraints):  # foreign keys first, then uniques
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
    started = time.perf_counter()
    yield
    timings["write_s"] = timings.get("write_s", 0.0) + time.perf_counter() - started
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")  # this session's sorts, not the server's
        for table, name, definition in constraints:  # uniques first, then foreign keys
            conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for _, definition in indexes:
            conn.execute(definition)
        if _schema(conn) != before:
            raise RuntimeError("the indexes and constraints were not restored as they were")
        # Autovacuum would analyze the new rows later; both queries plan with these statistics.
        conn.execute(f"ANALYZE {', '.join(LOADED)}")
    timings["index_s"] = timings.get("index_s", 0.0) + time.perf_counter() - started


def load(gw: Any, url: str, answers: int, seed: int) -> dict[str, float]:
    timings: dict[str, float] = {}
    with bulk_load(url, timings):
        generate(gw.db, PERIOD, answers, seed)
    return timings


def warm(url: str) -> None:
    """One unmeasured pass of each query: pages in cache, hint bits set, for both alike."""
    with psycopg.connect(url) as conn:
        conn.execute(BARE, (PERIOD,)).fetchall()
        conn.execute(WARM_RECOMPUTE, (PERIOD,)).fetchall()


def clear_cells(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM cells WHERE period = %s", (PERIOD,))


# -- measuring ----------------------------------------------------------------------------------

def measure_size(env: dict[str, str], url: str, answers: int) -> dict[str, Any]:
    """Recompute vs bare GROUP BY at the current size: medians of RUNS interleaved runs each."""
    warm(url)
    inner, wall, peaks, bare, outputs = [], [], [], [], []
    for _ in range(RUNS):
        clear_cells(url)
        done = recompute(env)
        inner.append(done["seconds"])
        wall.append(done["with_start_s"])
        peaks.append(done["peak_mb"])
        outputs.append(done["line"])
        bare.append(bare_group_by(url))
    recompute_s, bare_s = statistics.median(inner), statistics.median(bare)
    return {"answers": answers, "recompute_s": recompute_s, "recompute_runs_s": inner,
            "recompute_with_start_s": statistics.median(wall), "recompute_with_start_runs_s": wall,
            "bare_s": bare_s, "bare_runs_s": bare, "ratio": recompute_s / bare_s,
            "peak_mb": max(peaks), "peak_runs_mb": peaks, "output": outputs[-1]}


def verify(gw: Any) -> dict[str, Any]:
    """Every published value of the quarter against the independent recomputation."""
    from gateway.scores import period_items
    from tests.independent import counts_by_node, expected_indicator

    started = time.perf_counter()
    with gw.db.session() as session:
        items = period_items(session, PERIOD, gw.method)
    scope = f"all {len(items):,} items"
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
    return {"scope": scope, "values": compared, "mismatches": mismatches,
            "seconds": time.perf_counter() - started, "ok": mismatches == 0}


def lock_then_add(env: dict[str, str], url: str, gw: Any, answers: int, seed: int
                  ) -> dict[str, Any]:
    locked = flask(env, "quarter", "lock", PERIOD)  # in review since the first load
    digest = locked.strip().rsplit(" ", 1)[-1]
    added = min(answers // 10, LOCK_ADD_MAX)
    generate(gw.db, PERIOD, added, seed + 2)  # every index and constraint in place
    flask(env, "scores", "recompute", "--period", PERIOD)
    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT sha256 FROM snapshots WHERE period = %s",
                              (PERIOD,)).fetchall()
    same = stored == [(digest,)]
    return {"added": added, "ok": same,
            "result": "byte-identical" if same else f"CHANGED: {stored}"}


def run(answers: int, seed: int = SEED, url: str = DEFAULT_URL, *,
        log: Log | None = None) -> dict[str, Any]:
    """The whole benchmark at `answers` answers, in a database of its own (dropped at the end).

    Returns the figures at N (top level: `answers`, `recompute_s`, `recompute_with_start_s`,
    `bare_s`, `ratio`, `peak_mb`, `generation_s`), the same at N/10 under `sizes`, the loading
    times, the checks (`verify`, `snapshot`, `ok`) and `rows`, the printable table."""
    say = log or (lambda _message: None)
    name = f"bench_scoring_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    own_url = url.rsplit("/", 1)[0] + "/" + name
    env = {**os.environ, "DATABASE_URL": own_url, "GATEWAY_ENV": "test", "MIN_RESPONDENTS": "10"}
    env.pop("REDIS_URL", None)
    tenth = answers // 10
    try:
        app = create_app(Settings.from_env(environ=env))
        gw = app.extensions["gateway"]
        # Embedded mode starts a sweeper thread in this process; the bench runs no job, and a
        # sweep landing mid-measurement (an integrity scan of the ended quarter) would skew it.
        gw.queue.close()
        upgrade(gw.db)
        flask(env, "release")
        say(f"writing {tenth:,} synthetic answers")
        small_load = load(gw, own_url, tenth, seed)
        # The quarter has ended: the first CLI process's sweeper would move it to review and scan
        # it on a thread, beside the recompute being measured. Move it now, as the sweeper would.
        with gw.db.transaction() as session:
            move_to_review(session, PERIOD, datetime.now(UTC))
        say(f"measuring at {tenth:,} answers")
        small = measure_size(env, own_url, tenth)
        say(f"writing {answers - tenth:,} more")
        big_load = load(gw, own_url, answers - tenth, seed + 1)
        say(f"measuring at {answers:,} answers")
        big = measure_size(env, own_url, answers)
        baseline_mb = process_peak_mb(env)
        say("checking against the independent recomputation")
        checked = verify(gw)
        say("locking the quarter and adding answers")
        frozen = lock_then_add(env, own_url, gw, answers, seed)
        gw.db.dispose()
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    generation = {
        "answers": answers,
        "write_s": small_load["write_s"] + big_load["write_s"],
        "index_s": small_load["index_s"] + big_load["index_s"],
    }
    generation["total_s"] = generation["write_s"] + generation["index_s"]
    figures: dict[str, Any] = {
        "answers": answers, "seed": seed,
        "recompute_s": big["recompute_s"], "recompute_with_start_s": big["recompute_with_start_s"],
        "bare_s": big["bare_s"], "ratio": big["ratio"], "peak_mb": big["peak_mb"],
        "baseline_process_peak_mb": baseline_mb,
        "memory_growth": big["peak_mb"] / max(small["peak_mb"], 1),
        "generation_s": generation["total_s"], "generation": generation,
        "sizes": [small, big], "verify": checked, "snapshot": frozen,
        "ok": checked["ok"] and frozen["ok"],
    }
    figures["rows"] = table(figures, small_load, big_load)
    return figures


def table(figures: dict[str, Any], small_load: dict[str, float],
          big_load: dict[str, float]) -> list[Row]:
    small, big = figures["sizes"]
    rows: list[Row] = [
        (f"write {small['answers']:,} synthetic answers (COPY)",
         f"{small_load['write_s']:.1f} s + {small_load['index_s']:.1f} s indexes, constraints, "
         f"ANALYZE"),
        (f"write {big['answers'] - small['answers']:,} more",
         f"{big_load['write_s']:.1f} s + {big_load['index_s']:.1f} s indexes, constraints, "
         f"ANALYZE"),
    ]
    for size in (small, big):
        n = f"{size['answers']:,}"
        rows += [
            (f"full recompute, {n} answers (median of {RUNS})",
             f"{size['recompute_s']:.3f} s ({size['recompute_with_start_s']:.2f} s with process "
             f"start), peak {size['peak_mb']} MB; runs "
             + ", ".join(f"{s:.3f}" for s in size["recompute_runs_s"])),
            (f"bare GROUP BY, {n} answers (median of {RUNS})",
             f"{size['bare_s']:.3f} s; runs " + ", ".join(f"{s:.3f}" for s in size["bare_runs_s"])),
            (f"recompute / bare query at {n}", f"{size['ratio']:.2f}x"),
        ]
    checked, frozen = figures["verify"], figures["snapshot"]
    rows += [
        ("peak memory, 10x the answers", f"{figures['memory_growth']:.2f}x "
         f"(a process that only starts: {figures['baseline_process_peak_mb']} MB)"),
        ("recompute output", big["output"]),
        ("published counts, means, shares vs an independent recomputation",
         f"{checked['values']:,} values of {checked['scope']}, {checked['mismatches']} mismatches "
         f"({checked['seconds']:.1f} s)"),
        (f"snapshot after locking and adding {frozen['added']:,} answers", frozen["result"]),
    ]
    return rows


def render(figures: dict[str, Any]) -> str:
    rows = figures["rows"]
    width = max(len(k) for k, _ in rows)
    lines = [f"scoring benchmark, {figures['answers']:,} answers, seed {figures['seed']}, "
             f"{platform.node()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"]
    lines += [f"  {key.ljust(width)}  {value}" for key, value in rows]
    return "\n".join(lines)


def write_results(figures: dict[str, Any]) -> Path:
    out_file = ROOT / "bench" / "results" / (
        f"scoring-{datetime.now(UTC):%Y%m%d}-{platform.node() or 'host'}-{figures['answers']}.json")
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps({
        "seed": figures["seed"], "answers": figures["answers"],
        "machine": platform.platform(), "cpus": os.cpu_count(),
        "figures": {k: v for k, v in figures.items() if k != "rows"},
        "results": dict(figures["rows"])}, indent=2) + "\n")
    return out_file


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--url", default=DEFAULT_URL)
    args = parser.parse_args()
    figures = run(args.answers, args.seed, args.url,
                  log=lambda message: print(f"… {message}", file=sys.stderr, flush=True))
    print(render(figures))
    print(f"saved {write_results(figures).relative_to(ROOT)}")
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
