"""What an operator watches on a campaign day: `GET /metrics` (Prometheus) and the JSON log lines.

Metrics are read the way Prometheus reads them (the page parsed by prometheus_client's parser, or a
multiprocess directory summed by its collector) and compared before and after real webhook calls,
so tests sharing this process's registry do not disturb each other. Logs are captured by the
gateway's own handler on a StringIO.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import request
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from rq import Queue
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from gateway import logs, metrics
from gateway.models import DirtyCell
from gateway.outbox import SEND_SMS
from gateway.queueing import QUEUE_NAME, SMS_QUEUE
from gateway.settings import Settings, SettingsError
from scoring.keys import SWEEP
from tests.africastalking import (
    SMS_URL,
    TOKEN,
    USSD_URL,
    first_time_goma_police,
    new_session_id,
    new_sms_id,
    play,
    sms_form,
    ussd_form,
)
from tests.conftest import ROOT, at_env, env_for, free_port, run_worker_burst

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

PHONES = ("+243991234567", "0991234567", "00243991234567")  # one person, three ways
DIGITS = "991234567"  # what every way of writing it shares
HEX_ID = re.compile(r"^[0-9a-f]{32}$")


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def scrape(client: Any) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return parse(response.get_data(as_text=True))


def from_directory(path: Path) -> Samples:
    """What a scrape sums from a multiprocess directory."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))  # type: ignore[no-untyped-call]
    samples: Samples = {}
    for family in registry.collect():
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def count_dirty(app: Any) -> int:
    with app.extensions["gateway"].db.session() as session:
        return int(session.scalar(select(func.count()).select_from(DirtyCell)) or 0)


# --- /metrics -----------------------------------------------------------------------------------


def test_hops_are_counted_and_timed_by_kind_of_screen(app, client):
    before = scrape(client)
    inputs = first_time_goma_police()
    sid = new_session_id()
    hops = play(client, PHONES[0], inputs, session_id=sid)
    assert [status for status, _ in hops] == [200] * len(hops)
    assert hops[-1][1].startswith("END ")
    bad = client.post(USSD_URL, data=ussd_form("not a session id!", PHONES[0], ""))
    assert bad.status_code == 400
    after = scrape(client)
    expected = {"con": len(hops) - 1, "end": 1, "polite_end": 0, "bad_request": 1}
    for screen, count in expected.items():
        assert delta(before, after, "gateway_ussd_hops_total", screen=screen) == count, screen
        assert delta(before, after, "gateway_ussd_hop_seconds_count", screen=screen) == count
        assert delta(before, after, "gateway_ussd_hop_seconds_bucket", screen=screen,
                     le="+Inf") == count
    # The four answers of the session, once each.
    assert delta(before, after, "gateway_answers_stored_total", channel="ussd") == 4
    assert delta(before, after, "gateway_answers_stored_total", channel="sms") == 0
    # Africa's Talking replays the last hop: a hop more, no answer more.
    replay = client.post(USSD_URL, data=ussd_form(sid, PHONES[0], "*".join(inputs)))
    assert replay.get_data(as_text=True).startswith("END ")
    again = scrape(client)
    assert delta(after, again, "gateway_ussd_hops_total", screen="end") == 1
    assert delta(after, again, "gateway_answers_stored_total", channel="ussd") == 0


def test_the_apology_after_a_failure_is_counted_as_polite_end(app, client, monkeypatch):
    import gateway.ussd

    def database_down(self: Any) -> Any:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    before = scrape(client)
    monkeypatch.setattr(gateway.ussd._Hop, "reply", database_down)
    response = client.post(USSD_URL, data=ussd_form(new_session_id(), PHONES[0], ""))
    assert response.status_code == 200 and response.get_data(as_text=True).startswith("END ")
    after = scrape(client)
    assert delta(before, after, "gateway_ussd_hops_total", screen="polite_end") == 1
    assert delta(before, after, "gateway_ussd_hops_total", screen="con") == 0
    assert delta(before, after, "gateway_answers_stored_total", channel="ussd") == 0


