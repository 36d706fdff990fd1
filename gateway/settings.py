"""Settings, read once from the environment, validated, failing fast.

Rules:
- `GATEWAY_ENV` is `development` (default), `test` or `production`.
- In production every secret and service must be given: a missing or weak one stops start-up with
  the names of all that is wrong. In development, defaults are used and *printed* (to stderr), never
  silently; production never falls back to them.
- `DATABASE_URL` accepts what hosting providers give (`postgres://`, `postgresql://`) and `sqlite:///`;
  it is normalised to a SQLAlchemy URL with the psycopg 3 driver.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_DIR = PROJECT_ROOT / "config"
DEFAULT_SQLITE = PROJECT_ROOT / "instance" / "gateway.db"

# Development defaults: stable so a developer's data survives restarts; printed when used.
DEV_DEFAULTS = {
    "SECRET_KEY": "dev-secret-key-not-for-production-0000000000",
    "WEBHOOK_TOKEN": "dev-webhook-token",
    "PHONE_HASH_KEY": "dev-phone-hash-key-not-for-production-000000",
}
ENVIRONMENTS = ("development", "test", "production")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]+$")


class SettingsError(RuntimeError):
    """Raised at start-up with every missing or invalid setting named."""


@dataclass(frozen=True)
class Settings:
    env: str
    database_url: str
    redis_url: str | None
    secret_key: str
    webhook_token: str
    phone_hash_key: str
    phone_hash_key_version: int = 1
    min_respondents: int = 10
    ussd_screen_limit: int = 160
    config_dir: Path = DEFAULT_CONFIG_DIR
    enqueue_timeout: float = 0.25  # seconds; a hung Redis must not hold a USSD hop
    sweep_interval: float = 30.0  # seconds between sweeps of dirty cells
    at_username: str | None = None
    at_api_key: str | None = None
    at_sender: str | None = None
    at_api_url: str | None = None
    defaults_used: tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def redacted(self) -> dict[str, object]:
        """Settings safe to print: secrets and URL passwords masked."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("secret_key", "webhook_token", "phone_hash_key", "at_api_key") and value:
                value = "***"
            elif f.name in ("database_url", "redis_url") and value:
                value = re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", str(value))
            out[f.name] = value
        return out

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read, validate and return settings; raise SettingsError naming every problem."""
        env = dict(os.environ if environ is None else environ)
        for key, value in overrides.items():
            env[key.upper()] = str(value)
        return _build(env)


def _build(env: dict[str, str]) -> Settings:
    missing: list[str] = []
    invalid: list[str] = []
    used: list[str] = []
    mode = env.get("GATEWAY_ENV", "development").strip() or "development"
    if mode not in ENVIRONMENTS:
        invalid.append(f"GATEWAY_ENV (one of {', '.join(ENVIRONMENTS)})")
    production = mode == "production"

    def secret(name: str, min_len: int) -> str:
        value = env.get(name, "").strip()
        if not value:
            if production:
                missing.append(name)
                return ""
            used.append(name)
            return DEV_DEFAULTS[name]
        if production and len(value) < min_len:
            invalid.append(f"{name} (at least {min_len} characters in production)")
        if production and value == DEV_DEFAULTS[name]:
            invalid.append(f"{name} (the development default may not be used in production)")
        return value

    raw_db = env.get("DATABASE_URL", "").strip()
    if not raw_db:
        if production:
            missing.append("DATABASE_URL")
        else:
            used.append("DATABASE_URL")
        raw_db = f"sqlite:///{DEFAULT_SQLITE}"
    database_url = normalise_database_url(raw_db)
    if database_url is None:
        invalid.append("DATABASE_URL (postgres://, postgresql:// or sqlite:///)")
        database_url = ""

    redis_url = env.get("REDIS_URL", "").strip() or None
    if redis_url is None and production:
        missing.append("REDIS_URL")
    if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        invalid.append("REDIS_URL (redis://, rediss:// or unix://)")

    secret_key = secret("SECRET_KEY", 32)
    webhook_token = secret("WEBHOOK_TOKEN", 24)
    if webhook_token and not _TOKEN_RE.match(webhook_token):
        invalid.append("WEBHOOK_TOKEN (letters, digits, '-' and '_' only: it is part of a URL)")
    phone_hash_key = secret("PHONE_HASH_KEY", 32)

    def integer(name: str, default: int, low: int, high: int) -> int:
        raw = env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            invalid.append(f"{name} (a whole number)")
            return default
        if not low <= value <= high:
            invalid.append(f"{name} (between {low} and {high})")
        return value

    def number(name: str, default: float, low: float, high: float) -> float:
        raw = env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            invalid.append(f"{name} (a number)")
            return default
        if not low <= value <= high:
            invalid.append(f"{name} (between {low} and {high})")
        return value

    settings = Settings(
        env=mode,
        database_url=database_url,
        redis_url=redis_url,
        secret_key=secret_key,
        webhook_token=webhook_token,
        phone_hash_key=phone_hash_key,
        phone_hash_key_version=integer("PHONE_HASH_KEY_VERSION", 1, 1, 1000),
        min_respondents=integer("MIN_RESPONDENTS", 10, 1, 10_000),
        ussd_screen_limit=integer("USSD_SCREEN_LIMIT", 160, 60, 182),
        config_dir=Path(env.get("CONFIG_DIR", "").strip() or DEFAULT_CONFIG_DIR),
        enqueue_timeout=number("ENQUEUE_TIMEOUT", 0.25, 0.01, 5.0),
        sweep_interval=number("SWEEP_INTERVAL", 30.0, 0.1, 3600.0),
        at_username=env.get("AT_USERNAME") or None,
        at_api_key=env.get("AT_API_KEY") or None,
        at_sender=env.get("AT_SENDER") or None,
        at_api_url=env.get("AT_API_URL") or None,
        defaults_used=tuple(used),
    )
    if missing or invalid:
        parts = []
        if missing:
            parts.append("missing: " + ", ".join(missing))
        if invalid:
            parts.append("invalid: " + "; ".join(invalid))
        raise SettingsError(f"Settings ({mode}) " + " | ".join(parts))
    return settings


def normalise_database_url(url: str) -> str | None:
    """Map provider URL forms onto SQLAlchemy's; None when the scheme is not supported."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    if url.startswith("sqlite:///"):
        return url
    return None


def announce_defaults(settings: Settings) -> None:
    """Print, once, which development defaults are in use (never reached in production)."""
    if settings.defaults_used:
        print(
            f"[gateway] {settings.env}: using development defaults for "
            f"{', '.join(settings.defaults_used)} (set them in the environment for production)",
            file=sys.stderr,
        )
