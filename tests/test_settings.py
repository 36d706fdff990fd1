"""Settings: read once from the environment, validated, failing fast with every name at once."""

from __future__ import annotations

import pytest

from gateway.settings import (
    DEFAULT_CONFIG_DIR,
    DEFAULT_SQLITE,
    DEV_DEFAULTS,
    Settings,
    SettingsError,
    announce_defaults,
)

SECRET = "s" * 40
TOKEN = "Tok_en-" + "t" * 30
HASH_KEY = "h" * 40
VAULT = "cHJvZHVjdGlvbi12YXVsdC1rZXktb2YtdGhlLXRlc3Q="  # a Fernet key (32 bytes, base64)

PRODUCTION = {
    "GATEWAY_ENV": "production",
    "DATABASE_URL": "postgres://gateway:db-Pa55@db.internal:5432/gateway",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "SECRET_KEY": SECRET,
    "WEBHOOK_TOKEN": TOKEN,
    "PHONE_HASH_KEY": HASH_KEY,
    "VAULT_KEY": VAULT,
}


def production(**changes: str) -> dict[str, str]:
    env = dict(PRODUCTION)
    env.update(changes)
    return {k: v for k, v in env.items() if v != "<unset>"}


def refused(environ: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ=environ)
    return str(caught.value)


# --- Production -------------------------------------------------------------------------------


def test_complete_production_settings_are_accepted():
    settings = Settings.from_env(environ=PRODUCTION)
    assert settings.is_production
    assert not settings.is_sqlite
    assert settings.database_url == "postgresql+psycopg://gateway:db-Pa55@db.internal:5432/gateway"
    assert settings.redis_url == "redis://redis.internal:6379/0"
    assert (settings.secret_key, settings.webhook_token, settings.phone_hash_key) == (
        SECRET, TOKEN, HASH_KEY,
    )
    assert settings.defaults_used == ()
    assert settings.vault_keys == (VAULT,)
    assert settings.min_respondents == 10
    assert settings.ussd_screen_limit == 160


def test_production_with_nothing_set_names_everything_missing_at_once():
    message = refused({"GATEWAY_ENV": "production"})
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "WEBHOOK_TOKEN", "PHONE_HASH_KEY",
                 "VAULT_KEY"):
        assert name in message
    assert "production" in message


@pytest.mark.parametrize(
    "name",
    ["DATABASE_URL", "REDIS_URL", "SECRET_KEY", "WEBHOOK_TOKEN", "PHONE_HASH_KEY", "VAULT_KEY"],
)
def test_production_names_each_missing_setting(name):
    message = refused(production(**{name: "<unset>"}))
    assert f"missing: {name}" in message
    others = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "WEBHOOK_TOKEN", "PHONE_HASH_KEY",
              "VAULT_KEY"} - {name}
    assert not any(other in message for other in others)


def test_blank_values_count_as_missing_in_production():
    message = refused(production(SECRET_KEY="   ", REDIS_URL=""))
    assert "SECRET_KEY" in message
    assert "REDIS_URL" in message


@pytest.mark.parametrize("name", ["SECRET_KEY", "WEBHOOK_TOKEN", "PHONE_HASH_KEY"])
def test_production_refuses_the_development_defaults(name):
    message = refused(production(**{name: DEV_DEFAULTS[name]}))
    assert name in message
    assert DEV_DEFAULTS[name] not in message


def test_production_refuses_every_development_default_at_once():
    message = refused(production(**DEV_DEFAULTS))
    for name in DEV_DEFAULTS:
        assert name in message


@pytest.mark.parametrize(
    ("name", "short"),
    [("SECRET_KEY", "x" * 31), ("WEBHOOK_TOKEN", "t" * 23), ("PHONE_HASH_KEY", "k" * 31)],
)
def test_production_refuses_short_secrets_without_echoing_them(name, short):
    message = refused(production(**{name: short}))
    assert name in message
    assert short not in message
    # One more character and it is accepted.
    Settings.from_env(environ=production(**{name: short + short[0]}))


def test_development_accepts_short_secrets():
    settings = Settings.from_env(environ={"SECRET_KEY": "short", "WEBHOOK_TOKEN": "tok"})
    assert settings.secret_key == "short"
    assert settings.webhook_token == "tok"


def test_unknown_environment_is_refused_not_treated_as_development():
    message = refused({"GATEWAY_ENV": "prod"})
    assert "GATEWAY_ENV" in message


# --- DATABASE_URL and REDIS_URL ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql+psycopg://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgres://u:p@h:5433/db?sslmode=require",
         "postgresql+psycopg://u:p@h:5433/db?sslmode=require"),
        ("  postgres://u:p@h/db\n", "postgresql+psycopg://u:p@h/db"),
        ("sqlite:////var/lib/gateway/gateway.db", "sqlite:////var/lib/gateway/gateway.db"),
    ],
)
def test_database_url_is_normalised(given, normalised):
    assert Settings.from_env(environ={"DATABASE_URL": given}).database_url == normalised
    assert Settings.from_env(environ=production(DATABASE_URL=given)).database_url == normalised


@pytest.mark.parametrize("url", ["mysql://u:p@h/db", "postgresql+psycopg2://u:p@h/db", "h/db"])
def test_unsupported_database_url_is_named(url):
    message = refused({"DATABASE_URL": url})
    assert "DATABASE_URL" in message
    assert "invalid" in message


