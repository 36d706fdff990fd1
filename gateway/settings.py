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
from collections.abc import Callable, Mapping
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
    # A Fernet key (32 bytes, URL-safe base64) for the phone vault: base64 of
    # "dev-vault-key-not-for-production".
    "VAULT_KEY": "ZGV2LXZhdWx0LWtleS1ub3QtZm9yLXByb2R1Y3Rpb24=",
}
ENVIRONMENTS = ("development", "test", "production")
LOG_FORMATS = ("json", "text")
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
    # During a key rotation: callers still known under the old key's digest are found under it
    # and re-keyed on their next message or hop (gateway.answers.adopt_previous_digest).
    phone_hash_key_previous: str | None = None
    min_respondents: int = 10
    ussd_screen_limit: int = 160
    config_dir: Path = DEFAULT_CONFIG_DIR
    enqueue_timeout: float = 0.25  # seconds; a hung Redis must not hold a USSD hop
    sweep_interval: float = 30.0  # seconds between sweeps of dirty cells
    worker_ttl: int = 420  # RQ's worker TTL: a hung Redis holds an idle worker ~this long
    resume_window: float = 900.0  # seconds within which a dropped USSD session can be continued
    max_sessions_per_day: int = 20  # per caller and local day; more get a polite END
    at_username: str | None = None
    at_api_key: str | None = None
    at_sender: str | None = None
    at_api_url: str | None = None
    # The phone vault (DESIGN §5): Fernet keys, newest first (older ones still decrypt), and how
    # long a number is kept after the citizen's last message.
    vault_keys: tuple[str, ...] = ()
    vault_retention_days: int = 180
    raw_retention_days: int = 90  # USSD end-of-session notifications and SMS texts, then purged
    sms_rate_per_second: float = 5.0  # outbound SMS, across every worker
    sms_max_per_day: int = 20  # inbound messages per sender and local day that get a reply
    rbf_webhook_urls: tuple[str, ...] = ()
    rbf_webhook_secret: str = ""
    log_format: str = "json"  # JSON lines; "text" for local debugging
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
            if f.name in ("secret_key", "webhook_token", "phone_hash_key",
                          "phone_hash_key_previous", "at_api_key",
                          "rbf_webhook_secret", "vault_keys") and value:
                value = "***"
            elif f.name in ("database_url", "redis_url") and value:
                value = re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", str(value))
            out[f.name] = value
        return out

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read, validate and return settings; raise SettingsError naming every problem."""
        env = dict(os.environ if environ is None else environ)
        for key, value in overrides.items():
            env[key.upper()] = str(value)
        return _build(env)


class _Reader:
    """Reads one environment, collecting every missing or invalid name instead of stopping early."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.missing: list[str] = []
        self.invalid: list[str] = []
        self.used: list[str] = []
        self.mode = env.get("GATEWAY_ENV", "development").strip() or "development"
        if self.mode not in ENVIRONMENTS:
            self.invalid.append(f"GATEWAY_ENV (one of {', '.join(ENVIRONMENTS)})")
        self.production = self.mode == "production"

    def text(self, name: str) -> str | None:
        return self.env.get(name, "").strip() or None

    def secret(self, name: str, min_len: int) -> str:
        value = self.text(name)
        if value is None:
            if self.production:
                self.missing.append(name)
                return ""
            self.used.append(name)
            return DEV_DEFAULTS[name]
        if self.production and len(value) < min_len:
            self.invalid.append(f"{name} (at least {min_len} characters in production)")
        if self.production and value == DEV_DEFAULTS[name]:
            self.invalid.append(f"{name} (the development default may not be used in production)")
        return value

    def previous_key(self, name: str, current: str) -> str | None:
        """An optional retired key: as long as a secret, and not the current one."""
        value = self.text(name)
        if value is None:
            return None
        if self.production and len(value) < 32:
            self.invalid.append(f"{name} (at least 32 characters in production)")
        if value == self.text(current):
            self.invalid.append(f"{name} (the retired key, not the current {current})")
        return value

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = (self.text(name) or default).lower()
        if value not in allowed:
            self.invalid.append(f"{name} (one of {', '.join(allowed)})")
            return default
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        return int(self._bounded(name, default, (low, high), int, "a whole number"))

    def number(self, name: str, default: float, low: float, high: float) -> float:
        return float(self._bounded(name, default, (low, high), float, "a number"))

    def _bounded(self, name: str, default: float, bounds: tuple[float, float],
                 parse: Callable[[str], float], what: str) -> float:
        low, high = bounds
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = parse(raw)
        except ValueError:
            self.invalid.append(f"{name} ({what})")
            return default
        if not low <= value <= high:
            self.invalid.append(f"{name} (between {low} and {high})")
        return value

    def database_url(self) -> str:
        raw = self.text("DATABASE_URL")
        if raw is None:
            if self.production:
                self.missing.append("DATABASE_URL")
            else:
                self.used.append("DATABASE_URL")
            raw = f"sqlite:///{DEFAULT_SQLITE}"
        url = normalise_database_url(raw)
        if url is None:
            self.invalid.append("DATABASE_URL (postgres://, postgresql:// or sqlite:///)")
            return ""
        return url

    def redis_url(self) -> str | None:
        url = self.text("REDIS_URL")
        if url is None and self.production:
            self.missing.append("REDIS_URL")
        if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
            self.invalid.append("REDIS_URL (redis://, rediss:// or unix://)")
        return url

    def webhook_token(self) -> str:
        token = self.secret("WEBHOOK_TOKEN", 24)
        if token and not _TOKEN_RE.match(token):
            self.invalid.append("WEBHOOK_TOKEN (letters, digits, '-' and '_' only: it is in a URL)")
        return token

    def webhook_urls(self) -> tuple[str, ...]:
        urls = tuple(u.strip() for u in (self.text("RBF_WEBHOOK_URLS") or "").split(",")
                     if u.strip())
        for url in urls:
            if not url.startswith(("https://", "http://")):
                self.invalid.append("RBF_WEBHOOK_URLS (comma-separated http(s) URLs)")
            elif self.production and not url.startswith("https://"):
                self.invalid.append("RBF_WEBHOOK_URLS (https only in production)")
        secret = self.text("RBF_WEBHOOK_SECRET") or ""
        if urls and len(secret) < (32 if self.production else 16):
            self.invalid.append("RBF_WEBHOOK_SECRET (needed with RBF_WEBHOOK_URLS; at least "
                                f"{32 if self.production else 16} characters)")
        return urls

    def vault_keys(self) -> tuple[str, ...]:
        from cryptography.fernet import Fernet

        raw = self.secret("VAULT_KEY", 44)
        keys = tuple(k.strip() for k in raw.split(",") if k.strip())
        for key in keys:
            try:
                Fernet(key)
            except ValueError:
                self.invalid.append("VAULT_KEY (comma-separated Fernet keys: 32 bytes in "
                                    "URL-safe base64; make one with `flask --app gateway vault "
                                    "new-key`)")
                return ()
        return keys

    def africas_talking(self) -> tuple[str | None, str | None, str | None, str | None]:
        username, api_key = self.text("AT_USERNAME"), self.text("AT_API_KEY")
        sender, url = self.text("AT_SENDER"), self.text("AT_API_URL")
        if (username is None) != (api_key is None):
            self.invalid.append("AT_USERNAME and AT_API_KEY (give both, or neither)")
        if url is not None and not url.startswith(("https://", "http://")):
            self.invalid.append("AT_API_URL (an http(s) base URL, without /version1)")
        return username, api_key, sender, url

    def raise_if_wrong(self) -> None:
        parts = []
        if self.missing:
            parts.append("missing: " + ", ".join(self.missing))
        if self.invalid:
            parts.append("invalid: " + "; ".join(self.invalid))
        if parts:
            raise SettingsError(f"Settings ({self.mode}) " + " | ".join(parts))


