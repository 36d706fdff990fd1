"""Private services for the fault suite: a PostgreSQL cluster, a redis-server and the gateway's
Procfile processes, each on a loopback port of its own, under one temporary folder.

Rules:
- the machine's own services are never touched: every server here is started by this module from
  a data folder of its own on a free port of 127.0.0.1, and only processes started here are
  signalled, by their pid or their own process group — never by name;
- a missing binary is `unavailable()`: a skip that says why, a failure under CI=true;
- PostgreSQL refuses to run as root: when the suite runs as root, `initdb`, `pg_ctl` and the server
  run as the `postgres` account (`runuser`), in folders that account owns;
- the gateway runs as a Procfile host runs it: the `release:` line once per database, the `web:`
  line (gunicorn) with PORT set and its bind address narrowed to 127.0.0.1, and the `worker:`
  line, each in a process group of its own, writing to a log file that the privacy scan reads.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import psycopg
import pytest
from flask import Flask
from redis import Redis
from redis.exceptions import RedisError

from gateway import create_app
from gateway.settings import Settings
from tests.africastalking import TOKEN

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BASH = shutil.which("bash") or "/bin/bash"
PHONE_HASH_KEY = "faults-phone-hash-key-0123456789abcdef0123"
SECRET_KEY = "faults-secret-key-0123456789abcdef0123456789"  # noqa: S105 - a test key
VAULT_KEY = "ZmF1bHRzLXZhdWx0LWtleS0wMTIzNDU2Nzg5YWJjZGU="  # base64 of 32 test bytes


def unavailable(what: str, why: str) -> NoReturn:
    """Skip (or, under CI, fail) a test whose service cannot be had here."""
    if CI:
        pytest.fail(f"{what} is required under CI and is not available: {why}", pytrace=False)
    pytest.skip(f"{what} not available: {why}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(check: Callable[[], bool], timeout: float, what: str,
               interval: float = 0.1) -> float:
    """Poll `check` until it holds; return the seconds it took, or fail naming `what`."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


