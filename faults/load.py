"""Clock-paced USSD load, as Africa's Talking sends it, and the accounting of what it left behind.

Rules:
- load is paced by the clock, not by the server: caller i dials at `start + i / rate`, and hop k of
  a session is sent at `dial + k * think` (or as soon as the previous reply came, if later), so
  a fault injected at a given second always falls inside the load, whatever the server does;
- every caller is a first-time caller with a phone number of their own (`+24399…`, synthetic):
  language, consent, Nord-Kivu, Goma, the commune of Goma, then the police or the administration
  (one unit each there), then the questions with seeded answers (`tests.africastalking.rating`);
- every hop is recorded: when it was sent, its HTTP status and body, its latency, or the error
  that stood for a reply; a session ends at its first reply that is not a `CON` screen;
- a hop is *accepted* when its reply is an ordinary screen (a `CON`, or the survey's own `END`),
  not the polite `END` that apologises for a failure, nor an error; the answers in the path of an
  accepted hop must be stored, exactly once (DESIGN §7: stored before the reply);
- the accounting reads the database afterwards: `stored` answer rows of these callers, `lost` =
  answers of accepted hops without their row (or with another value), `duplicated` = rows beyond
  one per respondent x period x type x indicator, per submission key, or per pseudonym, and
  `wrong` = rows that no path of the caller means (an answer the caller never gave).
"""

from __future__ import annotations

import http.client
import math
import random
import threading
import time
import tomllib
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import psycopg

from gateway.phones import pseudonym
from scoring.periods import quarter_of
from tests.africastalking import SERVICE_CODE, USSD_URL, rating

from .services import PHONE_HASH_KEY, ROOT

HOP_TIMEOUT = 15.0  # Africa's Talking's budget per hop (DESIGN §3)
LANGUAGES = {"1": "fr", "2": "sw", "3": "ln"}
TYPES = {"1": "police", "3": "administration"}  # one unit of each in the commune of Goma
APOLOGIES = ("unavailable", "limit_reached", "bad_request")
ALL_PHONES: set[str] = set()  # every number any scenario used: the privacy scan looks for them


def catalog_texts(message_id: str) -> dict[str, str]:
    """A gateway message in every language, as `config/messages/<lang>.toml` has it."""
    texts = {}
    for path in sorted((ROOT / "config" / "messages").glob("*.toml")):
        data = tomllib.loads(path.read_text())
        texts[path.stem] = str(data["messages"][message_id])
    return texts


POLITE_ENDS = {f"END {text}": (lang, mid) for mid in APOLOGIES
               for lang, text in catalog_texts(mid).items()}


def apology(body: str) -> tuple[str, str] | None:
    """(language, message id) when `body` is one of the gateway's apologies."""
    return POLITE_ENDS.get(body)


@dataclass
class Hop:
    step: int  # inputs in `text`
    sent_at: float  # seconds since the load started
    seconds: float
    status: int | None  # None: no HTTP reply at all (refused, reset, timed out)
    body: str
    error: str | None = None

    @property
    def accepted(self) -> bool:
        return (self.status == 200 and self.body.startswith(("CON ", "END "))
                and apology(self.body) is None)


@dataclass
class Caller:
    phone: str
    session_id: str
    inputs: list[str]
    dial_at: float
    first_step: int = 0  # a caller who dials through (`*384*2026*2*1#`) starts with inputs
    hops: list[Hop] = field(default_factory=list)

    @property
    def language(self) -> str:
        return LANGUAGES[self.inputs[0]]

    @property
    def institution_type(self) -> str:
        return TYPES[self.inputs[5]]

    def answers_in(self, steps: int) -> dict[str, int | None]:
        """indicator -> value of the answers among the first `steps` inputs."""
        out: dict[str, int | None] = {}
        questions = self.inputs[6:]
        order = ["contact", *(["bribe"] if questions[0] == "1" else []),
                 "trust", "respect", "change"]
        for index, indicator in enumerate(order):
            if 6 + index < steps:
                option = questions[index]
                out[indicator] = None if option == "9" else int(option)
        return out

    def accepted_answers(self) -> dict[str, int | None]:
        deepest = max((h.step for h in self.hops if h.accepted), default=0)
        return self.answers_in(deepest)


def caller_inputs(rng: random.Random) -> list[str]:
    contact = rng.choice(["1", "2"])
    answers = rating(contact=contact, bribe=rng.choice(["1", "2", "9"]),
                     trust=rng.choice(["1", "2", "3", "4", "9"]),
                     respect=rng.choice(["1", "2", "3", "4", "9"]),
                     change=rng.choice(["1", "2", "3", "9"]), another="2")
    language = rng.choices(["1", "2", "3"], weights=[5, 3, 2])[0]
    return [language, "1", "1", "1", "1", rng.choice(list(TYPES)), *answers]