def test_sms_in_and_out_are_counted(make_app, fake_at):
    app = make_app(**at_env(fake_at))
    client = app.test_client()
    gw = app.extensions["gateway"]
    before = scrape(client)
    at_id = new_sms_id()
    form = sms_form(PHONES[0], "nk-v-gom-gom-pnc 3 2", at_id=at_id)  # a rating: trust, change
    assert client.post(SMS_URL, data=form).status_code == 200
    gw.queue.drain()  # embedded mode: the reply and the refreshes run in this process
    assert client.post(SMS_URL, data=form).get_data(as_text=True) == "OK (already received)"
    assert client.post(SMS_URL, data={**form, "id": "no spaces allowed"}).status_code == 400
    gw.queue.drain()
    after = scrape(client)
    assert delta(before, after, "gateway_sms_incoming_total", outcome="stored") == 1
    assert delta(before, after, "gateway_sms_incoming_total", outcome="duplicate") == 1
    assert delta(before, after, "gateway_sms_incoming_total", outcome="bad_request") == 1
    assert delta(before, after, "gateway_answers_stored_total", channel="sms") == 2
    assert delta(before, after, "gateway_sms_sent_total", kind="reply") == 1
    assert fake_at.accepted_for(PHONES[0])  # the one reply really went out
    for final in ("true", "false"):
        assert delta(before, after, "gateway_sms_failed_total", final=final) == 0
    # The in-process jobs were timed: the one send, and the score refresh(es) of the rating.
    assert delta(before, after, "gateway_job_seconds_count", job=SEND_SMS) == 1
    assert delta(before, after, "gateway_job_failures_total", job=SEND_SMS, final="true") == 0
    others = {labels for name, labels in after
              if name == "gateway_job_seconds_count" and ("job", SEND_SMS) not in labels}
    assert sum(after[("gateway_job_seconds_count", labels)]
               - before.get(("gateway_job_seconds_count", labels), 0) for labels in others) >= 1


def test_a_failed_enqueue_is_counted_and_a_dead_redis_does_not_fail_the_scrape(make_app):
    app = make_app(f"redis://127.0.0.1:{free_port()}/0", ENQUEUE_TIMEOUT="0.2")  # nobody there
    client = app.test_client()
    queue = app.extensions["gateway"].queue
    before = scrape(client)
    failures = queue.failures
    hops = play(client, PHONES[0], first_time_goma_police())
    assert hops[-1][1].startswith("END ")  # the answers are stored all the same
    after = scrape(client)
    errors = delta(before, after, "gateway_enqueue_failures_total", queue=QUEUE_NAME,
                   reason="redis_error")
    skipped = delta(before, after, "gateway_enqueue_failures_total", queue=QUEUE_NAME,
                    reason="cool_down")
    assert errors >= 1
    assert errors + skipped == queue.failures - failures > 0
    assert value(after, "gateway_redis_up") == 0
    assert ("gateway_queue_depth", (("queue", QUEUE_NAME),)) not in after
    assert value(after, "gateway_database_up") == 1
    assert value(after, "gateway_dirty_cells") == count_dirty(app) == 4  # the sweeper's work


@pytest.mark.redis
def test_queue_depths_are_read_from_redis_at_scrape_time(make_app, redis_url):
    app = make_app(redis_url)
    client = app.test_client()
    play(client, PHONES[0], first_time_goma_police())
    conn = Redis.from_url(redis_url)
    waiting = Queue(QUEUE_NAME, connection=conn).count
    assert waiting >= 1  # the score refreshes of the session; no worker runs here
    samples = scrape(client)
    assert value(samples, "gateway_redis_up") == 1
    assert value(samples, "gateway_queue_depth", queue=QUEUE_NAME) == waiting
    assert value(samples, "gateway_queue_depth", queue=SMS_QUEUE) == 0
    for registry in ("scheduled", "started", "failed"):
        assert ("gateway_queue_registry_jobs",
                (("queue", QUEUE_NAME), ("registry", registry))) in samples
    assert value(samples, "gateway_dirty_cells") == count_dirty(app) == 4
    conn.close()


@pytest.mark.redis
def test_a_real_worker_records_its_jobs_in_the_multiprocess_directory(
        make_app, database_url, redis_url, fake_at, tmp_path):
    """The Procfile's worker (forking RQ Worker) writes to PROMETHEUS_MULTIPROC_DIR: a run that
    succeeds (the sweeper), one that RQ retries (AT answered 503) and one that fails for good."""
    app = make_app(redis_url, **at_env(fake_at))
    assert app.test_client().post(SMS_URL, data=sms_form(PHONES[0], "AIDE")).status_code == 200
    conn = Redis.from_url(redis_url)
    Queue(SMS_QUEUE, connection=conn).enqueue(  # a message that does not exist: LookupError
        SEND_SMS, 987654, job_id="sms-987654", failure_ttl=600)
    fake_at.http_faults = [503]
    directory = tmp_path / "metrics" / "not-yet-made"
    done = run_worker_burst(env_for(database_url, redis_url, **at_env(fake_at),
                                    PROMETHEUS_MULTIPROC_DIR=str(directory)))
    samples = from_directory(directory)
    send, sweep = SEND_SMS, SWEEP
    assert value(samples, "gateway_job_seconds_count", job=send) == 2
    assert value(samples, "gateway_job_failures_total", job=send, final="false") == 1  # retried
    assert value(samples, "gateway_job_failures_total", job=send, final="true") == 1
    assert value(samples, "gateway_job_seconds_count", job=sweep) >= 1
    assert value(samples, "gateway_job_failures_total", job=sweep, final="true") == 0
    assert value(samples, "gateway_job_seconds_sum", job=send) > 0
    # Written in the work horse: the attempt that AT refused, to be retried.
    assert value(samples, "gateway_sms_failed_total", final="false") == 1
    # The worker and its horses keep two sets of files, not one per job run.
    owners = {re.sub(r"^.*?_(\d+(?:-horses)?)\.db$", r"\1", p.name)
              for p in directory.glob("*.db")}
    assert len(owners) == 2 and sum(o.endswith("-horses") for o in owners) == 1
    # The worker logs JSON lines too; a line logged inside a job names the job.
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert any(line.get("job_id", "").startswith("sms-") for line in lines)
    assert DIGITS not in done.stderr and DIGITS not in done.stdout
    conn.close()


