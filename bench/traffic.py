"""Realistic webhook traffic for the load benchmarks, recorded once and replayed by wrk.

Rules:
- USSD sessions are *played* against the real application (in-process, on a scratch SQLite
  database) choosing among the options each screen offers, with a fixed seed: first-time and
  returning callers, French, Kiswahili and Lingala, a few refusals of consent and dropped
  sessions. What is kept is the sequence of form bodies Africa's Talking would send.
- Replaying them against an empty database of the same configuration gives the same screens,
  because a screen depends only on the flow, the `text` path and the caller's stored profile: every
  caller's sessions stay, in order, on one wrk connection (one "stream").
- Incoming SMS are the grammar's real shapes (ratings with and without a place, help, feedback,
  results opt-in) in the three languages, from the same pool of phones.
- Phone numbers are synthetic (+243 99x); session and message ids get a per-run prefix in the
  Lua script, so a replay never collides with an earlier run's rows.
"""

from __future__ import annotations

import logging
import random
import re
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from sqlalchemy import select

from gateway import create_app
from gateway.configdata import load_into_database
from gateway.db import Database
from gateway.migrate import upgrade
from gateway.models import Answer, InstitutionUnit, Respondent
from gateway.phones import pseudonym
from gateway.settings import DEFAULT_CONFIG_DIR, Settings

TOKEN = "bench-webhook-token-0123456789abcdef"  # noqa: S105 - a bench token
SERVICE_CODE = "*384*2026#"
NETWORKS = ("63001", "63002", "63086", "63090")
_OPTION = re.compile(r"^(\d+)\. ", re.MULTILINE)


@dataclass
class Stream:
    """What one wrk connection sends, in order: (form body, kind) pairs."""

    hops: list[str] = field(default_factory=list)


def bench_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {
        "GATEWAY_ENV": "test",
        "DATABASE_URL": database_url,
        "WEBHOOK_TOKEN": TOKEN,
        "PHONE_HASH_KEY": "bench-phone-hash-key-0123456789abcdef0123",
        "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
    }
    env.update(extra)
    return env


def _phone(rng: random.Random) -> str:
    return f"+24399{rng.randrange(10_000_000):07d}"


def _choose(rng: random.Random, screen: str, depth: int) -> str | None:
    """An option the screen offers, as a caller would pick it; None to hang up."""
    options: list[str] = [o for o in _OPTION.findall(screen) if o not in ("0", "00")]
    if not options:
        return None
    if depth == 0:  # the language screen: mixed languages, French most often
        weights = [5, 3, 2][: len(options)] + [1] * max(0, len(options) - 3)
        return str(rng.choices(options, weights=weights)[0])
    if "98" in options and rng.random() < 0.1:
        return "98"
    return str(rng.choice([o for o in options if o != "98"] or options))


@dataclass(frozen=True)
class Probe:
    """A first-time caller's complete session that rates `unit`, a unit nobody in the replayed
    traffic rates: replayed with a new phone, it raises that unit's respondents by exactly one."""

    unit: str
    texts: tuple[str, ...]
    phone: str  # the recorded caller, left out of the replayed streams
    ending: str  # the END screen that session got (the thanks, in its language)


@dataclass
class _Played:
    phone: str
    hops: list[str]
    first_time: bool
    completed: bool
    ending: str = ""


class _NoJobs:
    """Recording needs screens, not scores."""

    def enqueue(self, func: str, *args: Any, job_id: str,
                retry: Sequence[int] | None = None, queue: str = "scores") -> bool:
        return True

    def drain(self, timeout: float = 30.0) -> None:
        return None

    def close(self) -> None:
        return None


