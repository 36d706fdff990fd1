"""The CLI and the Procfile's processes, run for real: release from empty, tokens, flows check,
gunicorn serving a hop, production refusing to start without its settings."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from gateway.models import Answer, ApiToken, Location
from tests.africastalking import (
    TOKEN,
    USSD_URL,
    first_time_goma_police,
    new_session_id,
    ussd_form,
)
from tests.conftest import ROOT, env_for, free_port


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def subprocess_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "GATEWAY_ENV")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def test_procfile_is_exactly_release_web_worker():
    entries = procfile()
    assert list(entries) == ["release", "web", "worker"]
    assert "gateway:create_app()" in entries["web"] and "$PORT" in entries["web"].replace("{", "")
    assert entries["release"] == "flask --app gateway release"
    assert entries["worker"] == "flask --app gateway worker"


def test_release_then_web_serve_a_hop_from_an_empty_database(tmp_path):
    metrics_dir = tmp_path / "metrics" / "web"  # made by gunicorn's config
    env = subprocess_env(env_for(f"sqlite:///{tmp_path / 'fresh.db'}",
                                 PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)))
    commands = procfile()
    for _ in range(2):  # release is idempotent: run it twice
        done = subprocess.run(commands["release"], shell=True, cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
    assert "locations_added 0" in done.stdout  # second run: nothing new
    port = free_port()
    env["PORT"] = str(port)
    log = (tmp_path / "web.log").open("wb")
    web = subprocess.Popen(commands["web"], shell=True, cwd=ROOT, env=env,
                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            assert time.monotonic() < deadline, (tmp_path / "web.log").read_text()[-2000:]
            time.sleep(0.2)
        assert requests.get(f"{base}/readyz", timeout=5).json()["checks"]["database"] == "ok"
        sid = new_session_id()
        bodies = []
        inputs = first_time_goma_police()
        for hop in range(len(inputs) + 1):
            text = "*".join(inputs[:hop])
            response = requests.post(base + USSD_URL, data=ussd_form(sid, "+243810000001", text),
                                     timeout=10)
            assert response.status_code == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            bodies.append(response.text)
        assert bodies[0].startswith("CON ") and bodies[-1].startswith("END Merci")
        assert requests.post(f"{base}/at/not-{TOKEN}/ussd", data={}, timeout=5).status_code == 404
        # Whichever gunicorn worker answers the scrape, it sums the hops both of them served.
        for _ in range(4):
            page = requests.get(f"{base}/metrics", timeout=5).text
            hops = {s.labels["screen"]: s.value for f in text_string_to_metric_families(page)
                    for s in f.samples if s.name == "gateway_ussd_hops_total"}
            assert hops["con"] + hops["end"] == len(bodies) and hops["end"] == 1
        assert list(metrics_dir.glob("counter_*.db"))  # the directory gunicorn's config made
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=30)
        log.close()
    logged = (tmp_path / "web.log").read_text()
    lines = [json.loads(line) for line in logged.splitlines() if line.strip()]  # JSON lines only
    assert {"gunicorn.error", "gateway.access"} <= {line["logger"] for line in lines}
    hops_logged = [line for line in lines if line.get("route") == "/at/<token>/ussd"]
    assert [(h["path"], h["status"]) for h in hops_logged[:2]] == [("/at/***/ussd", 200)] * 2
    assert all(h["request_id"] for h in hops_logged)
    assert "810000001" not in logged and TOKEN not in logged  # never numbers or the token


def test_the_worker_starts_again_after_a_hung_redis_and_stops_when_asked(tmp_path,
                                                                         private_redis):
    """A Redis that hangs longer than the worker's socket timeout (WORKER_TTL less 5 s) makes
    RQ's loop log "quitting" and return as if done; the Procfile's worker must not exit then
    (under honcho that stops the web too) but take jobs again. SIGTERM still stops it."""
    from redis import Redis
    from rq import Queue, Worker
    from rq.job import Job, JobStatus

    env = subprocess_env(env_for(f"sqlite:///{tmp_path / 'worker.db'}", private_redis.url,
                                 WORKER_TTL="16"))
    commands = procfile()
    done = subprocess.run(commands["release"], shell=True, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    log_path = tmp_path / "worker.log"
    log = log_path.open("wb")
    worker = subprocess.Popen(shlex.split(commands["worker"]), cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    connection = Redis.from_url(private_redis.url, socket_timeout=5)
    redis_process = private_redis.process
    assert redis_process is not None

    def wait(check: Any, what: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not check():
            assert worker.poll() is None, f"the worker exited: {log_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"{what}: {log_path.read_text()[-3000:]}"
            time.sleep(0.1)

    def runs_a_job(job_id: str) -> None:
        job = Queue("scores", connection=connection).enqueue(
            "scoring.jobs.sweep_dirty_cells", job_id=job_id, result_ttl=60)
        wait(lambda: Job.fetch(job.id, connection=connection).get_status() == JobStatus.FINISHED,
             f"job {job_id} run")

    try:
        wait(lambda: len(Worker.all(connection=connection)) == 1, "the worker registered")
        runs_a_job("before")
        redis_process.send_signal(signal.SIGSTOP)
        try:  # RQ gives up on the hung Redis after 11 s, then tears down (Redis is back by then)
            wait(lambda: "Redis connection timeout, quitting" in log_path.read_text(),
                 "RQ timed out on the hung Redis")
        finally:
            redis_process.send_signal(signal.SIGCONT)
        # Mostly RQ returns as if done ("left its loop unasked"); now and then the hang lands
        # in its teardown instead and RQ raises ("Redis lost"): either way it starts again.
        wait(lambda: any(said in log_path.read_text() for said in (
            "left its loop unasked", "Redis lost")), "the worker started again")
        runs_a_job("after")  # fails if the process exited
        assert len(Worker.all(connection=connection)) == 1  # the old one unregistered
        os.killpg(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        log.close()
        connection.close()


def test_production_refuses_to_start_without_its_settings(tmp_path):
    env = subprocess_env({"GATEWAY_ENV": "production"})
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "gateway", "release"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode != 0
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "WEBHOOK_TOKEN", "PHONE_HASH_KEY"):
        assert name in done.stderr
    assert not (tmp_path / "instance").exists()


@pytest.fixture
def cli(make_app):
    app = make_app()
    return app, app.test_cli_runner()


def test_api_token_create_prints_the_token_once_on_the_last_line(cli):
    app, runner = cli
    result = runner.invoke(args=["api-token", "create", "orbf-nord-kivu", "--province", "CD61"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("rbf_") and len(token) > 40
    client = app.test_client()
    response = client.get("/api/v1/scores?period=2019Q4",
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404  # authenticated: the quarter just has no answers
    listing = runner.invoke(args=["api-token", "list"])
    assert "orbf-nord-kivu" in listing.output and token not in listing.output
    with app.extensions["gateway"].db.session() as session:
        row = session.scalars(select(ApiToken)).one()
        assert row.province_code == "CD61" and row.provisional is False
    assert runner.invoke(args=["api-token", "revoke", str(row.id)]).exit_code == 0
    assert runner.invoke(args=["api-token", "revoke", str(row.id)]).exit_code != 0
    response = client.get("/api/v1/scores?period=2019Q4",
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_flows_check_and_release_commands(cli):
    app, runner = cli
    result = runner.invoke(args=["flows", "check"])
    assert result.exit_code == 0, result.output
    for language in ("fr", "sw", "ln"):
        assert f"{language}: " in result.output
    release = runner.invoke(args=["release"])
    assert release.exit_code == 0, release.output
    assert "locations_added 0" in release.output
    with app.extensions["gateway"].db.session() as session:
        assert session.scalar(select(func.count()).select_from(Location)) == 92


def test_urls_prints_the_webhook_and_a_curl_line(cli):
    _, runner = cli
    result = runner.invoke(args=["urls", "--port", "5055"])
    assert f"http://127.0.0.1:5055/at/{TOKEN}/ussd" in result.output
    curl = next(line for line in result.output.splitlines() if "curl" in line)
    assert "text=" in shlex.split(curl.split(":", 1)[1])[-2]


def test_health_reports_redis_without_requiring_it(make_app, private_redis):
    app = make_app(private_redis.url)
    client = app.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"]["redis"] == "ok"
    private_redis.stop()
    ready = client.get("/readyz")
    assert ready.status_code == 200  # the database is the source of truth; Redis is reported
    assert ready.get_json()["checks"]["redis"].startswith("unreachable")


@pytest.fixture
def live_gateway(make_app):
    """The app served over real HTTP on a free port, in a thread."""
    from werkzeug.serving import make_server

    app = make_app()
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}{USSD_URL}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def test_phone_simulator_plays_a_session_and_resumes_a_dropped_one(live_gateway):
    app, url = live_gateway
    runner = app.test_cli_runner()
    inputs = first_time_goma_police(trust="4")
    # Dial, answer up to the trust question, hang up (q), dial again, Continue, finish, quit.
    typed = [*inputs[:8], "q", "", "1", *inputs[8:], "q"]
    result = runner.invoke(args=["phone", "--number", "0970000042", "--url", url],
                           input="\n".join(typed) + "\n")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "| Langue / Lugha / Lokota:" in out
    assert "hung up" in out and "| Vous aviez commence une" in out
    assert "session ended" in out and "| Merci!" in out
    assert "0970000042" not in out.replace("--number", "")
    with app.extensions["gateway"].db.session() as session:
        trust = session.scalar(select(Answer.value).where(Answer.indicator == "trust"))
        assert trust == 4
        assert session.scalar(select(func.count()).select_from(Answer)) == 4


def test_phone_simulator_says_clearly_when_the_gateway_is_down(cli):
    _, runner = cli
    result = runner.invoke(args=["phone", "--url", f"http://127.0.0.1:{free_port()}/x"],
                           input="\n")
    assert result.exit_code == 1
    assert "cannot reach" in result.output
    bad = runner.invoke(args=["phone", "--number", "hello"])
    assert bad.exit_code != 0 and "--number" in bad.output


def test_scores_and_quarter_commands(make_app):
    from datetime import UTC, datetime

    from gateway.synth import generate
    from scoring.periods import quarter_of

    app = make_app()
    runner = app.test_cli_runner()
    # The current quarter: an ended one may be moved to review by the app's own sweeper thread
    # at any moment (it runs once at start), and the refused lock below would then succeed.
    period = quarter_of(datetime.now(UTC))
    generate(app.extensions["gateway"].db, period, 400, seed=4)
    recompute = runner.invoke(args=["scores", "recompute", "--period", period])
    assert recompute.exit_code == 0, recompute.output
    assert "cells written from" in recompute.output and "integrity flags" in recompute.output
    assert runner.invoke(args=["scores", "recompute", "--period", "2026Q5"]).exit_code == 2
    refused = runner.invoke(args=["quarter", "lock", period])
    assert refused.exit_code == 1 and "review" in refused.output
    assert f"{period}: in_review" in runner.invoke(args=["quarter", "review", period]).output
    locked = runner.invoke(args=["quarter", "lock", period])
    assert locked.exit_code == 0 and "snapshot version 1, sha256 " in locked.output
    listing = runner.invoke(args=["quarter", "list"]).output
    assert f"{period}\tlocked" in listing and "snapshot 1" in listing
    assert runner.invoke(args=["quarter", "lock", period]).exit_code == 1
    empty = runner.invoke(args=["quarter", "review", "2099Q1"])
    assert empty.exit_code == 1 and "no answers" in empty.output
    assert "2099Q1" not in runner.invoke(args=["quarter", "list"]).output


def test_synthetic_data_is_refused_in_production(make_app, database_url):
    from gateway import create_app
    from gateway.settings import Settings

    env = env_for(database_url, "redis://127.0.0.1:1/0", GATEWAY_ENV="production",
                  WEBHOOK_TOKEN="prod-token-0123456789abcdefghij",
                  PHONE_HASH_KEY="p" * 40, SECRET_KEY="s" * 40)
    app = create_app(Settings.from_env(environ=env))
    try:
        result = app.test_cli_runner().invoke(args=["synth", "--period", "2026Q3"])
        assert result.exit_code == 1 and "never written to a production" in result.output
    finally:
        app.extensions["gateway"].close()


def test_flows_check_lists_the_problems_of_a_flow_the_gateway_would_refuse(tmp_path):
    import shutil

    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    catalog = config / "messages" / "sw.toml"
    catalog.write_text(catalog.read_text().replace(
        'ask_type = "Huduma gani unataka kutathmini?"',
        'ask_type = "Huduma gani unataka kutathmini leo ili kutusaidia kuboresha huduma zote za '
        'umma katika eneo lako na mtaa wako wote?"'))
    env = subprocess_env({"CONFIG_DIR": str(config)})
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "gateway", "flows", "check"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 1
    # The shortest path to the type screen: Nyiragongo has one collectivite, so no place screen.
    shortest = "sw start>language=2>consent=1>province=1>territory=7"
    assert f"{shortest}: pages (3 pages), but only place and unit lists may" in done.stderr
    assert f"{shortest} (after an invalid input): longer than 160 characters" in done.stderr
    assert "the gateway will not start with this flow" in done.stderr
    refused = subprocess.run([sys.executable, "-m", "flask", "--app", "gateway", "urls"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                             check=False)
    assert refused.returncode != 0 and "FlowError" in refused.stderr