def _build(env: dict[str, str]) -> Settings:
    r = _Reader(env)
    at = r.africas_talking()
    settings = Settings(
        env=r.mode,
        database_url=r.database_url(),
        redis_url=r.redis_url(),
        secret_key=r.secret("SECRET_KEY", 32),
        webhook_token=r.webhook_token(),
        phone_hash_key=r.secret("PHONE_HASH_KEY", 32),
        phone_hash_key_version=r.integer("PHONE_HASH_KEY_VERSION", 1, 1, 1000),
        phone_hash_key_previous=r.previous_key("PHONE_HASH_KEY_PREVIOUS", "PHONE_HASH_KEY"),
        min_respondents=r.integer("MIN_RESPONDENTS", 10, 1, 10_000),
        ussd_screen_limit=r.integer("USSD_SCREEN_LIMIT", 160, 60, 182),
        config_dir=Path(r.text("CONFIG_DIR") or DEFAULT_CONFIG_DIR),
        enqueue_timeout=r.number("ENQUEUE_TIMEOUT", 0.25, 0.01, 5.0),
        sweep_interval=r.number("SWEEP_INTERVAL", 30.0, 0.1, 3600.0),
        worker_ttl=r.integer("WORKER_TTL", 420, 16, 3600),
        resume_window=r.number("RESUME_WINDOW", 900.0, 0.0, 7 * 86400.0),
        max_sessions_per_day=r.integer("MAX_SESSIONS_PER_DAY", 20, 1, 10_000),
        at_username=at[0],
        at_api_key=at[1],
        at_sender=at[2],
        at_api_url=at[3],
        vault_keys=r.vault_keys(),
        vault_retention_days=r.integer("VAULT_RETENTION_DAYS", 180, 1, 3650),
        raw_retention_days=r.integer("RAW_RETENTION_DAYS", 90, 1, 3650),
        sms_rate_per_second=r.number("SMS_RATE_PER_SECOND", 5.0, 0.1, 1000.0),
        sms_max_per_day=r.integer("SMS_MAX_PER_DAY", 20, 1, 10_000),
        rbf_webhook_urls=r.webhook_urls(),
        rbf_webhook_secret=r.text("RBF_WEBHOOK_SECRET") or "",
        log_format=r.choice("LOG_FORMAT", "json", LOG_FORMATS),
        defaults_used=tuple(r.used),
    )
    r.raise_if_wrong()
    return settings


def normalise_database_url(url: str) -> str | None:
    """Map provider URL forms onto SQLAlchemy's; None when the scheme is not supported."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
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
