"""Fixtures of the fault and abuse suite (`make faults`), a pytest suite of its own.

Rules:
- the session starts its own services and nothing else: a PostgreSQL cluster (`initdb`, its own
  data and socket folders, a free port) and a redis-server (a free port, no persistence), both on
  127.0.0.1, under one temporary folder; the machine's own PostgreSQL (5432) and Redis (6379) are
  never stopped, signalled nor written to;
- a missing binary skips the suite with the reason, and fails it under CI=true;
- the database is prepared once by the Procfile's `release:` line (migrations, then `config/`)
  into a template; every scenario gets a fresh copy of it and a flushed Redis, then runs the
  Procfile's `web:` and `worker:` lines against them; whatever a scenario broke (a stopped
  PostgreSQL, a frozen or killed Redis) is brought back up before the next one;
- modules run in a fixed order, the privacy scan last: it searches everything the earlier
  scenarios left (every database, Redis, every log) for every number they used;
- the summary (`faults/summary.py`) is printed at the end and written to `bench/results/`;
- under CI=true, hypothesis draws the same examples on every run (a red CI is reproducible).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from .load import Caller, Tally, tally, write_hops
from .services import (
    CI,
    Gateway,
    Gateways,
    PrivatePostgres,
    PrivateRedis,
    Workspace,
    slug,
)
from .summary import Summary

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("local", database=None)
settings.load_profile("ci" if CI else "local")

SUMMARY = Summary()
MODULE_ORDER = ("test_access", "test_fuzz", "test_duplicates", "test_redis", "test_workers",
                "test_postgres", "test_privacy")
_STARTED = [time.monotonic()]
_WRITTEN = pytest.StashKey[list[Path]]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        module = Path(str(item.fspath)).stem
        return MODULE_ORDER.index(module) if module in MODULE_ORDER else len(MODULE_ORDER) - 1

    items.sort(key=rank)  # stable: tests keep their order inside a module


def pytest_sessionstart(session: pytest.Session) -> None:
    _STARTED[0] = time.monotonic()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        outcome: str = report.outcome
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.outcome == "skipped" else "xpassed"
            SUMMARY.gaps[report.nodeid] = str(report.wasxfail)
        SUMMARY.outcomes[report.nodeid] = outcome


def pytest_sessionfinish(session: pytest.Session) -> None:
    written = SUMMARY.write(time.monotonic() - _STARTED[0])
    session.config.stash[_WRITTEN] = written


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not SUMMARY.tallies:
        return
    terminalreporter.section("fault and abuse suite")
    for line in SUMMARY.lines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(
        f"wall time {time.monotonic() - _STARTED[0]:.0f} s; summary: "
        + ", ".join(str(p.relative_to(p.parents[2])) for p in config.stash.get(_WRITTEN, [])))


@pytest.fixture(scope="session")
def summary() -> Summary:
    return SUMMARY


@pytest.fixture(scope="session")
def workspace(request: pytest.FixtureRequest) -> Iterator[Workspace]:
    root = Path(tempfile.mkdtemp(prefix="gateway-faults-"))
    root.chmod(0o755)  # the postgres account must reach its folder inside
    space = Workspace(root)
    space.logs.mkdir()
    space.traces.mkdir()
    yield space
    if request.session.testsfailed or os.environ.get("FAULTS_KEEP"):
        print(f"\nfaults: logs, traces and data kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(workspace: Workspace) -> Iterator[PrivatePostgres]:
    server = PrivatePostgres(workspace.root / "pg")
    server.init()
    server.start()
    SUMMARY.services["postgresql"] = server.bin.parent.name
    yield server
    server.teardown()


@pytest.fixture(scope="session")
def redis_server(workspace: Workspace) -> Iterator[PrivateRedis]:
    server = PrivateRedis(workspace.root / "redis")
    server.start()
    version = subprocess.run([server.binary, "--version"], capture_output=True, text=True,  # noqa: S603
                             check=False).stdout
    match = re.search(r"v=(\S+)", version)
    SUMMARY.services["redis"] = match.group(1) if match else "?"
    yield server
    server.kill()


@pytest.fixture(scope="session")
def template_database(postgres: PrivatePostgres, redis_server: PrivateRedis,
                      workspace: Workspace) -> str:
    """A database prepared by the Procfile's `release:` line, copied for every scenario."""
    name = "gw_template"
    url = postgres.create_database(name)
    Gateway("release", url, redis_server.url, workspace.logs).release()
    return name


@pytest.fixture
def gateways(postgres: PrivatePostgres, redis_server: PrivateRedis, template_database: str,
             workspace: Workspace) -> Iterator[Gateways]:
    """Gateways for one test."""
    made = Gateways(postgres, redis_server, template_database, workspace)
    yield made
    made.close()


@pytest.fixture(scope="module")
def module_gateways(postgres: PrivatePostgres, redis_server: PrivateRedis,
                    template_database: str, workspace: Workspace) -> Iterator[Gateways]:
    """Gateways for a scenario that several tests of a module judge (one run, several rules)."""
    made = Gateways(postgres, redis_server, template_database, workspace)
    yield made
    made.close()


@pytest.fixture(scope="session")
def record(summary: Summary, workspace: Workspace) -> Callable[..., Tally]:
    """Count what callers sent and what the database kept of it, keep their hop trace, add the
    figures to the summary and print their line."""

    def count(name: str, callers: list[Caller], database_url: str, **notes: object) -> Tally:
        result = tally(name, callers, database_url)
        result.notes.update(notes)
        write_hops(workspace.traces / f"{slug(name)}.txt", callers)
        summary.add(result)
        print(result.line())
        return result

    return count
