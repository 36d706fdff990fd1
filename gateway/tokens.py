"""API tokens for the RBF engine: shown once, stored only as a SHA-256 hash.

Tokens are 256-bit random strings, so a fast hash is enough (no password stretching needed); the
lookup compares hashes, never the token. `last_used_at` is written at most once a minute per token,
so reading scores does not turn every API call into a write.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.models import ApiToken

PREFIX = "rbf_"
TOUCH_EVERY = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session, name: str, *, provisional: bool = False, province: str | None = None
) -> tuple[ApiToken, str]:
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        token_hash=hash_token(token),
        provisional=provisional,
        province_code=province,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    return row, token


def verify(session: Session, token: str) -> ApiToken | None:
    """The live token row for `token`, touching its last use; None when unknown or revoked."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    now = datetime.now(UTC)
    last = row.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)  # SQLite returns naive datetimes
    if last is None or now - last > TOUCH_EVERY:
        session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    return row


def revoke(session: Session, token_id: int) -> bool:
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    return bool(getattr(result, "rowcount", 0))
