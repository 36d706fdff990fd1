"""Database models (SQLAlchemy 2 typed mappings), created by the migrations in `migrations/`.

Rules (DESIGN §5), each enforced by a constraint, not by hope:
- a respondent is only an HMAC of the E.164 number with a key version; no raw number anywhere;
- `submissions` keeps each session's answers as given, unique on its idempotency key
  (`ussd:<sessionId>:<step>`), so a replayed hop stores nothing twice; a step answered again in
  the same session keeps its latest answer, a withdrawn one stays, marked;
- `answers` keeps the one *countable* answer per respondent x period x institution type x indicator
  (a later answer replaces an earlier one);
- `dirty_cells` marks score cells touched by new answers, in the same transaction as the answer; the
  generation counter lets a refresh clear only the mark it has seen;
- `cells` holds per-cell counts for every level of the tree (see `Cell`);
- a locked quarter's published numbers live in `snapshots`, never recomputed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored in UTC and read back timezone-aware, on SQLite as on PostgreSQL.

    (SQLite's DATETIME keeps the wall-clock digits and drops the offset: without this, a local
    time would be stored as if it were UTC.) A naive datetime is refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    # Named constraints, so later migrations can alter them on SQLite (batch mode) and PostgreSQL.
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


INSTITUTION_TYPES = ("police", "justice", "administration")
LEVELS = ("province", "territory", "collectivity")


class Respondent(Base):
    __tablename__ = "respondents"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # The profile, remembered only once the caller has consented (DESIGN §5, issue 3).
    language: Mapped[str | None] = mapped_column(String(8))
    consent_version: Mapped[str | None] = mapped_column(String(20))
    consented_at: Mapped[datetime | None]
    last_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    # SMS (issue 6): the language of the last keyword, opt-out (STOP: nothing more is sent but
    # the confirmation) and the agreement to receive the quarter's result.
    sms_language: Mapped[str | None] = mapped_column(String(8))
    sms_opted_out_at: Mapped[datetime | None]
    results_opt_in_at: Mapped[datetime | None]


class Location(Base):
    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    ussd_name: Mapped[str] = mapped_column(String(40))
    level: Mapped[str] = mapped_column(String(20))  # province | territory | collectivity
    kind: Mapped[str] = mapped_column(
        String(20)
    )  # province, ville, territoire, commune, chefferie...
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    is_pcode: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(60))
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)

    parent: Mapped[Location | None] = relationship(remote_side=[id])


class InstitutionUnit(Base):
    __tablename__ = "institution_units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(160))
    ussd_name: Mapped[str] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(20))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    illustrative: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    location: Mapped[Location] = relationship()


class Submission(Base):
    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    respondent_id: Mapped[int] = mapped_column(ForeignKey("respondents.id"))
    channel: Mapped[str] = mapped_column(String(10))
    period: Mapped[str] = mapped_column(String(6))
    unit_id: Mapped[int] = mapped_column(ForeignKey("institution_units.id"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    institution_type: Mapped[str] = mapped_column(String(20))
    indicator: Mapped[str] = mapped_column(String(40))
    option: Mapped[str] = mapped_column(String(4))
    value: Mapped[int | None] = mapped_column(Integer)
    survey_version: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime]
    # Set when the caller took a branch that skips this question; the row is kept, not counted.
    withdrawn_at: Mapped[datetime | None]


class Answer(Base):
    __tablename__ = "answers"
    __table_args__ = (
        UniqueConstraint(
            "respondent_id", "period", "institution_type", "indicator", name="uq_answers_countable"
        ),
        Index("ix_answers_cell", "period", "unit_id", "indicator"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    respondent_id: Mapped[int] = mapped_column(ForeignKey("respondents.id"))
    period: Mapped[str] = mapped_column(String(6))
    institution_type: Mapped[str] = mapped_column(String(20))
    indicator: Mapped[str] = mapped_column(String(40))
    unit_id: Mapped[int] = mapped_column(ForeignKey("institution_units.id"))
    value: Mapped[int | None] = mapped_column(Integer)  # None: don't know / prefer not to say
    survey_version: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(10))
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    received_at: Mapped[datetime]


class DirtyCell(Base):
    __tablename__ = "dirty_cells"
    __table_args__ = (
        UniqueConstraint("period", "unit_id", "indicator", name="uq_dirty_cells_cell"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(6))
    unit_id: Mapped[int] = mapped_column(ForeignKey("institution_units.id"))
    indicator: Mapped[str] = mapped_column(String(40))
    generation: Mapped[int] = mapped_column(Integer, default=1)
    marked_at: Mapped[datetime]


class Cell(Base):
    """The counts of one score cell: a period, a level of the tree (a unit, or a location at
    collectivity, territory or province level), an institution type and an indicator.

    `counts` (canonical JSON text, so equal counts are equal bytes on every database) maps each
    answer value ("1".."9") to how many countable answers gave it; don't-know
    answers are in `dont_know`. A parent's counts are the sums of its units' (one countable answer
    per respondent, period, type and indicator: nobody is counted twice). Statistics are derived
    from counts by `scoring.stats`, so the same numbers come out on every read.
    """

    __tablename__ = "cells"
    __table_args__ = (Index("ix_cells_period_level", "period", "level", "institution_type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # period|level|code|type|indicator
    period: Mapped[str] = mapped_column(String(6))
    level: Mapped[str] = mapped_column(String(20))  # unit | collectivity | territory | province
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("institution_units.id"))
    institution_type: Mapped[str] = mapped_column(String(20))
    indicator: Mapped[str] = mapped_column(String(40))
    counts: Mapped[str] = mapped_column(String(400))  # canonical JSON: {"1": 3, "4": 12}
    respondents: Mapped[int] = mapped_column(Integer)
    dont_know: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime]


class Period(Base):
    """A reporting quarter and its lifecycle: open -> in_review -> locked."""

    __tablename__ = "periods"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(6), unique=True)
    status: Mapped[str] = mapped_column(String(12))  # open | in_review | locked
    opened_at: Mapped[datetime]
    review_at: Mapped[datetime | None]
    locked_at: Mapped[datetime | None]
    snapshot_version: Mapped[int | None] = mapped_column(Integer)


class Snapshot(Base):
    """The immutable, published scores of a locked quarter: a canonical JSON document, its hash,
    the method version and thresholds it was computed with. Never updated; a correction would be
    a new version."""

    __tablename__ = "snapshots"
    __table_args__ = (UniqueConstraint("period", "version", name="uq_snapshots_period_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(6))
    version: Mapped[int] = mapped_column(Integer)
    method_version: Mapped[str] = mapped_column(String(40))
    document: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class IntegrityFlag(Base):
    """Something staff should look at before locking; never an automatic exclusion."""

    __tablename__ = "integrity_flags"
    __table_args__ = (
        UniqueConstraint("period", "kind", "subject", "window_start", name="uq_integrity_flags"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(6))
    kind: Mapped[str] = mapped_column(String(30))  # burst | first_time_dominated | over_daily_limit
    subject: Mapped[str] = mapped_column(String(200))  # the cell (or unit) it names
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)
    detail: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime]


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    province_code: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class UssdSession(Base):
    """One USSD session of a consented caller, as the gateway last saw it.

    `start_profile` is the profile the session's replay starts from (fixed at its first stored hop,
    so later profile changes never change how its path replays); `path` and `path_profile` are what
    a later session replays on *Continue*; `resumable` is cleared when a newer session starts.
    """

    __tablename__ = "ussd_sessions"
    __table_args__ = (Index("ix_ussd_sessions_respondent", "respondent_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(String(128), unique=True)
    respondent_id: Mapped[int] = mapped_column(ForeignKey("respondents.id"))
    start_profile: Mapped[dict[str, Any]] = mapped_column(JSON)
    resume_path: Mapped[list[str] | None] = mapped_column(JSON)
    resume_profile: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    resumed_from: Mapped[str | None] = mapped_column(String(128))  # the session offered to resume
    path: Mapped[list[str]] = mapped_column(JSON)
    path_profile: Mapped[dict[str, Any]] = mapped_column(JSON)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    hops: Mapped[int] = mapped_column(Integer, default=0)
    last_node: Mapped[str] = mapped_column(String(40))
    language: Mapped[str | None] = mapped_column(String(8))
    ended: Mapped[bool] = mapped_column(Boolean, default=False)
    resumable: Mapped[bool] = mapped_column(Boolean, default=True)
    network_code: Mapped[str | None] = mapped_column(String(10))
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class UssdEvent(Base):
    """Africa's Talking's end-of-session notification, for the drop-off funnel. No phone number."""

    __tablename__ = "ussd_events"
    __table_args__ = (Index("ix_ussd_events_received_at", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    hops_count: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    last_node: Mapped[str | None] = mapped_column(String(40))
    last_app_response: Mapped[str | None] = mapped_column(String(200))
    error_message: Mapped[str | None] = mapped_column(String(200))
    network_code: Mapped[str | None] = mapped_column(String(10))
    service_code: Mapped[str | None] = mapped_column(String(40))
    cost: Mapped[str | None] = mapped_column(String(40))
    at_date: Mapped[str | None] = mapped_column(String(40))
    received_at: Mapped[datetime]


class Delivery(Base):
    """A signed push of a locked quarter to one RBF webhook URL; every attempt is recorded."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(40), unique=True)
    url: Mapped[str] = mapped_column(String(500))
    event: Mapped[str] = mapped_column(String(40))
    period: Mapped[str] = mapped_column(String(6))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"))
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(300))
    duration_ms: Mapped[int] = mapped_column(Integer)