class PhoneBook:
    """Distinct synthetic numbers, one block per scenario: +24399 <block: 2 digits> <n: 5>."""

    _blocks = iter(range(10, 100))
    _lock = threading.Lock()

    def __init__(self) -> None:
        with self._lock:
            self.block = next(self._blocks)
        self.count = 0

    def next(self) -> str:
        with self._lock:
            self.count += 1
            phone = f"+24399{self.block:02d}{self.count:05d}"
            ALL_PHONES.add(phone)
            return phone


def post_form(conn: http.client.HTTPConnection, path: str,
              form: dict[str, str] | list[tuple[str, str]]) -> tuple[int, str]:
    body = urlencode(form).encode()
    conn.request("POST", path, body=body,
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    reply = conn.getresponse()
    return reply.status, reply.read().decode("utf-8", "replace")


class Load:
    """`rate` new callers a second for `seconds` seconds against `base_url`, in the background."""

    def __init__(self, base_url: str, *, seconds: float, rate: float, think: float = 0.25,
                 seed: int = 20261127, path: str = USSD_URL, threads: int = 64) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.seconds, self.rate, self.think, self.path = seconds, rate, think, path
        self.rng = random.Random(seed)  # noqa: S311 - reproducible traffic, not a secret
        self.phones = PhoneBook()
        self.callers: list[Caller] = []
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="caller")
        self._pacer: threading.Thread | None = None
        self._futures: list[object] = []
        self._lock = threading.Lock()  # the pacer and `dial_through` both draw callers
        self.started = 0.0

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def start(self) -> Load:
        self.started = time.monotonic()
        self._pacer = threading.Thread(target=self._pace, name="pacer", daemon=True)
        self._pacer.start()
        return self

    def sleep_until(self, second: float) -> None:
        """Wait until `second` seconds into the load (to inject a fault there)."""
        time.sleep(max(0.0, second - self.elapsed()))

    def _pace(self) -> None:
        total = int(self.seconds * self.rate)
        for n in range(total):
            dial_at = n / self.rate
            self.sleep_until(dial_at)
            with self._lock:
                caller = Caller(self.phones.next(), "ATUid_" + uuid.uuid4().hex,
                                caller_inputs(self.rng), dial_at)
                self.callers.append(caller)
            self._futures.append(self._pool.submit(self._play, caller))

    def dial_through(self, first_step: int, language: str = "1") -> Caller:
        """One more caller, now, whose first hop already carries `first_step` inputs."""
        with self._lock:
            inputs = caller_inputs(self.rng)
            inputs[0] = language
            caller = Caller(self.phones.next(), "ATUid_" + uuid.uuid4().hex, inputs,
                            self.elapsed(), first_step)
            self.callers.append(caller)
        self._futures.append(self._pool.submit(self._play, caller))
        return caller

    def _play(self, caller: Caller) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=HOP_TIMEOUT)
        try:
            for step in range(caller.first_step, len(caller.inputs) + 1):
                self.sleep_until(caller.dial_at + (step - caller.first_step) * self.think)
                hop = self._hop(conn, caller, step)
                caller.hops.append(hop)
                if hop.status is None:
                    conn.close()
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=HOP_TIMEOUT)
                if not (hop.status == 200 and hop.body.startswith("CON ")):
                    break
        finally:
            conn.close()

    def _hop(self, conn: http.client.HTTPConnection, caller: Caller, step: int) -> Hop:
        form = {"sessionId": caller.session_id, "serviceCode": SERVICE_CODE,
                "phoneNumber": caller.phone, "networkCode": "63001",
                "text": "*".join(caller.inputs[:step])}
        sent = self.elapsed()
        began = time.perf_counter()
        try:
            status, body = post_form(conn, self.path, form)
        except (OSError, http.client.HTTPException) as exc:
            return Hop(step, sent, time.perf_counter() - began, None, "", type(exc).__name__)
        return Hop(step, sent, time.perf_counter() - began, status, body)

    def join(self) -> Load:
        assert self._pacer is not None
        self._pacer.join()
        self._pool.shutdown(wait=True)
        return self

    def run(self) -> Load:
        return self.start().join()

    def hops(self) -> list[Hop]:
        return [h for c in self.callers for h in c.hops]


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank percentile: the smallest value with at least q of them at or below."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered), max(1, math.ceil(q * len(ordered)))) - 1]


@dataclass
class Tally:
    """What a scenario sent and what the database kept of it."""

    scenario: str
    sent: int
    accepted: int
    polite: int
    errors: int
    expected: int
    stored: int
    lost: int
    duplicated: int
    wrong: int
    p99_ms: float
    max_ms: float
    notes: dict[str, object] = field(default_factory=dict)

    def line(self) -> str:
        return (f"{self.scenario}: sent {self.sent}, accepted {self.accepted}, stored "
                f"{self.stored}, lost {self.lost}, duplicated {self.duplicated}, "
                f"p99 {self.p99_ms:.0f} ms")


