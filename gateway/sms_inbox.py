"""What the gateway does with one incoming SMS, inside the webhook's transaction.

Rules:
- everything one message causes — its `sms_inbound` row (unique on Africa's Talking's `id`), the
  respondent, the vault entry, answers and dirty marks, feedback, a follow-up question, the reply —
  is written in the caller's one transaction: a duplicate delivery finds the row and changes
  nothing, a failure leaves nothing half-written;
- the reply is in the keyword's language, else the sender's last SMS language, else French; a
  reply is an `outbound_sms` row keyed `reply:<AT id>`, sent later by a job;
- a rating counts like a USSD answer (DESIGN §5): one countable answer per respondent, quarter,
  institution type and indicator, the later replacing the earlier; its submissions are keyed
  `sms:<AT id of the rating>:<indicator>`, so a rating completed by a follow-up is stored once;
- a rating needs a unit: from a unit code, or the type and a locality (named in the message, or
  the sender's last one); an unknown locality, several close matches or several units get a
  follow-up question, answered by the sender's next message within `follow_up_hours`;
- STOP records the opt-out and is confirmed once; from then on nothing is sent to that number but
  the confirmation of START, and the vault keeps it one more day only (for the confirmation's
  retries). Ratings and feedback of an opted-out sender are still stored;
- beyond SMS_MAX_PER_DAY messages in a local day a sender's messages are stored, not answered (an
  auto-responder loop or abuse must not cost an SMS each);
- free text is stored with any phone number in it masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flows import RecordAnswer
from flows.sms import (
    BadFeedback,
    BadRating,
    Command,
    Feedback,
    Grammar,
    Help,
    Rate,
    Results,
    Start,
    Stop,
    Unrecognised,
    match_place,
    parse,
)
from gateway.answers import store_answers, upsert_respondent
from gateway.db import insert_for
from gateway.directory import Snapshot
from gateway.models import Feedback as FeedbackRow
from gateway.models import Respondent, SmsInbound, SmsPending
from gateway.outbox import queue_sms
from gateway.phones import redact_numbers
from gateway.sessions import local_day_start
from gateway.smsconfig import SmsConfig
from gateway.vault import REPLY_KEEP, Vault
from scoring.keys import Cell
from scoring.periods import quarter_of

MAX_TEXT = 1600
OPTED_OUT_KEEP = timedelta(days=1)  # long enough for the STOP confirmation and its retries
OPTIONS_SHOWN = 6


@dataclass(frozen=True)
class Inbound:
    at_id: str
    e164: str
    phone_hash: str
    text: str
    short_code: str | None = None
    link_id: str | None = None
    network_code: str | None = None
    at_date: str | None = None


@dataclass(frozen=True)
class Context:
    sms: SmsConfig
    grammar: Grammar  # with the unit codes of the directory
    directory: Snapshot
    vault: Vault
    key_version: int
    survey_version: str
    max_per_day: int


@dataclass
class Handled:
    kind: str
    outcome: str
    language: str
    cells: set[Cell] = field(default_factory=set)
    outbound: list[int] = field(default_factory=list)


def handle(session: Session, ctx: Context, msg: Inbound, now: datetime) -> Handled | None:
    """Carry out one message; None when it was already handled (a duplicate delivery)."""
    respondent_id = upsert_respondent(session, msg.phone_hash, ctx.key_version, now)
    inbound_id = _insert_inbound(session, ctx, msg, respondent_id, kind="received", now=now)
    if inbound_id is None:
        return None
    # The respondent row is locked by the upsert above (PostgreSQL): one sender's messages are
    # handled one at a time.
    respondent = session.get(Respondent, respondent_id)
    assert respondent is not None
    ctx.vault.keep(session, respondent_id, msg.e164, now, now + REPLY_KEEP)
    command = parse(msg.text, ctx.grammar)
    turn = _Turn(session, ctx, msg, respondent=respondent, inbound_id=int(inbound_id), now=now)
    handled = turn.run(command)
    if respondent.sms_opted_out_at is not None:  # nothing more will be sent: forget the number
        ctx.vault.keep_until(session, respondent_id, now + OPTED_OUT_KEEP)
    elif handled.kind in ("feedback", "complaint") or respondent.results_opt_in_at is not None:
        ctx.vault.extend(session, respondent_id, now + ctx.vault.retention)  # staff may answer
    row = session.get(SmsInbound, inbound_id)
    assert row is not None
    row.kind, row.outcome, row.language = handled.kind, handled.outcome[:40], handled.language
    return handled


class _Turn:
    """One message of one sender: decide, store, and queue at most one reply."""

    def __init__(self, session: Session, ctx: Context, msg: Inbound, *,
                 respondent: Respondent, inbound_id: int, now: datetime) -> None:
        self.session = session
        self.ctx = ctx
        self.msg = msg
        self.respondent = respondent
        self.inbound_id = inbound_id
        self.now = now
        self.language = (respondent.sms_language or respondent.language
                         or ctx.sms.default_language)
        self.handled = Handled("unrecognised", "", self.language)

    # -- dispatch ------------------------------------------------------------------------------

    def run(self, command: Command) -> Handled:
        language = getattr(command, "language", None)
        if language is not None:
            self.language = self.respondent.sms_language = language
        self.handled.language = self.language
        pending = self._pending()
        if isinstance(command, Unrecognised) and pending is not None:
            self._follow_up(pending, command.words)
            return self.handled
        if pending is not None and not isinstance(command, Help):
            self.session.delete(pending)  # a new request replaces the question left open
        if isinstance(command, Stop):
            self._stop()
        elif isinstance(command, Start):
            self._start()
        elif isinstance(command, Help):
            self._reply("help", "help", "help")
        elif isinstance(command, Results):
            self._results()
        elif isinstance(command, Feedback):
            self._feedback(command)
        elif isinstance(command, BadFeedback):
            self._reply(command.category, "incomplete", "feedback_empty")
        elif isinstance(command, Rate):
            self._rate(command)
        elif isinstance(command, BadRating):
            self._reply("rating", f"bad_rating:{command.reason}", "bad_rating")
        else:
            self._reply("unrecognised", "format_taught", "unrecognised")
        return self.handled

    # -- commands ------------------------------------------------------------------------------

    def _stop(self) -> None:
        if self.respondent.sms_opted_out_at is not None:
            self._done("stop", "already_opted_out")  # confirmed once, then silence
            return
        self.respondent.sms_opted_out_at = self.now
        self._reply("stop", "opted_out", "stopped", out_kind="opt_out")

    def _start(self) -> None:
        self.respondent.sms_opted_out_at = None
        self._reply("start", "opted_in", "started", out_kind="opt_in")

    def _results(self) -> None:
        self.respondent.results_opt_in_at = self.now
        place = self._place_label(self.respondent.last_location_id)
        if place is None:
            self._ask("results", "locality", {"for": "results"}, "ask_locality")
            return
        self._reply("results", "results_opt_in", "results_ok", place=place)

    def _feedback(self, command: Feedback) -> None:
        row = FeedbackRow(
            inbound_id=self.inbound_id, respondent_id=self.respondent.id,
            period=quarter_of(self.now), language=self.language,
            location_id=self.respondent.last_location_id,
            institution_type=command.institution_type, category=command.category,
            text=redact_numbers(command.text[:MAX_TEXT]), status="new", tags=[],
            created_at=self.now,
        )
        self.session.add(row)
        self.session.flush()
        self._reply(command.category, f"{command.category}_stored", "feedback_thanks",
                    ref=row.id)

    def _rate(self, command: Rate) -> None:
        rating: dict[str, Any] = {
            "for": "rate", "type": command.institution_type, "values": list(command.values),
            "at_id": self.msg.at_id,
        }
        if command.unit_code is not None:
            unit = self._unit_item(command.unit_code)
            if unit is None:
                self._reply("rating", "unknown_unit", "unrecognised")
                return
            rating["type"] = unit[1]
            self._store_rating(rating, command.unit_code, unit[0])
            return
        if command.place:
            self._rate_at(rating, command.place)
            return
        location_code = self._location_code(self.respondent.last_location_id)
        if location_code is None:
            self._ask("rating", "locality", rating, "ask_locality")
            return
        self._rate_in(rating, location_code)

    def _rate_at(self, rating: dict[str, Any], words: str) -> None:
        """A locality the sender named, in a rating or answering a question (for a rating or
        for the results): one match goes on, several are offered by number, none asks again."""
        name = " ".join(w for w in words.split() if not w.isdigit())
        matches = match_place(name, self.ctx.directory.place_names)
        if not matches:  # a city or a territory: its localities are offered
            areas = match_place(name, self.ctx.directory.area_names)
            matches = self._localities_of(areas[0]) if len(areas) == 1 else areas
        if len(matches) == 1:
            self._place_chosen(rating, matches[0])
        elif not matches:
            # What they wrote is echoed (so they see what was not found), numbers masked.
            echo = redact_numbers(name or words)[:40].upper()
            self._ask(_kind(rating), "locality", rating, "place_unknown", words=echo)
        else:
            self._offer_places(rating, matches)

    def _rate_in(self, rating: dict[str, Any], location_code: str) -> None:
        self.respondent.last_location_id = self.ctx.directory.location_ids.get(location_code)
        rating = {**rating, "location": location_code}
        units = self.ctx.directory.directory.units_for(location_code, rating["type"])
        if not units:
            self._reply("rating", "no_unit", "no_unit",
                        place=self._place_label_of(location_code))
        elif len(units) == 1:
            self._store_rating(rating, units[0].code, location_code)
        else:
            self._offer_units(rating, [u.code for u in units])

    def _store_rating(self, rating: dict[str, Any], unit_code: str, location_code: str) -> None:
        flow_indicators = self.ctx.grammar.rating_indicators
        effects = []
        for indicator, option in zip(flow_indicators, rating["values"], strict=False):
            scale = self.ctx.grammar.scales[indicator]
            value = None if option == scale.dont_know else int(option)
            effects.append(RecordAnswer(
                step=indicator, institution_type=rating["type"], unit_code=unit_code,
                location_code=location_code, indicator=indicator, option=option, value=value))
        self.handled.cells |= store_answers(
            self.session, respondent_id=self.respondent.id, channel="sms",
            session_key=rating["at_id"], effects=effects,
            unit_ids=self.ctx.directory.unit_ids, location_ids=self.ctx.directory.location_ids,
            survey_version=self.ctx.survey_version, now=self.now)
        self.respondent.last_location_id = self.ctx.directory.location_ids.get(location_code)
        label = self._unit_label(unit_code)
        self._reply("rating", "rated", "rated", unit=label)

    # -- follow-up questions -------------------------------------------------------------------

    def _pending(self) -> SmsPending | None:
        row = self.session.scalar(select(SmsPending).where(
            SmsPending.respondent_id == self.respondent.id))
        if row is not None and row.expires_at <= self.now:
            self.session.delete(row)
            self.session.flush()
            return None
        return row

    def _ask(self, kind: str, waiting_for: str, payload: dict[str, Any], reply_id: str,
             **values: Any) -> None:
        question = {"waiting_for": waiting_for, "payload": payload, "created_at": self.now,
                    "expires_at": self.now + timedelta(hours=self.ctx.sms.follow_up_hours)}
        stmt = insert_for(self.session, SmsPending).values(respondent_id=self.respondent.id,
                                                           **question)
        self.session.execute(stmt.on_conflict_do_update(index_elements=["respondent_id"],
                                                        set_=question))
        self._reply(kind, f"asked_{waiting_for}", reply_id, **values)

    def _follow_up(self, pending: SmsPending, words: str) -> None:
        payload = dict(pending.payload)
        options = [str(o) for o in payload.get("options", [])]
        self.session.delete(pending)
        self.session.flush()
        if pending.waiting_for in ("place_choice", "unit_choice"):
            choice = words.split(maxsplit=1)[0] if words else ""
            if not (choice.isdigit() and 1 <= int(choice) <= len(options)):
                # Not a number from the list: maybe a place name after all.
                if pending.waiting_for == "place_choice" and words and not words.isdigit():
                    self._rate_at(payload, words)
                    return
                self._re_ask(pending, payload)
                return
            picked = options[int(choice) - 1]
            if pending.waiting_for == "place_choice":
                self._place_chosen(payload, picked)
            elif picked in self.ctx.directory.unit_ids:
                self._store_rating(payload, picked, str(payload["location"]))
            else:  # the unit list changed since the question: ask again from today's list
                self._rate_in(payload, str(payload["location"]))
            return
        self._rate_at(payload, words)

    def _localities_of(self, area: str) -> list[str]:
        return [code for code in self.ctx.directory.directory.children.get(area, ())
                if code in self.ctx.directory.place_names]

    def _place_chosen(self, payload: dict[str, Any], code: str) -> None:
        if code not in self.ctx.directory.place_names:  # an area was chosen: now its localities
            localities = self._localities_of(code)
            if len(localities) == 1:
                self._place_chosen(payload, localities[0])
            else:
                self._offer_places(payload, localities)
            return
        if payload.get("for") == "results":
            self.respondent.last_location_id = self.ctx.directory.location_ids.get(code)
            self._reply("results", "results_opt_in", "results_ok",
                        place=self._place_label_of(code))
        else:
            self._rate_in(payload, code)

    def _re_ask(self, pending: SmsPending, payload: dict[str, Any]) -> None:
        options = [str(o) for o in payload.get("options", [])]
        if pending.waiting_for == "unit_choice":
            self._offer_units(payload, options)
        else:
            self._offer_places(payload, options)

    def _offer_places(self, payload: dict[str, Any], codes: list[str]) -> None:
        options = codes[:OPTIONS_SHOWN]
        self._ask(_kind(payload), "place_choice", {**payload, "options": options},
                  "ask_place_choice",
                  options=self._numbered([self._place_label_of(c) for c in options]))

    def _offer_units(self, payload: dict[str, Any], codes: list[str]) -> None:
        options = codes[:OPTIONS_SHOWN]
        self._ask("rating", "unit_choice", {**payload, "options": options}, "ask_unit_choice",
                  options=self._numbered([self._unit_label(c) for c in options]))

    # -- replies and labels --------------------------------------------------------------------

    def _reply(self, kind: str, outcome: str, reply_id: str, *, out_kind: str = "reply",
               **values: Any) -> None:
        self._done(kind, outcome)
        if self.respondent.sms_opted_out_at is not None and out_kind != "opt_out":
            self.handled.outcome = f"{outcome}:silent_opted_out"
            return
        if out_kind != "opt_out" and self._over_daily_limit():  # a STOP is always confirmed
            self.handled.outcome = f"{outcome}:silent_daily_limit"
            return
        body = self.ctx.sms.text(self.language, reply_id, **values)
        new_id = queue_sms(self.session, respondent_id=self.respondent.id, kind=out_kind,
                           language=self.language, body=body, key=f"reply:{self.msg.at_id}",
                           now=self.now)
        if new_id is not None:
            self.handled.outbound.append(new_id)

    def _done(self, kind: str, outcome: str) -> None:
        self.handled.kind, self.handled.outcome = kind, outcome

    def _over_daily_limit(self) -> bool:
        count = self.session.scalar(select(func.count()).select_from(SmsInbound).where(
            SmsInbound.respondent_id == self.respondent.id,
            SmsInbound.received_at >= local_day_start(self.now)))
        return int(count or 0) > self.ctx.max_per_day

    def _unit_item(self, unit_code: str) -> tuple[str, str] | None:
        """(location code, type) of a unit of the directory."""
        for (location_code, institution_type), units in self.ctx.directory.directory.units.items():
            if any(u.code == unit_code for u in units):
                return location_code, institution_type
        return None

    def _unit_label(self, unit_code: str) -> str:
        for units in self.ctx.directory.directory.units.values():
            for unit in units:
                if unit.code == unit_code:
                    return unit.label
        return unit_code

    def _location_code(self, location_id: int | None) -> str | None:
        if location_id is None:
            return None
        for code, pk in self.ctx.directory.location_ids.items():
            if pk == location_id and code in self.ctx.directory.place_names:
                return code
        return None

    def _place_label(self, location_id: int | None) -> str | None:
        code = self._location_code(location_id)
        return None if code is None else self._place_label_of(code)

    def _place_label_of(self, code: str) -> str:
        item = self.ctx.directory.directory.locations.get(code)
        return item.label if item is not None else code

    @staticmethod
    def _numbered(labels: list[str]) -> str:
        return ", ".join(f"{i}. {label}" for i, label in enumerate(labels[:OPTIONS_SHOWN], 1))


def _kind(payload: dict[str, Any]) -> str:
    """What a follow-up question is for, as the inbound row records it."""
    return "results" if payload.get("for") == "results" else "rating"


def keep_unhandled(session: Session, ctx: Context, msg: Inbound, now: datetime) -> bool:
    """Store a message whose handling failed (a bug, a bad config) as `error`, so that it is
    not lost when Africa's Talking stops retrying; False when it was stored already."""
    respondent_id = upsert_respondent(session, msg.phone_hash, ctx.key_version, now)
    return _insert_inbound(session, ctx, msg, respondent_id, kind="error", now=now) is not None


def _insert_inbound(session: Session, ctx: Context, msg: Inbound, respondent_id: int, *,
                    kind: str, now: datetime) -> int | None:
    """The message's row, unique on AT's id (numbers in its text masked); None if it exists."""
    inserted = session.execute(
        insert_for(session, SmsInbound).values(
            at_id=msg.at_id, respondent_id=respondent_id, short_code=msg.short_code,
            link_id=msg.link_id, network_code=msg.network_code, at_date=msg.at_date,
            text=redact_numbers(msg.text[:MAX_TEXT]), language=ctx.sms.default_language,
            kind=kind, outcome=kind, received_at=now,
        ).on_conflict_do_nothing(index_elements=["at_id"]).returning(SmsInbound.id)
    ).scalar()
    return int(inserted) if inserted is not None else None
