"""Effects the engine asks the gateway to carry out. Plain, immutable data; no behaviour."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecordAnswer:
    """Store one answer as given.

    `step` is stable within a session for the same question about the same institution type, so the
    gateway can make storage idempotent on (sessionId, step): replaying a path re-emits the same
    effect, and going back to change an answer re-emits the same step with the new value.
    `value` is None for "don't know / prefer not to say"; `option` is the key the caller pressed.
    """

    step: str
    institution_type: str
    unit_code: str
    location_code: str
    indicator: str
    option: str
    value: int | None


@dataclass(frozen=True)
class WithdrawAnswer:
    """An answer given earlier in this session no longer stands: the caller went back and took a
    branch that skips its question (contact "no" after a bribe answer). The gateway keeps the
    submission, marked withdrawn, and drops it from the countable answers."""

    step: str
    institution_type: str
    indicator: str


@dataclass(frozen=True)
class UpdateProfile:
    """Remember the caller's language, consent and place — only ever emitted once they consented."""

    language: str | None
    consent_version: str
    locality: str | None