def tally(scenario: str, callers: list[Caller], database_url: str) -> Tally:
    """Count what the callers sent and got, and what the database holds of their answers."""
    hops = [h for c in callers for h in c.hops]
    period = quarter_of(datetime.now(UTC))
    expected: dict[tuple[str, str, str, str], int | None] = {}
    possible: dict[tuple[str, str, str, str], int | None] = {}  # whole paths, accepted or not
    by_hash = {pseudonym(c.phone, PHONE_HASH_KEY): c for c in callers}
    for phone_hash, caller in by_hash.items():
        for indicator, value in caller.accepted_answers().items():
            expected[(phone_hash, period, caller.institution_type, indicator)] = value
        for indicator, value in caller.answers_in(len(caller.inputs)).items():
            possible[(phone_hash, period, caller.institution_type, indicator)] = value
    hashes = list(by_hash)
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT r.phone_hash, a.period, a.institution_type, a.indicator, a.value "
            "FROM answers a JOIN respondents r ON r.id = a.respondent_id "
            "WHERE r.phone_hash = ANY(%s)", (hashes,)).fetchall()
        extra_submissions = conn.execute(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM submissions "
            "GROUP BY idempotency_key HAVING count(*) > 1) AS d").fetchone()
        extra_respondents = conn.execute(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM respondents "
            "WHERE phone_hash = ANY(%s) GROUP BY phone_hash HAVING count(*) > 1) AS d",
            (hashes,)).fetchone()
    found: dict[tuple[str, str, str, str], list[int | None]] = {}
    for phone_hash, row_period, kind, indicator, value in rows:
        found.setdefault((phone_hash, row_period, kind, indicator), []).append(value)
    lost = sum(1 for key, value in expected.items() if value not in found.get(key, []))
    wrong = sum(1 for key, values in found.items() for value in values
                if key not in possible or possible[key] != value)
    duplicated = (sum(len(v) - 1 for v in found.values())
                  + int(extra_submissions[0] if extra_submissions else 0)
                  + int(extra_respondents[0] if extra_respondents else 0))
    latencies = [h.seconds * 1000 for h in hops if h.status is not None]
    return Tally(
        scenario=scenario, sent=len(hops), accepted=sum(h.accepted for h in hops),
        polite=sum(1 for h in hops if h.status == 200 and apology(h.body) is not None),
        errors=sum(1 for h in hops if h.status is None or h.status >= 500),
        expected=len(expected), stored=len(rows), lost=lost, duplicated=duplicated, wrong=wrong,
        p99_ms=percentile(latencies, 0.99), max_ms=max(latencies, default=0.0))


def half_written(callers: list[Caller], database_url: str) -> list[str]:
    """Rows that only a transaction cut in the middle could leave: a session whose saved answer
    count differs from its stored answers, an answer given but not counted, or counted for a
    caller who never consented."""
    sessions = [c.session_id for c in callers]
    problems: list[str] = []
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        for session_id, answered, stored in conn.execute(
                "SELECT s.session_id, s.answered, (SELECT count(*) FROM submissions b "
                "WHERE b.idempotency_key LIKE 'ussd:' || s.session_id || ':%%') "
                "FROM ussd_sessions s WHERE s.session_id = ANY(%s)", (sessions,)):
            if answered != stored:
                problems.append(f"session {session_id}: {answered} answers saved, "
                                f"{stored} stored")
        for key, in conn.execute(
                "SELECT b.idempotency_key FROM submissions b WHERE b.withdrawn_at IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.respondent_id = "
                "b.respondent_id AND a.period = b.period AND a.institution_type = "
                "b.institution_type AND a.indicator = b.indicator)"):
            problems.append(f"submission {key} is not counted")
        for respondent, in conn.execute(
                "SELECT DISTINCT a.respondent_id FROM answers a JOIN respondents r ON "
                "r.id = a.respondent_id WHERE r.consent_version IS NULL"):
            problems.append(f"respondent {respondent} has answers and no consent")
    return problems


def write_hops(path: Path, callers: list[Caller]) -> None:
    """Every hop of a load, one line each, for whoever investigates a red run."""
    with path.open("w") as out:
        for caller in callers:
            for hop in caller.hops:
                out.write(f"{hop.sent_at:8.3f} {caller.session_id} step {hop.step:2d} "
                          f"{hop.status} {hop.seconds * 1000:7.1f} ms {hop.error or ''} "
                          f"{hop.body[:40]!r}\n")