class PhoneVault(Base):
    """The one place a number is kept, and only where the gateway must text someone back
    (DESIGN §5): encrypted with VAULT_KEY (Fernet; the key is never in the database), one row per
    respondent, deleted once `purge_after` has passed (VAULT_RETENTION_DAYS after the last
    message) or on request."""

    __tablename__ = "phone_vault"
    __table_args__ = (Index("ix_phone_vault_purge_after", "purge_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    respondent_id: Mapped[int] = mapped_column(ForeignKey("respondents.id"), unique=True)
    ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    purge_after: Mapped[datetime]


class SmsInbound(Base):
    """One incoming SMS, unique on Africa's Talking's `id` (it retries until it gets a 200).

    `text` is what the citizen wrote with any phone number in it masked; `kind` is what the
    grammar made of it and `outcome` what the gateway did."""

    __tablename__ = "sms_inbound"
    __table_args__ = (Index("ix_sms_inbound_respondent", "respondent_id", "received_at"),
                      Index("ix_sms_inbound_received_at", "received_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at_id: Mapped[str] = mapped_column(String(100), unique=True)
    respondent_id: Mapped[int] = mapped_column(ForeignKey("respondents.id"))
    short_code: Mapped[str | None] = mapped_column(String(20))
    link_id: Mapped[str | None] = mapped_column(String(100))
    network_code: Mapped[str | None] = mapped_column(String(10))
    at_date: Mapped[str | None] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime]


class Feedback(Base):
    """Free-text feedback or a complaint sent by SMS, for staff to read, tag and answer.

    Never holds a number: an answer is queued as an outbound SMS to the respondent, whose number
    only the vault knows."""

    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inbound_id: Mapped[int] = mapped_column(ForeignKey("sms_inbound.id"), unique=True)
    respondent_id: Mapped[int] = mapped_column(ForeignKey("respondents.id"))
    period: Mapped[str] = mapped_column(String(6))
    language: Mapped[str] = mapped_column(String(8))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    institution_type: Mapped[str | None] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(20))  # feedback | complaint
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))  # new | answered | closed
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]


