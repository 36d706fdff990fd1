"""PostgreSQL stopped for 30 s in the middle of the load (`pg_ctl stop -m fast`, then start).

Rules checked (DESIGN §7: "every webhook answers within its budget whatever fails behind it: a
polite END screen in the citizen's language rather than an HTTP 500, and nothing half-written"):
- while the database is down, every hop gets the polite `END` within HOP_BUDGET, none an HTTP
  error or no reply;
- that `END` is in the caller's language whenever the hop's own path says it (the language is
  the first input; callers who dial through arrive with it on their first hop);
- once the database is back, hops are answered as usual again, every accepted answer is stored
  exactly once, no transaction was left half-written, and the scores equal a full recompute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from scoring.periods import quarter_of

from .load import LANGUAGES, Caller, Hop, Load, Tally, apology, half_written
from .scores import settle
from .services import Gateways, PrivatePostgres

OUTAGE = 30.0  # seconds, as the issue asks
DOWN_AT = 10.0  # seconds into the load
SECONDS = 55.0  # of new callers; the last ones finish a few seconds later
RATE = 2.0
# Africa's Talking allows 15 s a hop; the gateway's own caps (3 s to connect, 3 s a statement,
# 2 s for a pooled connection) keep an apology well inside that.
HOP_BUDGET = 5.0
RECOVERY = 5.0  # seconds after the restart from which hops must be answered as usual again


@dataclass
class Outage:
    load: Load
    tally: Tally
    down: tuple[float, float]  # seconds into the load: stopped .. started again
    half_written: list[str]
    catch_up: float | None
    changed: list[str]
    compared: int


def _during(load: Load, down: tuple[float, float]) -> list[tuple[Caller, Hop]]:
    """Hops sent while the database was certainly down (stop returned, start not yet called)."""
    return [(c, h) for c in load.callers for h in c.hops if down[0] <= h.sent_at < down[1]]


@pytest.fixture(scope="module")
def outage(module_gateways: Gateways, postgres: PrivatePostgres,
           record: Callable[..., Tally]) -> Outage:
    gateway = module_gateways("postgres_stopped")
    gateway.start_web()
    gateway.start_worker()
    period = quarter_of(datetime.now(UTC))
    load = Load(gateway.url, seconds=SECONDS, rate=RATE).start()
    load.sleep_until(DOWN_AT)
    postgres.stop("fast")
    stopped = load.elapsed()
    for second in range(3, int(OUTAGE) - 3, 4):  # callers who dial through, in each language
        load.sleep_until(stopped + second)
        for language in LANGUAGES:
            load.dial_through(first_step=2, language=language)
    load.sleep_until(stopped + OUTAGE)
    restarting = load.elapsed()
    postgres.start()
    load.join()
    settled = settle(gateway, period, 60)
    catch_up, compared, changed = settled.catch_up, settled.compared, settled.changed
    problems = half_written(load.callers, gateway.database_url)
    down = (stopped, restarting)
    during = _during(load, down)
    result = record("postgresql stopped 30 s", load.callers, gateway.database_url,
                    outage_s=round(restarting - stopped, 1), hops_during_outage=len(during),
                    max_ms_during_outage=round(max((h.seconds for _, h in during),
                                                   default=0) * 1000),
                    half_written=len(problems),
                    scores_caught_up_s=None if catch_up is None else round(catch_up, 1))
    return Outage(load, result, down, problems, catch_up, changed, compared)


def test_postgres_down_every_hop_gets_the_polite_end_within_budget(outage: Outage) -> None:
    during = _during(outage.load, outage.down)
    assert len(during) > 30, "the outage fell outside the load"
    for caller, hop in during:
        assert hop.status == 200, (caller.session_id, hop.step, hop.status, hop.error)
        said = apology(hop.body)
        assert said is not None and said[1] == "unavailable", hop.body
        assert hop.seconds < HOP_BUDGET, f"{hop.seconds:.1f} s for an apology"
    assert outage.tally.errors == 0, "a hop got an HTTP error or no reply"


def test_postgres_down_the_polite_end_is_in_the_callers_language(outage: Outage) -> None:
    checked = 0
    for caller, hop in _during(outage.load, outage.down):
        if hop.step >= 1 and hop.status == 200:  # the path names the language
            assert apology(hop.body) == (caller.language, "unavailable"), (
                caller.language, hop.body)
            checked += 1
    assert checked >= 3


def test_postgres_back_no_accepted_answer_lost_nothing_half_written(outage: Outage) -> None:
    result = outage.tally
    assert result.lost == 0 and result.duplicated == 0 and result.wrong == 0
    assert outage.half_written == [], outage.half_written[:5]
    after = [h for c in outage.load.callers for h in c.hops
             if h.sent_at >= outage.down[1] + RECOVERY]
    assert after, "the load ended before the database came back"
    refused = [h for h in after if not h.accepted]
    assert refused == [], f"{len(refused)} hops refused {RECOVERY:.0f} s after the restart"


def test_postgres_back_scores_converge_to_a_full_recompute(outage: Outage) -> None:
    assert outage.catch_up is not None, "scores still dirty a minute after the restart"
    assert outage.compared > 0 and outage.changed == [], outage.changed[:5]


def test_postgres_outage_left_the_load_paced(outage: Outage) -> None:
    """The load kept its pace through the outage (the figures above are about the outage)."""
    dials = [c.dial_at for c in outage.load.callers if c.first_step == 0]
    late = [c for c in outage.load.callers
            if c.first_step == 0 and c.hops and c.hops[0].sent_at - c.dial_at > 1.0]
    assert len(dials) == int(SECONDS * RATE)
    assert late == [], f"{len(late)} callers dialled more than 1 s late"
