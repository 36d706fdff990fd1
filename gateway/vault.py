"""The phone vault: the only place a number is kept, encrypted, and only to text someone back.

Rules (DESIGN §5):
- the number (E.164) is encrypted with Fernet (AES-128-CBC + HMAC-SHA256, the `cryptography`
  library) under VAULT_KEY, which lives in the environment, never in the database; VAULT_KEY may
  list several keys, newest first: the newest encrypts, all decrypt, and `rotate` re-encrypts
  every row under the newest, so an old key can then be dropped;
- one row per respondent, written when a citizen texts in, and kept only as long as a message to
  them may still be due: `REPLY_KEEP` for the reply to their message (and its retries), and
  VAULT_RETENTION_DAYS after a feedback (staff may answer) or while they asked for the quarter's
  result; one day once they opted out (the STOP confirmation). `purge_expired` deletes what is
  past its date (the sweeper runs it), `forget` deletes one respondent's number on request;
- a number is decrypted only inside the job that sends to it, never returned to a page or a log.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from gateway.models import PhoneVault

REPLY_KEEP = timedelta(days=2)  # the reply to a message, with every retry, is long done by then


class VaultError(LookupError):
    """No number is kept for this respondent (never given, purged, or unreadable)."""


class Vault:
    def __init__(self, keys: tuple[str, ...], retention_days: int) -> None:
        if not keys:
            raise ValueError("the vault needs at least one key (VAULT_KEY)")
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        self.retention = timedelta(days=retention_days)

    def keep(self, session: Session, respondent_id: int, e164: str, now: datetime,
             until: datetime) -> None:
        """Store (or refresh) the respondent's number, kept at least until `until` (a purge date
        already later stays: a reply window never cuts short a feedback's retention)."""
        token = self._fernet.encrypt(e164.encode()).decode()
        row = session.scalar(select(PhoneVault).where(PhoneVault.respondent_id == respondent_id))
        if row is None:
            session.add(PhoneVault(respondent_id=respondent_id, ciphertext=token, created_at=now,
                                   updated_at=now, purge_after=until))
        else:
            row.ciphertext, row.updated_at = token, now
            row.purge_after = max(row.purge_after, until)
        session.flush()

    def extend(self, session: Session, respondent_id: int, until: datetime) -> None:
        """Keep the number at least until `until` (feedback to answer, a result to send)."""
        session.execute(update(PhoneVault).where(
            PhoneVault.respondent_id == respondent_id, PhoneVault.purge_after < until)
            .values(purge_after=until))

    def has(self, session: Session, respondent_id: int, now: datetime) -> bool:
        return session.scalar(select(PhoneVault.id).where(
            PhoneVault.respondent_id == respondent_id, PhoneVault.purge_after > now)) is not None

    def number(self, session: Session, respondent_id: int, now: datetime) -> str:
        token = session.scalar(select(PhoneVault.ciphertext).where(
            PhoneVault.respondent_id == respondent_id, PhoneVault.purge_after > now))
        if token is None:
            raise VaultError(f"no number kept for respondent {respondent_id}")
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise VaultError(f"respondent {respondent_id}: no key in VAULT_KEY opens it") from exc

    def keep_until(self, session: Session, respondent_id: int, until: datetime) -> None:
        """Bring the purge date forward (never back) to `until`: an opted-out number is kept only
        long enough to send the STOP confirmation."""
        session.execute(update(PhoneVault).where(
            PhoneVault.respondent_id == respondent_id, PhoneVault.purge_after > until)
            .values(purge_after=until))

    def forget(self, session: Session, respondent_id: int) -> bool:
        result = session.execute(delete(PhoneVault).where(
            PhoneVault.respondent_id == respondent_id))
        return bool(getattr(result, "rowcount", 0))

    def rotate(self, session: Session, now: datetime) -> tuple[int, int]:
        """Re-encrypt every number under the newest key; (rows rotated, rows no key opens).
        A row no key opens is left as it is (its number is lost to sending, not to rotation)."""
        rotated = unreadable = 0
        for row in session.scalars(select(PhoneVault)):
            try:
                row.ciphertext = self._fernet.rotate(row.ciphertext.encode()).decode()
            except InvalidToken:
                unreadable += 1
                continue
            row.updated_at = now
            rotated += 1
        session.flush()
        return rotated, unreadable


def purge_expired(session: Session, now: datetime) -> int:
    """Delete every number past its retention; return how many."""
    result = session.execute(delete(PhoneVault).where(PhoneVault.purge_after <= now))
    return int(getattr(result, "rowcount", 0) or 0)