def test_two_processes_writing_to_one_directory_are_summed(app, client, tmp_path, monkeypatch):
    directory = tmp_path / "prometheus"
    code = ("import sys\nfrom gateway import metrics\n"
            "metrics.answers_stored.labels('sms').inc(int(sys.argv[1]))\n"
            "metrics.ussd_hop_seconds.labels('con').observe(0.02)\n")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    for amount in ("2", "3"):
        subprocess.run([sys.executable, "-c", code, amount], cwd=ROOT, env=env, check=True,
                       timeout=120)
    summed = from_directory(directory)
    assert value(summed, "gateway_answers_stored_total", channel="sms") == 5
    assert value(summed, "gateway_ussd_hop_seconds_count", screen="con") == 2
    assert value(summed, "gateway_ussd_hop_seconds_bucket", screen="con", le="0.025") == 2
    assert value(summed, "gateway_ussd_hop_seconds_bucket", screen="con", le="0.01") == 0
    # The page a web worker serves in multiprocess mode is that sum (and what it reads live).
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    served = scrape(client)
    assert value(served, "gateway_answers_stored_total", channel="sms") == 5
    assert value(served, "gateway_database_up") == 1
    # At gunicorn's start, files of processes that are gone are removed, a live one's are kept.
    mine = directory / f"counter_{os.getpid()}.db"
    mine.write_bytes(b"")
    removed = metrics.prune_dead_processes(directory)
    assert removed and all(p.exists() is False for p in removed)
    assert [p.name for p in directory.glob("*.db")] == [mine.name]


def test_the_metrics_page_holds_no_phone_number(app, client):
    for phone in PHONES:
        play(client, phone, first_time_goma_police())
        client.post(SMS_URL, data=sms_form(phone, "AIDE"))
    page = client.get("/metrics").get_data(as_text=True)
    assert DIGITS not in page and TOKEN not in page
    assert "gateway_ussd_hops_total" in page


