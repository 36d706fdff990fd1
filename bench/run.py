"""`make bench`: the campaign-day figures, each beside its baseline measured in the same run.

    .venv/bin/python bench/run.py [--quick] [--seconds 20] [--connections 8] [--seed 20261127]

On real PostgreSQL (BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test; the
bench creates databases of its own and drops them) and Redis (BENCH_REDIS_URL, default
redis://127.0.0.1:6379/12, flushed). Steps:

1. Traffic: USSD sessions played once against the real application in-process (bench/traffic.py,
   seeded): first-time and returning callers, three languages, refusals, drop-outs; SMS in the
   grammar's three languages. wrk replays them (bench/replay.lua), one caller's sessions in order on
   one connection, closed loop, `--connections` connections, for `--seconds`.
2. For USSD and then SMS, three servers on the Procfile's own `web:` line (gunicorn, its workers,
   threads and timeouts) in turn: the bare baseline (bench/baseline.py: parse the same form, a
   fixed reply), the one-INSERT baseline, and the gateway itself with the Procfile's RQ `worker:`
   and a fake Africa's Talking (tests/fake_africastalking.py) receiving the SMS replies. Each gets
   a fresh database and a warm-up before it is measured.
3. Freshness, during the gateway's USSD load: a probe caller completes a session rating a unit
   that nobody in the load rates, then polls `GET /api/v1/scores` until that unit's respondents
   count has grown: the time from the END screen to the updated score.
4. Peak memory (VmHWM) of each gunicorn worker of the gateway, after its load.
5. A full recompute of a quarter of 1,000,000 and (without `--quick`) 10,000,000 synthetic answers
   against a bare `SELECT … GROUP BY`, and the recompute's peak memory (bench/scoring_scale.py).

Prints one table of figures, goals and ratios; writes bench/results/bench-<date>-<host>.json and
.md, and rewrites the README's block between `<!-- bench:start -->` and `<!-- bench:end -->`.
Nothing here is an assertion: goals are printed as met or not, with the measured figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from cryptography.fernet import Fernet
from redis import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.baseline import create_table  # noqa: E402
from bench.traffic import TOKEN, Probe, Stream, bench_env, record_ussd, sms_streams  # noqa: E402
from gateway.configdata import load_into_database  # noqa: E402
from gateway.db import Database  # noqa: E402
from gateway.migrate import upgrade  # noqa: E402
from gateway.models import InstitutionUnit, Location  # noqa: E402
from gateway.settings import DEFAULT_CONFIG_DIR, normalise_database_url  # noqa: E402
from gateway.tokens import create_token  # noqa: E402
from scoring.periods import quarter_of  # noqa: E402
from tests.fake_africastalking import API_KEY as AT_API_KEY  # noqa: E402
from tests.fake_africastalking import USERNAME as AT_USERNAME  # noqa: E402
from tests.fake_africastalking import FakeAfricasTalking  # noqa: E402

RESULTS = ROOT / "bench" / "results"
VENV_BIN = Path(sys.executable).parent
BASH = shutil.which("bash") or "/bin/bash"
# A campaign day's rate (a radio spot: ~2,000 callers in 10 minutes, ~15 hops each, is 50 hops/s;
# this is twice that), the same for the baselines and the gateway: the latency a caller sees.
PACED = {"ussd": 100.0, "sms": 30.0}
GOALS = {"hop_ratio": 0.7, "hop_p99_ms": 50.0, "recompute_ratio": 3.0, "freshness_p99_s": 2.0,
         "worker_peak_mb": 300.0}


def procfile(name: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        key, _, command = line.partition(":")
        if key.strip() == name:
            return command.strip()
    raise SystemExit(f"Procfile has no {name}: line")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- databases ---------------------------------------------------------------------------------

def admin_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def fresh_database(server_url: str, tag: str) -> Iterator[str]:
    """A migrated database with config/ loaded, dropped afterwards."""
    name = f"bench_{tag}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urllib.parse.urlsplit(admin_url(server_url))._replace(path=f"/{name}").geturl()
    try:
        db = database(url)
        upgrade(db)
        with db.transaction() as session:
            load_into_database(session, DEFAULT_CONFIG_DIR)
        db.dispose()
        yield url
    finally:
        with psycopg.connect(admin_url(server_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database(url: str) -> Database:
    normalised = normalise_database_url(url)
    assert normalised is not None
    return Database(normalised)


def api_token(url: str) -> str:
    db = database(url)
    with db.transaction() as session:
        _, token = create_token(session, "bench", provisional=True, province=None)
    db.dispose()
    return token


def unit_place(url: str, unit_code: str) -> tuple[str, str]:
    db = database(url)
    with db.session() as session:
        row = session.execute(
            InstitutionUnit.__table__.join(Location.__table__,
                                           InstitutionUnit.location_id == Location.id)
            .select().with_only_columns(InstitutionUnit.type, Location.code)
            .where(InstitutionUnit.code == unit_code)).one()
    db.dispose()
    return str(row[0]), str(row[1])


def count_rows(url: str, table: str) -> int:
    with psycopg.connect(admin_url(url)) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 - our names
        return int(row[0]) if row else 0


# --- processes -----------------------------------------------------------------------------------

@dataclass
class Server:
    """The Procfile's `web:` line on a port of its own, for one application."""

    app_spec: str
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = procfile("web").replace("'gateway:create_app()'", shlex.quote(self.app_spec))
        env = {**self.env, "PORT": str(self.port), "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - the Procfile's own command
                [BASH, "-c", f"exec {command}"], cwd=ROOT, env=env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.app_spec} did not start: see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):  # noqa: S310
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise SystemExit(f"{self.app_spec} did not answer /healthz within 60 s: see {self.log}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        assert self.process is not None
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        return [int(p) for p in children.read_text().split()] if children.exists() else []

    def peak_mb(self) -> float:
        return max((peak_mb(pid) for pid in self.workers()), default=0.0)

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group (a graceful stop), SIGKILL after 30 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def peak_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_by_command() -> dict[str, float]:
    """CPU seconds used so far by every process, summed by command name, counting the children
    each has waited for (RQ's work horses, PostgreSQL backends that ended)."""
    found: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1: text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        ticks = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
        found[name] = found.get(name, 0.0) + ticks / TICKS
    return found


def cpu_per_request(before: dict[str, float], after: dict[str, float],
                    requests: int) -> dict[str, float]:
    """CPU milliseconds per request by command, for the commands that did measurable work."""
    out = {}
    for name in sorted(after):
        used = after[name] - before.get(name, 0.0)
        if used > 0.05 and requests:
            out[name] = round(used * 1000 / requests, 3)
    return out


@contextmanager
def worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The Procfile's `worker:` line."""
    full = {**env, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - the Procfile's own command
            [BASH, "-c", f"exec {procfile('worker')}"], cwd=ROOT, env=full, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        stop_group(process)


# --- load ----------------------------------------------------------------------------------------

def write_streams(streams: list[Stream], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n, stream in enumerate(streams):
        (folder / f"{n}.txt").write_text("\n".join(stream.hops) + "\n")
    return folder


def wrk(url: str, path: str, streams: Path, *, connections: int, seconds: float, run: str,
        cycle: int, rate: float = 0.0) -> dict[str, Any]:
    """One wrk run; `rate` > 0 paces it (requests per second in all, roughly: each connection
    pauses a random time, exponential with mean connections/rate, before each request, so the
    connections send independently; the reply time adds to the pause, so the achieved rate is
    somewhat lower and is what the table shows), otherwise it is a closed loop, as fast as the
    server answers."""
    per_connection = rate / connections if rate else 0.0
    command = ["wrk", "-t", str(connections), "-c", str(connections), "-d", f"{seconds:g}s",
               "--timeout", "10s", "-s", str(ROOT / "bench" / "replay.lua"), url,
               "--", path, str(streams), run, str(cycle), f"{per_connection:g}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    for line in done.stdout.splitlines():
        if line.startswith("BENCH "):
            figures: dict[str, Any] = json.loads(line.removeprefix("BENCH "))
            if done.stderr.strip():
                figures["first_bad_replies"] = done.stderr.strip().splitlines()[:3]
            return figures
    raise RuntimeError(f"wrk gave no figures:\n{done.stdout}\n{done.stderr}")


@dataclass
class Freshness:
    """Completes the probe's session with a new caller, again and again, and times how long the
    API takes to count it."""

    server: str
    token: str
    probe: Probe
    period: str
    unit_type: str
    location: str
    delays: list[float] = field(default_factory=list)
    misses: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            n += 1
            try:
                self._probe(f"+24380{n:07d}")
            except (urllib.error.URLError, OSError, ValueError, KeyError):
                self.misses += 1
            self.stopping.wait(0.5)

    def _probe(self, phone: str) -> None:
        counted = self._respondents()
        session_id = f"ATUid_probe_{uuid.uuid4().hex[:12]}"
        reply = ""
        for text in self.probe.texts:
            reply = self._post(session_id, phone, text)
        if reply != self.probe.ending:  # the thanks, not an apology
            self.misses += 1
            return
        ended = time.monotonic()
        while time.monotonic() - ended < 30:
            if self._respondents() > counted:
                self.delays.append(time.monotonic() - ended)
                return
            time.sleep(0.02)
        self.misses += 1

    def _post(self, session_id: str, phone: str, text: str) -> str:
        body = urllib.parse.urlencode({"sessionId": session_id, "serviceCode": "*384*2026#",
                                       "phoneNumber": phone, "networkCode": "63001",
                                       "text": text}).encode()
        request = urllib.request.Request(f"{self.server}/at/{TOKEN}/ussd", data=body)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return str(response.read().decode())

    def _respondents(self) -> int:
        query = urllib.parse.urlencode({"period": self.period, "type": self.unit_type,
                                        "level": "unit", "location": self.location})
        request = urllib.request.Request(  # noqa: S310
            f"{self.server}/api/v1/scores?{query}",
            headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                items = json.loads(response.read())["items"]
        except urllib.error.HTTPError as exc:
            if exc.code == 404:  # no answers in the quarter yet
                return 0
            raise
        return max((int(i["respondents"]) for i in items
                    if (i.get("unit") or {}).get("code") == self.probe.unit), default=0)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# --- one channel ---------------------------------------------------------------------------------

@dataclass
class Setup:
    postgres: str
    redis: str
    connections: int
    seconds: float
    warmup: float
    work: Path
    fake_at: FakeAfricasTalking
    vault_key: str = field(default_factory=lambda: Fernet.generate_key().decode())

    def env(self, database_url: str, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items()
                if k in ("HOME", "LANG", "LC_ALL", "TMPDIR", "USER")}
        return {**base, **bench_env(
            database_url, GATEWAY_ENV="production", REDIS_URL=self.redis,
            VAULT_KEY=self.vault_key, AT_USERNAME=AT_USERNAME, AT_API_KEY=AT_API_KEY,
            AT_SENDER="2026", AT_API_URL=self.fake_at.url, SMS_RATE_PER_SECOND="1000",
            SMS_MAX_PER_DAY="1000", PROMETHEUS_MULTIPROC_DIR=str(self.work / "prometheus"),
            **extra)}


def flush_redis(url: str) -> None:
    connection = Redis.from_url(url)
    connection.flushdb()
    connection.close()


def measure_channel(setup: Setup, channel: str, streams: Path, probe: Probe | None,
                    ) -> dict[str, Any]:
    path = f"/at/{TOKEN}/{channel}"
    results: dict[str, Any] = {}
    for target in ("bare", "insert", "gateway"):
        flush_redis(setup.redis)
        shutil.rmtree(setup.work / "prometheus", ignore_errors=True)
        (setup.work / "prometheus").mkdir()
        with fresh_database(setup.postgres, f"{channel}_{target}") as url:
            env = setup.env(url, BASELINE=target)
            if target == "insert":
                create_table(str(normalise_database_url(url)))
            spec = "gateway:create_app()" if target == "gateway" else "bench.baseline:create_app()"
            server = Server(spec, env, setup.work / f"{channel}-{target}.log")
            print(f"  {channel} {target}: {setup.connections} connections, "
                  f"{setup.warmup:g} s warm-up + {setup.seconds:g} s", flush=True)
            with worker(env, setup.work / f"{channel}-worker.log") if target == "gateway" \
                    else _nothing():
                server.start()
                try:
                    # A run id per wrk call (session and message ids never repeat) and a cycle
                    # per phase (callers of one phase are not those of another).
                    wrk(server.url, path, streams, connections=setup.connections,
                        seconds=setup.warmup, run=uuid.uuid4().hex[:6], cycle=8)
                    before = cpu_by_command()
                    figures = wrk(server.url, path, streams, connections=setup.connections,
                                  seconds=setup.seconds, run=uuid.uuid4().hex[:6], cycle=0)
                    figures["cpu_ms_per_request"] = cpu_per_request(
                        before, cpu_by_command(), int(figures["requests"]))
                    fresh = None
                    thread = None
                    if target == "gateway" and probe is not None:  # under the paced load
                        unit_type, location = unit_place(url, probe.unit)
                        fresh = Freshness(server.url, api_token(url), probe,
                                          quarter_of(datetime.now(UTC)), unit_type, location)
                        thread = threading.Thread(target=fresh.run, daemon=True)
                        thread.start()
                    figures["paced"] = wrk(server.url, path, streams,
                                           connections=setup.connections, seconds=setup.seconds,
                                           run=uuid.uuid4().hex[:6], cycle=4,
                                           rate=PACED[channel])
                    if fresh is not None and thread is not None:
                        fresh.stopping.set()
                        thread.join(40)
                        figures["freshness"] = {
                            "probes": len(fresh.delays), "missed": fresh.misses,
                            "p50_s": percentile(fresh.delays, 50),
                            "p99_s": percentile(fresh.delays, 99),
                            "max_s": max(fresh.delays, default=float("nan"))}
                    if target == "gateway":
                        figures["web_worker_peak_mb"] = server.peak_mb()
                        figures["answers_stored"] = count_rows(url, "answers")
                        figures["metrics"] = scrape(server.url)
                except RuntimeError as exc:
                    log = server.log.read_text(errors="replace").splitlines()[-30:]
                    raise SystemExit("\n".join([f"{channel} {target} failed; its log ends:",
                                                 *log])) from exc
                finally:
                    server.stop()
            results[target] = figures
    return results


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def scrape(url: str) -> dict[str, float]:
    """A few operator figures from /metrics after the load (summed over label sets)."""
    wanted = ("gateway_enqueue_failures_total", "gateway_answers_stored_total",
              "gateway_sms_sent_total", "gateway_sms_failed_total")
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:  # noqa: S310
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return {}
    found: dict[str, float] = {}
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in wanted:
            found[name] = found.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
        if name == "gateway_ussd_hops_total" and 'screen="polite_end"' in line:
            found["apologies"] = found.get("apologies", 0.0) + float(line.rsplit(" ", 1)[1])
    return found


# --- the table -----------------------------------------------------------------------------------

def good_rate(figures: dict[str, Any]) -> float:
    """Replies that were what the endpoint is for, per second (errors never count as speed)."""
    return float(figures["good"]) / float(figures["seconds"]) if figures["seconds"] else 0.0


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def table(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for channel, unit in (("ussd", "hops"), ("sms", "messages")):
        figures = report.get(channel)
        if not figures:
            continue
        bare, insert, gw = figures["bare"], figures["insert"], figures["gateway"]
        label = channel.upper()
        for name, f in (("bare Flask baseline", bare), ("one-INSERT baseline", insert),
                        ("gateway", gw)):
            rows.append((f"{label} {unit}/s, {name}",
                         f"{good_rate(f):.0f}/s  p50 {f['p50_ms']:.1f} ms  "
                         f"p99 {f['p99_ms']:.1f} ms",
                         f"{f['good']} good, {f['bad'] + f['socket_errors']} bad"))
        for name, f in (("bare Flask baseline", bare), ("one-INSERT baseline", insert),
                        ("gateway", gw)):
            paced = f["paced"]
            rows.append((f"{label} at {PACED[channel]:g}/s paced, {name}",
                         f"{good_rate(paced):.0f}/s  p50 {paced['p50_ms']:.1f} ms  "
                         f"p99 {paced['p99_ms']:.1f} ms",
                         f"{paced['good']} good, {paced['bad'] + paced['socket_errors']} bad"))
        r_insert = ratio(good_rate(gw), good_rate(insert))
        r_bare = ratio(good_rate(gw), good_rate(bare))
        rows.append((f"{label} gateway / one-INSERT baseline", f"{r_insert:.2f}x",
                     f"goal >= {GOALS['hop_ratio']}x: {verdict(r_insert >= GOALS['hop_ratio'])}"))
        rows.append((f"{label} gateway / bare Flask baseline", f"{r_bare:.2f}x", ""))
        p99 = gw["paced"]["p99_ms"]
        rows.append((f"{label} gateway p99 at {PACED[channel]:g}/s", f"{p99:.1f} ms",
                     f"goal <= {GOALS['hop_p99_ms']:g} ms: {verdict(p99 <= GOALS['hop_p99_ms'])}"))
        rows.append((f"{label} gateway CPU per request", _cpu(gw), "ms, by process"))
        rows.append((f"{label} one-INSERT baseline CPU per request", _cpu(insert),
                     "ms, by process"))
        if channel == "ussd":
            apologies = gw.get("metrics", {}).get("apologies", 0.0)
            rows.append(("USSD apologies (polite END) in the gateway's runs",
                         f"{apologies:.0f}", "counted good by wrk, read from /metrics: must be 0"))
        rows.append((f"{label} web worker peak memory", f"{gw['web_worker_peak_mb']:.0f} MB",
                     "VmHWM of the largest gunicorn worker"))
        if "freshness" in gw:
            fr = gw["freshness"]
            rows.append(("freshness, END screen -> API (paced USSD load)",
                         f"p50 {fr['p50_s']:.2f} s  p99 {fr['p99_s']:.2f} s  "
                         f"max {fr['max_s']:.2f} s",
                         f"{fr['probes']} probes, {fr['missed']} missed; goal p99 <= "
                         f"{GOALS['freshness_p99_s']:g} s: "
                         f"{verdict(fr['p99_s'] <= GOALS['freshness_p99_s'])}"))
    for size in report.get("recompute", []):
        n = f"{size['answers']:,}"
        rows.append((f"full recompute, {n} answers", f"{size['recompute_s']:.2f} s",
                     f"bare GROUP BY {size['bare_s']:.2f} s"))
        rows.append((f"recompute / bare GROUP BY, {n}", f"{size['ratio']:.2f}x",
                     f"goal <= {GOALS['recompute_ratio']:g}x: "
                     f"{verdict(size['ratio'] <= GOALS['recompute_ratio'])}"))
        rows.append((f"recompute peak memory, {n}", f"{size['peak_mb']:.0f} MB",
                     f"goal <= {GOALS['worker_peak_mb']:g} MB: "
                     f"{verdict(size['peak_mb'] <= GOALS['worker_peak_mb'])}"))
    return rows


def _cpu(figures: dict[str, Any]) -> str:
    used = figures.get("cpu_ms_per_request", {})
    return "  ".join(f"{name} {used[name]:.1f}" for name in ("gunicorn", "postgres", "flask",
                                                            "redis-server") if name in used)


def render(rows: list[tuple[str, str, str]], header: str) -> str:
    width = max(len(r[0]) for r in rows)
    value = max(len(r[1]) for r in rows)
    lines = [header, ""]
    lines += [f"{a.ljust(width)}  {b.ljust(value)}  {c}".rstrip() for a, b, c in rows]
    return "\n".join(lines)


def update_readme(text: str) -> None:
    readme = ROOT / "README.md"
    content = readme.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if start not in content or end not in content:
        return
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n```\n{text}\n```\n{end}{tail}")


def measure(report: dict[str, Any], only: set[str], args: argparse.Namespace,
            setup: Setup) -> None:
    """Every figure asked for, into `report`."""
    fake = setup.fake_at.start()
    try:
        if "ussd" in only:
            print("recording USSD sessions against the application (seeded) …", flush=True)
            streams, probe = record_ussd(300, args.connections, args.seed)
            report["ussd_traffic"] = {"recorded_hops": sum(len(s.hops) for s in streams),
                                      "probe_unit": probe.unit}
            report["ussd"] = measure_channel(
                setup, "ussd", write_streams(streams, setup.work / "ussd"), probe)
        if "sms" in only:
            streams = sms_streams(3000, args.connections, args.seed)
            report["sms"] = measure_channel(
                setup, "sms", write_streams(streams, setup.work / "sms"), None)
        if "recompute" in only:
            from bench.scoring_scale import run as scale

            sizes = [1_000_000] if args.quick else [1_000_000, 10_000_000]
            report["recompute"] = []
            for answers in sizes:
                print(f"  recompute at {answers:,} answers …", flush=True)
                report["recompute"].append(scale(answers, args.seed, setup.postgres))
    finally:
        fake.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="shorter loads and only the 1,000,000-answer recompute")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--only", choices=("ussd", "sms", "recompute"), action="append")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the servers' and workers' logs in DIR")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `apt-get install wrk` (make bench does it as root)")
    postgres = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    redis = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    seconds = 8.0 if args.quick else args.seconds
    only = set(args.only or ("ussd", "sms", "recompute"))
    started = datetime.now(UTC)
    report: dict[str, Any] = {
        "date": started.isoformat(timespec="seconds"),
        "machine": platform.platform(), "cpus": os.cpu_count(),
        "python": platform.python_version(), "seed": args.seed,
        "load": {"connections": args.connections, "seconds": seconds,
                 "web": procfile("web"), "worker": procfile("worker")},
        "goals": GOALS,
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            work = args.keep
        measure(report, only, args, Setup(postgres, redis, args.connections, seconds,
                                          3.0 if args.quick else 5.0, work,
                                          FakeAfricasTalking()))
    host = socket.gethostname()
    header = (f"make bench, {started:%Y-%m-%d %H:%M} UTC, {report['machine']}, "
              f"{report['cpus']} CPUs; load: wrk, {args.connections} connections, {seconds:g} s "
              f"per server, Procfile web ({procfile('web').split(' --bind')[0]} …)")
    text = render(table(report), header)
    print()
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"bench-{started:%Y%m%d}-{host}"
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (RESULTS / f"{stem}.md").write_text(text + "\n")
    if not args.quick and not args.only:
        update_readme(text)
    print(f"\nsaved bench/results/{stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
