"""Settings from the environment: defaults, conversions, overrides and one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.settings import SOURCES, Settings, SettingsError, load_settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Clear every variable Settings reads and run where no developer's `.env` lies."""
    monkeypatch.chdir(tmp_path)
    fields = set(Settings.model_fields)
    for name in list(os.environ):
        if name.lower() in fields:
            monkeypatch.delenv(name)
    return monkeypatch


def error_of() -> str:
    """Return the one-line `SettingsError` message `load_settings` gives now."""
    with pytest.raises(SettingsError) as caught:
        load_settings()
    return str(caught.value)


def test_defaults_follow_the_design(env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.telegram.token is None
    assert settings.discord.token is None
    assert str(settings.telegram.api_url).rstrip("/") == "https://api.telegram.org"
    assert str(settings.discord.api_url).rstrip("/") == "https://discord.com/api/v10"
    assert settings.database_url == "sqlite:///data/radar.db"
    assert settings.async_database_url == "sqlite+aiosqlite:///data/radar.db"
    assert settings.coingecko_api_key is None
    assert settings.exchange == "binance"
    assert settings.exchange_api_url is None
    assert settings.exchange_fallbacks == ("kraken", "coinbase")
    assert settings.ingest_token is None
    assert settings.ingest_metrics == ()
    assert settings.admin_ids == ()
    assert settings.port == 8080
    assert settings.log_level == "INFO"
    assert settings.poll_seconds == 60
    assert settings.rule_send_resolved is True
    # CoinPaprika, the fallback, has a small free quota; the daily and hourly feeds are slower.
    assert {s: settings.poll_interval(s) for s in SOURCES} == {
        **dict.fromkeys(SOURCES, 60),
        "coinpaprika": 300,
        "futures": 300,
        "fred": 3600,
        "farside": 900,
    }


def test_exchange_fallbacks_and_ingest_metrics_are_lists(env: pytest.MonkeyPatch) -> None:
    env.setenv("EXCHANGE_FALLBACKS", " Kraken , bitstamp ")
    env.setenv("INGEST_METRICS", "others_d,TOTAL3_tv,others_d")
    settings = load_settings()
    assert settings.exchange_fallbacks == ("kraken", "bitstamp")
    assert settings.ingest_metrics == ("others_d", "total3_tv")
    env.setenv("EXCHANGE_FALLBACKS", "none")
    assert load_settings().exchange_fallbacks == ()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgres://u:pw@db.example:5432/radar",
            "postgresql+asyncpg://u:pw@db.example:5432/radar",
        ),
        ("postgresql://u:pw@db.example/radar", "postgresql+asyncpg://u:pw@db.example/radar"),
        ("postgresql+asyncpg://u@h/radar", "postgresql+asyncpg://u@h/radar"),
        ("sqlite:///data/radar.db", "sqlite+aiosqlite:///data/radar.db"),
        ("sqlite:////var/lib/radar/radar.db", "sqlite+aiosqlite:////var/lib/radar/radar.db"),
        ("sqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_url_becomes_an_async_url(
    env: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    env.setenv("DATABASE_URL", url)
    settings = load_settings()
    assert settings.database_url == url
    assert settings.async_database_url == expected


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "postgresql+psycopg2://u@h/db"])
def test_database_urls_the_store_cannot_open_are_refused(env: pytest.MonkeyPatch, url: str) -> None:
    env.setenv("DATABASE_URL", url)
    with pytest.raises(SettingsError, match=r"^invalid DATABASE_URL: "):
        load_settings()


@pytest.mark.parametrize("source", SOURCES)
def test_source_poll_seconds_overrides_one_source(env: pytest.MonkeyPatch, source: str) -> None:
    env.setenv("POLL_SECONDS", "90")
    before = load_settings()
    assert before.poll_interval("coingecko") == 90
    env.setenv(f"{source.upper()}_POLL_SECONDS", "15")
    settings = load_settings()
    assert settings.poll_interval(source) == 15
    for other in SOURCES:
        if other != source:
            assert settings.poll_interval(other) == before.poll_interval(other)