# --- JSON logs ----------------------------------------------------------------------------------


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The gateway's handler, as `create_app` installs it in a process without one, on a StringIO
    (pytest's own handlers stay in place: they too see what the filters left)."""
    stream = io.StringIO()
    handler = logs.handler(stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [line for line in stream.getvalue().splitlines() if line.strip()]
    assert lines
    return [json.loads(line) for line in lines]  # every line is one JSON object


def test_each_request_logs_json_lines_with_its_request_id(client, log_lines):
    given = client.post(USSD_URL, data=ussd_form(new_session_id(), PHONES[0], ""),
                        headers={"X-Request-Id": "campaign-day.42_A"})
    assert given.headers["X-Request-Id"] == "campaign-day.42_A"
    fresh = client.get("/healthz")
    assert HEX_ID.match(fresh.headers["X-Request-Id"])
    refused = {}
    for header in ("has spaces", "x" * 65, "243991234567", "caller-0991234567"):
        response = client.get("/healthz", headers={"X-Request-Id": header})
        refused[header] = response.headers["X-Request-Id"]
    lines = records(log_lines)
    access = [line for line in lines if line["logger"] == "gateway.access"]
    assert [line["request_id"] for line in access] == [
        "campaign-day.42_A", fresh.headers["X-Request-Id"], *refused.values()]
    for header, replaced in refused.items():
        assert HEX_ID.match(replaced) and replaced != header
    hop = access[0]
    assert (hop["method"], hop["path"], hop["route"], hop["status"]) == (
        "POST", "/at/***/ussd", "/at/<token>/ussd", 200)
    assert isinstance(hop["duration_ms"], float) and hop["level"] == "INFO" and hop["time"]
    assert TOKEN not in log_lines.getvalue()


def test_a_wrong_token_and_a_query_string_stay_out_of_the_access_log(client, log_lines):
    assert client.post("/at/a-guessed-token/ussd", data={}).status_code == 404
    assert client.get("/healthz?phone=0991234567").status_code == 200
    access = [line for line in records(log_lines) if line["logger"] == "gateway.access"]
    assert [(line["path"], line["route"], line["status"]) for line in access] == [
        ("/at/***/ussd", "/at/<token>/ussd", 404), ("/healthz", "/healthz", 200)]
    assert "a-guessed-token" not in log_lines.getvalue() and DIGITS not in log_lines.getvalue()


def test_a_phone_number_never_reaches_a_log_line(make_app, fake_at, log_lines, monkeypatch):
    import gateway.sms
    import gateway.ussd

    app = make_app(**at_env(fake_at))
    client = app.test_client()
    for phone in PHONES:  # the ordinary path: sessions and messages from all three forms
        play(client, phone, first_time_goma_police())
        client.post(SMS_URL, data=sms_form(phone, f"AVIS mon numero est {phone}"))
    app.extensions["gateway"].queue.drain()

    def careless_hop(self: Any) -> Any:  # a bug that logs the caller's number, then fails
        raw = request.form["phoneNumber"]
        logging.getLogger("gateway.ussd").warning("caller %s asked twice", raw,
                                                  extra={"caller": raw})
        raise RuntimeError(f"no profile for {raw}")

    def careless_sms(*_args: Any, **_kwargs: Any) -> None:
        raise ValueError(f"cannot handle a message from {request.form['from']}")

    def careless_normalise(raw: str, *_args: Any) -> str:  # escapes the view: a 500
        raise RuntimeError(f"unparsable caller {raw}")

    monkeypatch.setattr(gateway.ussd._Hop, "reply", careless_hop)
    monkeypatch.setattr(gateway.sms, "handle", careless_sms)
    for phone in PHONES:
        hop = client.post(USSD_URL, data=ussd_form(new_session_id(), phone, ""))
        assert hop.get_data(as_text=True).startswith("END ")  # the polite apology
        assert client.post(SMS_URL, data=sms_form(phone, "AIDE")).status_code == 200
    monkeypatch.setattr(gateway.ussd, "normalise", careless_normalise)
    for phone in PHONES:
        crashed = client.post(USSD_URL, data=ussd_form(new_session_id(), phone, ""),
                              headers={"X-Request-Id": "crash-1"})
        assert crashed.status_code == 500
    app.extensions["gateway"].queue.drain()
    lines = records(log_lines)
    text = log_lines.getvalue()
    assert DIGITS not in text
    for phone in PHONES:
        assert phone not in text
    # The checks above mean something: the numbers were logged, masked, tracebacks included.
    assert sum(line.get("caller") == "[numero]" for line in lines) == len(PHONES)
    tracebacks = [line["exc_info"] for line in lines if "exc_info" in line]
    assert any("no profile for [numero]" in t for t in tracebacks)
    assert any("cannot handle a message from [numero]" in t for t in tracebacks)
    crashes = [line for line in lines if line["message"].startswith("Exception on POST")]
    assert len(crashes) == len(PHONES)
    assert all(line["request_id"] == "crash-1" and "unparsable caller [numero]" in
               line["exc_info"] for line in crashes)


def test_records_outside_a_request_carry_no_request_id_and_text_is_an_option(log_lines):
    logging.getLogger("gateway.test").info(
        "sweep: %d dirty cells, call %s", 3, "0991234567",
        extra={"arguments": [243991234567, "x 00243991234567"], "kwargs": {"to": "+243991234567"},
               "cells": 3, "ratio": 0.25})
    [line] = records(log_lines)
    assert line["message"] == "sweep: 3 dirty cells, call [numero]"
    assert line["arguments"] == ["[numero]", "x [numero]"] and line["kwargs"] == {"to": "[numero]"}
    assert (line["cells"], line["ratio"]) == (3, 0.25)  # nothing masked: the values stay numbers
    assert "request_id" not in line and "job_id" not in line
    text_stream = io.StringIO()
    handler = logs.handler(text_stream, "text")
    handler.handle(logging.LogRecord("gateway.test", logging.INFO, __file__, 1, "to %s",
                                     ("+243991234567",), None))
    assert text_stream.getvalue().rstrip().endswith("INFO gateway.test to [numero]")
    assert Settings.from_env(environ=env_for("sqlite:///x.db", LOG_FORMAT="text")).log_format == (
        "text")
    assert Settings.from_env(environ=env_for("sqlite:///x.db")).log_format == "json"
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        Settings.from_env(environ=env_for("sqlite:///x.db", LOG_FORMAT="xml"))