def record_ussd(sessions: int, streams: int, seed: int) -> tuple[list[Stream], Probe]:
    """Play `sessions` USSD sessions; return them split into `streams` ordered streams, and the
    freshness probe (whose caller is left out of the streams)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible traffic, not a secret
    played: list[_Played] = []
    with tempfile.TemporaryDirectory(prefix="bench-record-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'record.db'}"
        db = Database(Settings.from_env(environ={"DATABASE_URL": url}).database_url)
        upgrade(db)
        with db.transaction() as session:
            load_into_database(session, DEFAULT_CONFIG_DIR)
        settings = Settings.from_env(environ=bench_env(url))
        app = create_app(settings)
        app.extensions["gateway"].queue.close()
        app.extensions["gateway"].queue = _NoJobs()  # scores do not change screens
        access = logging.getLogger("gateway.access")
        level = access.level
        access.setLevel(logging.WARNING)
        client = app.test_client()
        known: set[str] = set()
        callers: list[str] = []
        try:
            for n in range(sessions):
                returning = bool(callers) and rng.random() < 0.35
                phone = rng.choice(callers) if returning else _phone(rng)
                played.append(_play(client, rng, phone, f"{n:07d}", first_time=phone not in known))
                if phone not in known:
                    known.add(phone)
                    callers.append(phone)
        finally:
            access.setLevel(level)
        probe = _probe(db, settings.phone_hash_key, played)
        db.dispose()
    out = [Stream() for _ in range(streams)]
    for one in played:
        if one.phone != probe.phone:
            out[hash_stream(one.phone, streams)].hops.extend(one.hops)
    return out, probe


def _play(client: Any, rng: random.Random, phone: str, session_id: str, *,
          first_time: bool) -> _Played:
    """One session, choosing among what each screen offers (the session id is prefixed with the
    run's id by the Lua script)."""
    one = _Played(phone, [], first_time, False)
    network = rng.choice(NETWORKS)
    path: list[str] = []
    drop_after = rng.randint(2, 9) if rng.random() < 0.08 else None
    for depth in range(40):
        form = {"sessionId": session_id, "serviceCode": SERVICE_CODE,
                "phoneNumber": phone, "networkCode": network, "text": "*".join(path)}
        reply = client.post(f"/at/{TOKEN}/ussd", data=form).get_data(as_text=True)
        one.hops.append(urlencode(form))
        if reply.startswith("END "):
            one.completed, one.ending = True, reply
        if not reply.startswith("CON ") or depth == drop_after:
            break
        choice = _choose(rng, reply, depth)
        if choice is None:
            break
        if depth == 1 and first_time:  # the consent screen: a few refuse
            choice = "2" if rng.random() < 0.05 else "1"
        path.append(choice)
    return one


def _probe(db: Database, key: str, played: list[_Played]) -> Probe:
    by_hash = {pseudonym(p.phone, key): p.phone for p in played}
    raters: dict[str, set[str]] = {}
    with db.session() as session:
        for phone_hash, unit in session.execute(
                select(Respondent.phone_hash, InstitutionUnit.code)
                .join(Answer, Answer.respondent_id == Respondent.id)
                .join(InstitutionUnit, InstitutionUnit.id == Answer.unit_id).distinct()):
            raters.setdefault(unit, set()).add(by_hash[phone_hash])
    sessions_of: dict[str, list[_Played]] = {}
    for one in played:
        sessions_of.setdefault(one.phone, []).append(one)
    for unit, phones in sorted(raters.items()):
        (phone,) = phones if len(phones) == 1 else (None,)
        if phone is not None and len(sessions_of[phone]) == 1 and sessions_of[phone][0].completed:
            texts = tuple(parse_qs(h, keep_blank_values=True)["text"][0]
                          for h in sessions_of[phone][0].hops)
            return Probe(unit, texts, phone, sessions_of[phone][0].ending)
    raise RuntimeError("no unit rated by exactly one caller: record more sessions")


def hash_stream(phone: str, streams: int) -> int:
    return int(phone[-7:]) % streams


_SMS_TEXTS = (  # the grammar of config/sms.toml, in its three languages, and some noise
    "POLICE GOMA 3 2", "police goma 4", "TRIBUNAL BENI 2 1", "Polisi Goma 3 3", "POLISI BUNIA 2",
    "MAHAKAMA BENI 1 2", "polisi butembo 4 2", "POLISI GOMA 9", "PNC Karisimbi 2 2",
    "AVIS la police de Katindo demande de l'argent", "MAONI polisi wanaomba pesa barabarani",
    "LIKANISI bapolisi basengaka mbongo", "AIDE", "MSAADA", "RESULTATS", "MATOKEO",
    "ADMINISTRATION GOMA 3 2", "UTAWALA BENI 2 2", "BOSEMBO Bunia 3 3", "bonjour", "3",
)


def sms_streams(messages: int, streams: int, seed: int) -> list[Stream]:
    rng = random.Random(seed + 1)  # noqa: S311 - reproducible traffic, not a secret
    out = [Stream() for _ in range(streams)]
    phones = [_phone(rng) for _ in range(max(1, messages // 3))]
    for n in range(messages):
        phone = rng.choice(phones)
        form = {"from": phone, "to": "2026", "id": f"{n:07d}", "text": rng.choice(_SMS_TEXTS),
                "date": "2026-11-27 10:00:00", "linkId": uuid.UUID(int=rng.getrandbits(128)).hex,
                "networkCode": rng.choice(NETWORKS)}
        out[hash_stream(phone, streams)].hops.append(urlencode(form))
    return out