def test_redis_url_must_be_a_redis_url():
    message = refused({"REDIS_URL": "http://redis.internal:6379"})
    assert "REDIS_URL" in message
    assert Settings.from_env(environ={"REDIS_URL": "rediss://r:6380/1"}).redis_url == (
        "rediss://r:6380/1"
    )


# --- Development ------------------------------------------------------------------------------


def test_development_with_nothing_set_uses_and_lists_the_defaults():
    settings = Settings.from_env(environ={})
    assert settings.env == "development"
    assert not settings.is_production
    assert settings.is_sqlite
    assert settings.database_url == f"sqlite:///{DEFAULT_SQLITE}"
    assert settings.redis_url is None
    assert settings.secret_key == DEV_DEFAULTS["SECRET_KEY"]
    assert settings.webhook_token == DEV_DEFAULTS["WEBHOOK_TOKEN"]
    assert settings.phone_hash_key == DEV_DEFAULTS["PHONE_HASH_KEY"]
    assert settings.config_dir == DEFAULT_CONFIG_DIR
    assert set(settings.defaults_used) == {
        "DATABASE_URL", "SECRET_KEY", "WEBHOOK_TOKEN", "PHONE_HASH_KEY", "VAULT_KEY",
    }


def test_development_lists_only_the_defaults_actually_used():
    settings = Settings.from_env(environ={"SECRET_KEY": SECRET, "DATABASE_URL": "sqlite:///x.db"})
    assert set(settings.defaults_used) == {"WEBHOOK_TOKEN", "PHONE_HASH_KEY", "VAULT_KEY"}


def test_announce_defaults_prints_them_to_stderr(capsys):
    announce_defaults(Settings.from_env(environ={"GATEWAY_ENV": "test"}))
    captured = capsys.readouterr()
    assert captured.out == ""
    for name in ("DATABASE_URL", "SECRET_KEY", "WEBHOOK_TOKEN", "PHONE_HASH_KEY"):
        assert name in captured.err
    for value in DEV_DEFAULTS.values():
        assert value not in captured.err


def test_announce_defaults_is_silent_when_none_is_used(capsys):
    announce_defaults(Settings.from_env(environ=PRODUCTION))
    assert capsys.readouterr() == ("", "")


def test_environ_argument_is_the_only_source():
    """Tests pass `environ`: whatever the shell exports must not leak in."""
    settings = Settings.from_env(environ={"MIN_RESPONDENTS": "25"})
    assert settings.min_respondents == 25
    assert "SECRET_KEY" in settings.defaults_used


def test_overrides_win_over_the_environment():
    settings = Settings.from_env(environ={"MIN_RESPONDENTS": "25"}, min_respondents=40)
    assert settings.min_respondents == 40


# --- Numbers and the webhook token -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MIN_RESPONDENTS", "ten"),
        ("MIN_RESPONDENTS", "0"),
        ("MIN_RESPONDENTS", "2.5"),
        ("USSD_SCREEN_LIMIT", "500"),
        ("PHONE_HASH_KEY_VERSION", "v2"),
        ("ENQUEUE_TIMEOUT", "soon"),
    ],
)
def test_bad_numbers_are_named(name, value):
    message = refused({name: value})
    assert name in message


def test_several_problems_are_named_together():
    message = refused({"MIN_RESPONDENTS": "ten", "DATABASE_URL": "mysql://h/db"})
    assert "MIN_RESPONDENTS" in message
    assert "DATABASE_URL" in message


@pytest.mark.parametrize("token", ["abc/def", "x" * 30 + "/" + "y", "with space", "q?x=1"])
def test_webhook_token_must_be_safe_in_a_url_path(token):
    assert "WEBHOOK_TOKEN" in refused({"WEBHOOK_TOKEN": token})
    assert "WEBHOOK_TOKEN" in refused(production(WEBHOOK_TOKEN=token + "z" * 24))


# --- redacted() -------------------------------------------------------------------------------


def test_redacted_hides_secrets_and_url_passwords():
    settings = Settings.from_env(
        environ=production(
            REDIS_URL="redis://default:redis-Pa55@redis.internal:6379/0", AT_API_KEY="atsk_live",
            AT_USERNAME="gateway",
        )
    )
    shown = settings.redacted()
    text = repr(shown)
    for secret in (SECRET, TOKEN, HASH_KEY, VAULT, "db-Pa55", "redis-Pa55", "atsk_live"):
        assert secret not in text
    assert shown["vault_keys"] == "***"
    assert shown["secret_key"] == "***"
    assert shown["webhook_token"] == "***"
    assert shown["phone_hash_key"] == "***"
    assert shown["at_api_key"] == "***"
    assert shown["database_url"] == "postgresql+psycopg://gateway:***@db.internal:5432/gateway"
    assert shown["redis_url"] == "redis://default:***@redis.internal:6379/0"
    assert shown["min_respondents"] == 10
    assert shown["env"] == "production"


def test_redacted_hides_a_redis_password_without_a_user_name():
    """The usual Redis URL form (no ACL user): `redis://:password@host:port`."""
    settings = Settings.from_env(environ=production(REDIS_URL="rediss://:redis-Pa55@r.internal:6380"))
    shown = settings.redacted()
    assert "redis-Pa55" not in repr(shown)
    assert shown["redis_url"] == "rediss://:***@r.internal:6380"
