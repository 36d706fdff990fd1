"""Staff accounts, their sessions, the login rate limit and the audit log.

Rules:
- passwords are hashed with argon2id (`argon2-cffi`, its recommended parameters), re-hashed on
  login when those parameters change; a password has at least 12 characters;
- a session is a random token in an HttpOnly cookie; the database keeps only its SHA-256, when it
  was last used and when it expires (idle `IDLE`, at most `LIFETIME`); logout revokes it, a
  password change or a disabled account revokes every session of that account;
- a login is refused, whatever the password, after `MAX_FAILURES` failures in `WINDOW` for the
  same e-mail address from the same network address, or `MAX_FAILURES_PER_ADDRESS` from one
  address (keys are HMACs: neither is stored in clear); keyed on the pair, so that nobody can lock
  a reviewer out from elsewhere by typing their address;
- every staff action is an `audit_log` row, which the database refuses to update or delete.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from gateway.models import STAFF_ROLES, AuditEvent, LoginFailure, StaffSession, StaffUser

MIN_PASSWORD = 12
IDLE = timedelta(hours=8)
LIFETIME = timedelta(days=7)
WINDOW = timedelta(minutes=15)
MAX_FAILURES = 5
MAX_FAILURES_PER_ADDRESS = 30
_HASHER = PasswordHasher()  # argon2id
# A hash to verify against when the e-mail is unknown, so both cases take the same time.
_DUMMY = _HASHER.hash("not a password of anyone")


class AccountError(ValueError):
    """A refused account operation; the message is safe to show."""


@dataclass(frozen=True)
class Staff:
    """Who is logged in, as views need it."""

    id: int
    email: str
    role: str
    province_code: str | None
    session_id: int

    @property
    def can_lock(self) -> bool:
        return self.role in ("admin", "reviewer") and not self.province_code

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 254 or email.startswith("@") or email.endswith("@"):
        raise AccountError("not an e-mail address")
    return email


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters")


def create_user(session: Session, email: str, password: str, *, role: str,
                province_code: str | None, now: datetime) -> StaffUser:
    email = normalise_email(email)
    if role not in STAFF_ROLES:
        raise AccountError(f"role is one of {', '.join(STAFF_ROLES)}")
    if role == "admin" and province_code:
        raise AccountError("an admin sees every province (and the whole audit log)")
    check_password(password)
    if session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is not None:
        raise AccountError(f"{email} already has an account")
    user = StaffUser(email=email, password_hash=_HASHER.hash(password), role=role,
                     province_code=province_code, created_at=now, password_changed_at=now)
    session.add(user)
    session.flush()
    return user


def _key(secret: str, kind: str, value: str) -> str:
    mac = hmac.new(secret.encode(), f"{kind}:{value}".encode(), hashlib.sha256)
    return f"{kind}:{mac.hexdigest()[:40]}"


def throttled(session: Session, secret: str, email: str, address: str, now: datetime) -> bool:
    """Whether a login for this e-mail or from this address must be refused for now."""
    since = now - WINDOW
    pair, addr = _key(secret, "pair", f"{email}|{address}"), _key(secret, "addr", address)
    counts = dict(session.execute(
        select(LoginFailure.key, func.count()).where(
            LoginFailure.key.in_([pair, addr]), LoginFailure.at > since)
        .group_by(LoginFailure.key)).all())
    return (counts.get(pair, 0) >= MAX_FAILURES
            or counts.get(addr, 0) >= MAX_FAILURES_PER_ADDRESS)


def record_failure(session: Session, secret: str, email: str, address: str,
                   now: datetime) -> None:
    session.add_all([LoginFailure(key=_key(secret, "pair", f"{email}|{address}"), at=now),
                     LoginFailure(key=_key(secret, "addr", address), at=now)])
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - 2 * WINDOW))


def authenticate(session: Session, secret: str, email: str, password: str, *, address: str,
                 now: datetime) -> StaffUser | None:
    """The account if the password is right (and it is enabled); records a failure otherwise."""
    try:
        email = normalise_email(email)
    except AccountError:
        email = email.strip().lower()[:254]
    user = session.scalar(select(StaffUser).where(StaffUser.email == email))
    try:
        _HASHER.verify(user.password_hash if user else _DUMMY, password)
        ok = user is not None and user.disabled_at is None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        record_failure(session, secret, email, address, now)
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    user.last_login_at = now
    return user


def open_session(session: Session, user: StaffUser, now: datetime) -> str:
    """A new session for `user`; the token for the cookie (never stored)."""
    token = secrets.token_urlsafe(32)
    session.add(StaffSession(token_hash=_digest(token), user_id=user.id, created_at=now,
                             last_seen_at=now, expires_at=now + LIFETIME))
    session.flush()
    return token


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def staff_for(session: Session, token: str, now: datetime) -> Staff | None:
    """Who holds this session token, if it is live; touches its idle clock."""
    row = session.execute(
        select(StaffSession, StaffUser).join(StaffUser, StaffUser.id == StaffSession.user_id)
        .where(StaffSession.token_hash == _digest(token))).first()
    if row is None:
        return None
    live, user = row
    if (live.revoked_at is not None or live.expires_at <= now or user.disabled_at is not None
            or live.last_seen_at + IDLE <= now):
        return None
    if now - live.last_seen_at > timedelta(minutes=1):  # not a write per page view
        live.last_seen_at = now
    return Staff(user.id, user.email, user.role, user.province_code, live.id)


def close_session(session: Session, session_id: int, now: datetime) -> None:
    session.execute(update(StaffSession).where(StaffSession.id == session_id,
                                               StaffSession.revoked_at.is_(None))
                    .values(revoked_at=now))


def change_password(session: Session, user_id: int, current: str, new: str,
                    now: datetime) -> None:
    """Change a password (the current one must be given); every session of the account ends."""
    user = session.get(StaffUser, user_id)
    if user is None:
        raise AccountError("no such account")
    try:
        _HASHER.verify(user.password_hash, current)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise AccountError("the current password is wrong") from None
    check_password(new)
    user.password_hash = _HASHER.hash(new)
    user.password_changed_at = now
    end_sessions(session, user_id, now)


def end_sessions(session: Session, user_id: int, now: datetime) -> int:
    result = session.execute(update(StaffSession).where(
        StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


def audit(session: Session, staff: Staff | None, action: str, subject: str, now: datetime,
          **detail: Any) -> None:
    """Append one staff action to the audit log (in the caller's transaction)."""
    session.add(AuditEvent(at=now, user_id=staff.id if staff else None,
                           actor=staff.email if staff else "-", action=action[:60],
                           subject=subject[:200], detail=detail))