def test_unknown_source_gets_the_default_interval(env: pytest.MonkeyPatch) -> None:
    env.setenv("POLL_SECONDS", "45")
    assert load_settings().poll_interval("nosuchsource") == 45


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ()),
        (" , ", ()),
        ("telegram:123", ("telegram:123",)),
        (
            " telegram:123 ,discord:456789012345678901,, ",
            ("telegram:123", "discord:456789012345678901"),
        ),
    ],
)
def test_admin_ids_are_parsed(
    env: pytest.MonkeyPatch, value: str, expected: tuple[str, ...]
) -> None:
    env.setenv("ADMIN_IDS", value)
    assert load_settings().admin_ids == expected


@pytest.mark.parametrize(
    "bad",
    ["telegram:abc", "slack:1", "123", "telegram:", "telegram:-5", "telegram:1;discord:2", "tg:1"],
)
def test_admin_ids_reject_a_bad_entry_by_name(env: pytest.MonkeyPatch, bad: str) -> None:
    env.setenv("ADMIN_IDS", f"telegram:1,{bad}")
    message = error_of()
    assert message.startswith("invalid ADMIN_IDS: ")
    assert repr(bad) in message
    assert "telegram:<user id> or discord:<user id>" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("PORT", "70000"),
        ("PORT", "-1"),
        ("POLL_SECONDS", "0"),
        ("POLL_SECONDS", "-5"),
        ("POLL_SECONDS", "soon"),
        ("COINGECKO_POLL_SECONDS", "0"),
        ("FRED_POLL_SECONDS", "x"),
        ("LOG_LEVEL", "LOUD"),
        ("DATABASE_URL", "mysql://u:pw@h/db"),
        ("DATABASE_URL", "radar.db"),
        ("EXCHANGE", "Bin ance"),
        ("EXCHANGE", "binance.us"),
        ("TELEGRAM_API_URL", "not a url"),
        ("DISCORD_API_URL", "ftp://discord.example"),
        ("COINGECKO_API_URL", "://"),
        ("EXCHANGE_API_URL", "localhost"),
        ("EXCHANGE_FALLBACKS", "kraken,coin base"),
        ("FUTURES_API_URL", "futures"),
        ("FARSIDE_API_URL", "farside.co.uk"),
        ("INGEST_METRICS", "OTHERS.D"),
        ("INGEST_METRICS", "asi"),
        ("INGEST_PER_MINUTE", "0"),
        ("INGEST_TOKEN", "short"),
        ("DISCORD_GUILD_ID", "general"),
        ("SAMPLE_RETENTION_DAYS", "0"),
        ("STALE_ALERT_MINUTES", "0"),
        ("RULE_FOR_SECONDS", "-1"),
        ("RULE_REPEAT_HOURS", "0"),
        ("RULE_SEND_RESOLVED", "maybe"),
        ("MAX_CUSTOM_RULES_PER_CHAT", "-1"),
        ("DISPATCH_WORKERS", "0"),
        ("DISPATCH_WORKERS", "1000"),
        ("DISPATCH_MAX_ATTEMPTS", "0"),
    ],
)
def test_each_invalid_value_gives_one_line_naming_the_variable(
    env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    env.setenv(name, value)
    message = error_of()
    assert message.startswith(f"invalid {name}: ")
    assert len(message) > len(f"invalid {name}: ")
    assert "\n" not in message


def test_an_empty_variable_counts_as_unset(env: pytest.MonkeyPatch) -> None:
    for name in ("TELEGRAM_TOKEN", "PORT", "POLL_SECONDS", "EXCHANGE_API_URL", "ADMIN_IDS"):
        env.setenv(name, "")
    settings = load_settings()
    assert settings.telegram.token is None
    assert (settings.port, settings.poll_seconds) == (8080, 60)
    assert settings.exchange_api_url is None
    assert settings.exchange_fallbacks == ("kraken", "coinbase")
    assert settings.ingest_token is None
    assert settings.ingest_metrics == ()
    assert settings.admin_ids == ()


def test_lower_case_variable_names_count_too(env: pytest.MonkeyPatch) -> None:
    env.setenv("port", "9001")
    assert load_settings().port == 9001


def test_log_level_is_case_insensitive(env: pytest.MonkeyPatch) -> None:
    env.setenv("LOG_LEVEL", "debug")
    assert load_settings().log_level == "DEBUG"


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("0", False), ("yes", True)])
def test_booleans(env: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    env.setenv("RULE_SEND_RESOLVED", value)
    assert load_settings().rule_send_resolved is expected


def test_dot_env_is_honoured_and_the_environment_wins(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("PORT=9999\nEXCHANGE=kraken\n", encoding="utf-8")
    env.setenv("EXCHANGE", "coinbase")
    settings = load_settings()
    assert (settings.port, settings.exchange) == (9999, "coinbase")


def test_keyword_overrides(env: pytest.MonkeyPatch) -> None:
    env.setenv("PORT", "9000")
    assert load_settings(port=0).port == 0
    with pytest.raises(SettingsError, match=r"^invalid PORT: "):
        load_settings(port=65536)


def test_secrets_are_secret_strings_kept_out_of_repr(env: pytest.MonkeyPatch) -> None:
    env.setenv("TELEGRAM_TOKEN", "123456:telegram-secret")
    env.setenv("DISCORD_TOKEN", "discord-secret")
    env.setenv("COINGECKO_API_KEY", "coingecko-secret")
    settings = load_settings()
    secrets = {
        settings.telegram.token: "123456:telegram-secret",
        settings.discord.token: "discord-secret",
        settings.coingecko_api_key: "coingecko-secret",
    }
    for field, value in secrets.items():
        assert isinstance(field, SecretStr)
        assert field.get_secret_value() == value
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    for value in secrets.values():
        assert value not in shown


def test_an_invalid_database_url_is_not_echoed(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATABASE_URL", "mysql://radar:hunter2@db.example/radar")
    assert "hunter2" not in error_of()


def test_the_database_password_is_kept_out_of_repr(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATABASE_URL", "postgres://radar:hunter2@db.example:5432/radar")
    settings = load_settings()
    assert "hunter2" in settings.async_database_url
    assert "hunter2" not in repr(settings)


def test_front_end_settings_nest_under_their_platform_with_todays_names(
    env: pytest.MonkeyPatch,
) -> None:
    env.setenv("TELEGRAM_API_URL", "http://127.0.0.1:8081/bot")
    env.setenv("TELEGRAM_RATE_PER_GROUP_MINUTE", "10")
    env.setenv("DISCORD_GATEWAY_URL", "ws://127.0.0.1:9000")
    env.setenv("DISCORD_GUILD_ID", "1234")
    settings = load_settings(telegram_token="123456:abc")
    assert settings.telegram.api_url == "http://127.0.0.1:8081/bot"
    assert settings.telegram.rate_per_group_minute == 10
    assert settings.telegram.rate_global == 30
    assert settings.telegram.token is not None
    assert settings.telegram.token.get_secret_value() == "123456:abc"
    assert (settings.discord.gateway_url, settings.discord.guild_id) == (
        "ws://127.0.0.1:9000",
        1234,
    )


def test_an_unrelated_platform_variable_is_ignored(env: pytest.MonkeyPatch) -> None:
    # Hosting platforms set variables of their own; a stray DISCORD_* must not stop the bot.
    env.setenv("DISCORD_CLIENT_ID", "42")
    assert load_settings().discord.token is None


def test_a_bad_nested_value_names_its_variable(env: pytest.MonkeyPatch) -> None:
    env.setenv("TELEGRAM_RATE_GLOBAL", "0")
    assert error_of().startswith("invalid TELEGRAM_RATE_GLOBAL: ")