def procfile(name: str) -> str:
    """The command of one Procfile line."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        key, _, command = line.partition(":")
        if key.strip() == name:
            return command.strip()
    raise AssertionError(f"the Procfile has no {name}: line")


# --- PostgreSQL -----------------------------------------------------------------------------


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        unavailable("PostgreSQL server binaries", "no initdb in /usr/lib/postgresql/*/bin or PATH")
    return Path(initdb).resolve().parent


class PrivatePostgres:
    """A PostgreSQL cluster of the suite's own: `initdb`, then `pg_ctl` start and stop at will."""

    def __init__(self, root: Path) -> None:
        self.bin = _postgres_bin()
        self.root = root
        self.data = root / "data"
        self.socket_dir = root / "socket"
        self.log = root / "postgres.log"
        self.port = free_port()
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                unavailable("PostgreSQL", "running as root and there is no postgres account")
            if runuser is None:
                unavailable("PostgreSQL", "running as root and there is no runuser")
            self.run_as = [runuser, "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - the cluster's own binaries, no shell
            [*self.run_as, *args], capture_output=True, text=True, timeout=timeout, check=False)

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for folder in (self.data, self.socket_dir):
            folder.mkdir(mode=0o700, exist_ok=True)
        if self.run_as:
            account = pwd.getpwnam("postgres")
            for path in (self.root, self.data, self.socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)
        done = self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                         "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
        if done.returncode != 0:
            raise AssertionError(f"initdb failed: {done.stderr[-2000:]}")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c full_page_writes=off -c max_connections=200 "
                   "-c log_min_messages=warning")
        done = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                         "-l", str(self.log), "-w", "-t", "60", "start", timeout=90)
        if done.returncode != 0:
            raise AssertionError(f"pg_ctl start failed: {done.stdout[-1000:]} "
                                 f"{done.stderr[-1000:]}")

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m fast`: sessions are ended, transactions in flight roll back."""
        done = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                         "-t", "60", "stop", timeout=90)
        if done.returncode != 0:
            raise AssertionError(f"pg_ctl stop failed: {done.stderr[-1000:]}")

    @property
    def running(self) -> bool:
        return self._postmaster() is not None

    def _postmaster(self) -> int | None:
        pid_file = self.data / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            return None
        return pid

    def _cluster_pids(self) -> list[int]:
        pid = self._postmaster()
        if pid is None:
            return []
        children = Path(f"/proc/{pid}/task/{pid}/children")
        kids = [int(p) for p in children.read_text().split()] if children.exists() else []
        return [pid, *kids]

    def kill(self) -> None:
        """SIGKILL the postmaster (the next start recovers from the WAL)."""
        self._signal(signal.SIGKILL)

    def pause(self) -> None:
        """SIGSTOP the postmaster and every backend: connections hang instead of failing."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, sig: signal.Signals) -> None:
        for pid in self._cluster_pids():
            with contextlib.suppress(ProcessLookupError):  # a backend that just ended
                os.kill(pid, sig)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @contextlib.contextmanager
    def admin(self, database: str = "postgres") -> Iterator[psycopg.Connection]:
        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=5) as conn:
            yield conn

    def create_database(self, name: str, template: str | None = None) -> str:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"'
                         + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def databases(self) -> list[str]:
        with self.admin() as conn:
            rows = conn.execute(
                "SELECT datname FROM pg_database WHERE NOT datistemplate").fetchall()
        return sorted(str(r[0]) for r in rows)

    def dump(self, names: list[str] | None = None) -> str:
        """Every row of every database (or of `names`), as `pg_dump` writes it (COPY text)."""
        parts = []
        for name in names or self.databases():
            done = subprocess.run(  # noqa: S603 - the cluster's own pg_dump, no shell
                [str(self.bin / "pg_dump"), "--data-only", "--no-owner", "-h", "127.0.0.1",
                 "-p", str(self.port), "-U", "postgres", name],
                capture_output=True, text=True, timeout=120, check=False)
            if done.returncode != 0:
                raise AssertionError(f"pg_dump {name} failed: {done.stderr[-1000:]}")
            parts.append(done.stdout)
        return "\n".join(parts)

    def ensure_up(self) -> None:
        """Running and answering again, whatever a scenario did to it."""
        self.resume()
        if not self.running:
            self.start()

    def teardown(self) -> None:
        if self.running:
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                self.stop("immediate")
            self.kill()


# --- Redis ----------------------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of the suite's own that it may kill, restart empty, or freeze."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server", "not on PATH")
        self.binary = binary

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, timeout: float = 2.0) -> Redis:
        return Redis.from_url(self.url, socket_connect_timeout=timeout, socket_timeout=timeout)

    def ping(self) -> bool:
        conn = self.client(0.5)
        try:
            return bool(conn.ping())
        except (RedisError, OSError):
            return False
        finally:
            conn.close()

    def start(self) -> None:
        """Start, empty (no RDB, no AOF): a restart after `kill()` has lost everything."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # noqa: S603 - redis-server with fixed arguments
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory),
             "--logfile", str(self.directory / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.ping, 15, "the private redis-server answering")

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)  # a frozen server must die too
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        """SIGTERM: Redis shuts down cleanly (and, without persistence, comes back empty)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def pause(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, nothing is ever answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def ensure_up(self) -> None:
        """Running and answering again, whatever a scenario did to it."""
        if self.process is not None and self.process.poll() is None:
            self.resume()
        else:
            self.start()

    def flush(self) -> None:
        conn = self.client()
        try:
            conn.flushall()
        finally:
            conn.close()

    def contents(self) -> str:
        """Every key and value (strings, hashes, lists, sets, sorted sets, streams), as text."""
        conn = self.client(5)
        parts: list[str] = []
        try:
            for key in conn.scan_iter(count=500):
                kind = _text(conn.type(key))
                parts.append(_text(key))
                value: object
                if kind == "string":
                    value = conn.get(key)
                elif kind == "hash":
                    value = conn.hgetall(key)
                elif kind == "list":
                    value = conn.lrange(key, 0, -1)
                elif kind == "set":
                    value = conn.smembers(key)
                elif kind == "zset":
                    value = conn.zrange(key, 0, -1, withscores=True)
                elif kind == "stream":
                    value = conn.xrange(key)
                else:
                    value = conn.dump(key)
                parts.append(_text(value))
        finally:
            conn.close()
        return "\n".join(parts)


def _text(value: object) -> str:
    """Bytes anywhere inside a Redis reply, decoded (zlib-compressed RQ job data included)."""
    import zlib

    if isinstance(value, bytes):
        with contextlib.suppress(zlib.error):
            value = zlib.decompress(value)
        assert isinstance(value, bytes)
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return " ".join(f"{_text(k)}={_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return " ".join(_text(v) for v in value)
    return str(value)


# --- the gateway's processes -------------------------------------------------------------------


def gateway_env(database_url: str, redis_url: str | None, **extra: str) -> dict[str, str]:
    """The settings every process of the gateway under test gets (DESIGN §9)."""
    env = {
        "GATEWAY_ENV": "test",
        "DATABASE_URL": database_url,
        "WEBHOOK_TOKEN": TOKEN,
        "PHONE_HASH_KEY": PHONE_HASH_KEY,
        "SECRET_KEY": SECRET_KEY,
        "VAULT_KEY": VAULT_KEY,
        "SWEEP_INTERVAL": "1",  # the sweeper repairs within a second or so
        "LOG_FORMAT": "json",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


def _process_env(env: dict[str, str]) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith(("DATABASE_", "REDIS_", "PYTEST_"))}
    inherited["PATH"] = f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    inherited["PYTHONUNBUFFERED"] = "1"
    inherited.update(env)
    return inherited


@dataclass
class Process:
    """One Procfile line, running in a process group of its own, logging to `log`."""

    name: str
    command: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - the Procfile's own command line
                [BASH, "-c", f"exec {self.command}"], cwd=ROOT, env=_process_env(self.env),
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, sig: signal.Signals) -> None:
        """Signal the whole group: the process and what it forked (gunicorn's workers, RQ's work
        horse and scheduler)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL to the group, as the kernel's OOM killer or a lost machine would."""
        self.signal_group(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 25) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.process.wait(timeout=10)
        # Whatever the group forked and left behind (a horse, a scheduler) goes too.
        self.signal_group(signal.SIGKILL)


@dataclass
class Gateway:
    """The Procfile's processes on one database: a web server and any number of RQ workers."""

    name: str
    database_url: str
    redis_url: str | None
    logs: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    web: Process | None = None
    workers: list[Process] = field(default_factory=list)
    _app: Flask | None = None

    @property
    def env(self) -> dict[str, str]:
        return gateway_env(self.database_url, self.redis_url,
                           PROMETHEUS_MULTIPROC_DIR=str(self.logs / f"{self.name}-metrics"),
                           **self.extra_env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def release(self) -> None:
        done = self.flask_line("release")
        if done.returncode != 0:
            raise AssertionError(f"release failed: {done.stdout[-2000:]}")

    def flask_line(self, line: str) -> subprocess.CompletedProcess[str]:
        """A Procfile line (`release`) run to its end."""
        return subprocess.run(  # noqa: S603 - the Procfile's own command line
            [BASH, "-c", f"exec {procfile(line)}"], cwd=ROOT, env=_process_env(self.env),
            capture_output=True, text=True, timeout=300, check=False)

    def flask(self, *args: str, stdin: str | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """`flask --app gateway ARGS` with this gateway's settings."""
        return subprocess.run(  # noqa: S603 - our own CLI
            [str(VENV_BIN / "flask"), "--app", "gateway", *args], cwd=ROOT,
            env=_process_env(self.env), input=stdin, capture_output=True, text=True,
            timeout=timeout, check=False)

    def start_web(self) -> Process:
        command = procfile("web")
        if "${PORT" not in command:
            raise AssertionError("the Procfile's web: line does not bind ${PORT}")
        command = command.replace("0.0.0.0:", "127.0.0.1:")  # loopback only
        self.web = Process("web", command, {**self.env, "PORT": str(self.port)},
                           self.logs / f"{self.name}-web.log")
        self.web.start()
        web = self.web

        def healthy() -> bool:
            if not web.alive:
                raise AssertionError(f"gunicorn exited: see {web.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as reply:  # noqa: S310
                    return bool(reply.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        wait_until(healthy, 60, f"gunicorn of {self.name} answering /healthz", 0.2)
        return self.web

    def start_worker(self) -> Process:
        number = len(self.workers) + 1
        worker = Process(f"worker{number}", procfile("worker"), self.env,
                         self.logs / f"{self.name}-worker{number}.log")
        worker.start()
        self.workers.append(worker)
        return worker

    def app(self) -> Flask:
        """The application in this process, on this gateway's settings (Flask's test client is
        fast: fuzzing, access checks); closed by `stop()`."""
        if self._app is None:
            self._app = create_app(Settings.from_env(environ=self.env))
        return self._app

    def stop(self) -> None:
        for process in [*self.workers, *([self.web] if self.web else [])]:
            process.stop()
        if self._app is not None:
            self._app.extensions["gateway"].close()
            self._app = None


# --- what a scenario works in ---------------------------------------------------------------


@dataclass
class Workspace:
    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def traces(self) -> Path:
        """Hop-by-hop records of each load (no phone numbers), kept with the logs."""
        return self.root / "traces"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40]


class Gateways:
    """Makes gateways on fresh copies of the prepared database and a flushed Redis; `close()`
    stops their processes and brings back up whatever service a scenario broke."""

    def __init__(self, postgres: PrivatePostgres, redis_server: PrivateRedis, template: str,
                 workspace: Workspace) -> None:
        self.postgres, self.redis_server = postgres, redis_server
        self.template, self.workspace = template, workspace
        self.made: list[Gateway] = []

    def __call__(self, name: str, **extra_env: str) -> Gateway:
        name = slug(name)
        url = self.postgres.create_database(f"gw_{name}", template=self.template)
        self.redis_server.ensure_up()
        self.redis_server.flush()
        gateway = Gateway(name, url, self.redis_server.url, self.workspace.logs, dict(extra_env))
        self.made.append(gateway)
        return gateway

    def close(self) -> None:
        for gateway in self.made:
            gateway.stop()
        self.redis_server.ensure_up()
        self.postgres.ensure_up()