class SmsPending(Base):
    """A rating waiting for its locality or unit: the question was sent by SMS, the next message
    of that respondent (before `expires_at`) may answer it."""

    __tablename__ = "sms_pending"

    id: Mapped[int] = mapped_column(primary_key=True)
    respondent_id: Mapped[int] = mapped_column(ForeignKey("respondents.id"), unique=True)
    waiting_for: Mapped[str] = mapped_column(String(20))  # locality | unit
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class OutboundSms(Base):
    """One SMS to one respondent, the source of truth for sending it (Redis only carries jobs).

    Unique on `idempotency_key` (`reply:<AT id>`, `broadcast:<period>:<respondent>`...), so a
    retried webhook or a second broadcast queues nothing twice. `status`: queued -> sent ->
    delivered, or failed, or suppressed (opted out, number purged). `at_status` is Africa's
    Talking's last word (its per-recipient status, then delivery reports)."""

    __tablename__ = "outbound_sms"
    __table_args__ = (
        Index("ix_outbound_sms_due", "status", "next_attempt_at"),
        Index("ix_outbound_sms_at_message_id", "at_message_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    respondent_id: Mapped[int] = mapped_column(ForeignKey("respondents.id"))
    feedback_id: Mapped[int | None] = mapped_column(ForeignKey("feedback.id"))
    kind: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(Text)
    encoding: Mapped[str] = mapped_column(String(8))  # GSM-7 | UCS-2
    segments: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    at_message_id: Mapped[str | None] = mapped_column(String(100))
    status_code: Mapped[int | None] = mapped_column(Integer)
    at_status: Mapped[str | None] = mapped_column(String(40))
    failure_reason: Mapped[str | None] = mapped_column(String(100))
    cost: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


STAFF_ROLES = ("admin", "reviewer", "analyst")


class StaffUser(Base):
    """A program staff account: argon2id hash only; `province_code` limits what it sees."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(12))  # admin | reviewer | analyst
    province_code: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]


class StaffSession(Base):
    """A server-side login session: the cookie holds a random token, the table its SHA-256; a
    session ends when revoked (logout, password change, account disabled) or expired."""

    __tablename__ = "staff_sessions"
    __table_args__ = (Index("ix_staff_sessions_user", "user_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class LoginFailure(Base):
    """A failed login, for the rate limit: keyed on an HMAC of the e-mail, or of the address."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime]


class AuditEvent(Base):
    """Every staff action, append-only (database triggers refuse UPDATE and DELETE)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
