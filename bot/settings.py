"""The one typed view of the environment: every setting the bot reads."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from signals.metrics import METRICS

SOURCES = ("coingecko", "coinpaprika", "yahoo", "exchange", "futures", "fred", "farside", "regime")
_ADMIN = re.compile(r"^(telegram|discord):\d{1,25}$")
_EXCHANGE_ID = re.compile(r"^[a-z0-9_]+$")
_MIN_TOKEN = 16
_METRIC_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _split(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return tuple(value)


_URL = TypeAdapter(AnyHttpUrl)


def _http_root(value: str) -> str:
    try:
        url = _URL.validate_python(value)
    except ValidationError:
        raise ValueError("expected an http(s) URL such as https://example.com/api") from None
    # Roots are joined with paths later; a trailing slash would double up.
    return str(url).rstrip("/")


HttpRoot = Annotated[str, AfterValidator(_http_root)]


class SettingsError(Exception):
    """A setting has a value the bot cannot use; the message names the variable."""


class TelegramSettings(BaseModel):
    """What the Telegram front-end reads: `TELEGRAM_<FIELD>` in the environment."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    token: SecretStr | None = None
    api_url: HttpRoot = "https://api.telegram.org"
    rate_global: int = Field(default=30, ge=1)
    rate_per_chat: int = Field(default=1, ge=1)
    rate_per_group_minute: int = Field(default=20, ge=1)


class DiscordSettings(BaseModel):
    """What the Discord front-end reads: `DISCORD_<FIELD>` in the environment."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    token: SecretStr | None = None
    api_url: HttpRoot = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg"
    guild_id: int | None = None


# Front-ends whose settings nest under their name; `app` passes each only its own model.
FRONT_END_SETTINGS: dict[str, type[BaseModel]] = {
    "telegram": TelegramSettings,
    "discord": DiscordSettings,
}


class Settings(BaseSettings):
    """Configuration from the environment and `.env`; names as in DESIGN.md section 3."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,
        # TELEGRAM_API_URL -> telegram.api_url: split once, so the front-end's own field names
        # keep their underscores and the variables keep the names users already set.
        env_nested_delimiter="_",
        env_nested_max_split=1,
    )

    telegram: TelegramSettings = TelegramSettings()
    discord: DiscordSettings = DiscordSettings()

    # Kept out of repr: a PostgreSQL URL carries its password.
    database_url: str = Field(default="sqlite:///data/radar.db", repr=False)
    sample_retention_days: int = Field(default=400, ge=1)

    coingecko_api_url: HttpRoot = "https://api.coingecko.com/api/v3"
    coingecko_api_key: SecretStr | None = None
    coingecko_calls_per_minute: float | None = Field(default=None, gt=0)
    coinpaprika_api_url: HttpRoot = "https://api.coinpaprika.com"
    yahoo_api_url: HttpRoot = "https://query1.finance.yahoo.com"
    fred_api_url: HttpRoot = "https://fred.stlouisfed.org"
    exchange: str = "binance"
    exchange_fallbacks: Annotated[tuple[str, ...], NoDecode] = ("kraken", "coinbase")
    exchange_api_url: HttpRoot | None = None
    futures_api_url: HttpRoot | None = None
    farside_api_url: HttpRoot = "https://farside.co.uk"

    ingest_token: SecretStr | None = None
    ingest_metrics: Annotated[tuple[str, ...], NoDecode] = ()
    ingest_per_minute: int = Field(default=6, ge=1, le=600)

    admin_ids: Annotated[tuple[str, ...], NoDecode] = ()
    # The address the HTTP server (/healthz, /ingest) binds: 0.0.0.0 every interface, 127.0.0.1
    # this machine only (behind a reverse proxy).
    host: str = Field(default="0.0.0.0", min_length=1)
    port: int = Field(default=8080, ge=0, le=65535)
    log_level: str = "INFO"

    poll_seconds: float = Field(default=60.0, gt=0)
    coingecko_poll_seconds: float | None = Field(default=None, gt=0)
    # CoinPaprika is the fallback; its free quota is small, so ask it at most this often.
    coinpaprika_poll_seconds: float | None = Field(default=300.0, gt=0)
    yahoo_poll_seconds: float | None = Field(default=None, gt=0)
    exchange_poll_seconds: float | None = Field(default=None, gt=0)
    # Long/short ratios are hourly figures; asking more often only spends the endpoint's cap.
    futures_poll_seconds: float | None = Field(default=300.0, gt=0)
    # FRED publishes daily and weekly; Farside once a trading day, behind Cloudflare.
    fred_poll_seconds: float | None = Field(default=3600.0, gt=0)
    farside_poll_seconds: float | None = Field(default=900.0, gt=0)
    regime_poll_seconds: float | None = Field(default=None, gt=0)
    stale_alert_minutes: float = Field(default=60.0, gt=0)

    rule_for_seconds: float = Field(default=0.0, ge=0)
    rule_repeat_hours: float | None = Field(default=None, gt=0)
    rule_send_resolved: bool = True
    max_custom_rules_per_chat: int = Field(default=20, ge=0)

    # A chart of the metric on every Telegram and Discord alert (notices and summaries stay text).
    alert_charts: bool = True

    dispatch_workers: int = Field(default=16, ge=1, le=256)
    dispatch_max_attempts: int = Field(default=12, ge=1)
    # How long a claimed delivery stays with its worker; a worker that dies or freezes loses it then.
    delivery_lease_seconds: float = Field(default=60.0, ge=2, le=3600)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_admins(cls, value: Any) -> tuple[str, ...]:
        items = _split(value)
        for item in items:
            if not _ADMIN.match(item):
                raise ValueError(f"{item!r} is not telegram:<user id> or discord:<user id>")
        return items

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("database_url")
    @classmethod
    def _check_database(cls, value: str) -> str:
        accepted = ("sqlite:///", "sqlite+aiosqlite:///", "postgres://", "postgresql://")
        if not value.startswith((*accepted, "postgresql+asyncpg://")):
            raise ValueError(
                "expected sqlite:///<path>, postgres://... or postgresql://... "
                "(the async driver is chosen for you)"
            )
        if value in ("sqlite:///", "sqlite+aiosqlite:///"):
            raise ValueError("sqlite:/// needs a file path, e.g. sqlite:///data/radar.db")
        return value

    @field_validator("exchange")
    @classmethod
    def _check_exchange(cls, value: str) -> str:
        if not _EXCHANGE_ID.match(value):
            raise ValueError("expected a ccxt exchange id such as binance, kraken or coinbase")
        return value

    @field_validator("exchange_fallbacks", mode="before")
    @classmethod
    def _split_fallbacks(cls, value: Any) -> tuple[str, ...]:
        items = tuple(item.lower() for item in _split(value))
        if items == ("none",):
            return ()
        for item in items:
            if not _EXCHANGE_ID.match(item):
                raise ValueError(f"{item!r} is not a ccxt exchange id (e.g. kraken,coinbase)")
        return items

    @field_validator("ingest_token")
    @classmethod
    def _check_ingest_token(cls, value: SecretStr | None) -> SecretStr | None:
        # The endpoint faces the internet (TradingView calls it); a short secret is guessable.
        if value is not None and len(value.get_secret_value()) < _MIN_TOKEN:
            raise ValueError(
                f"use at least {_MIN_TOKEN} characters, e.g. the output of "
                "python -c 'import secrets; print(secrets.token_urlsafe(24))'"
            )
        return value

    @field_validator("ingest_metrics", mode="before")
    @classmethod
    def _split_ingest_metrics(cls, value: Any) -> tuple[str, ...]:
        items = tuple(item.lower() for item in _split(value))
        for item in items:
            if not _METRIC_ID.match(item):
                raise ValueError(
                    f"{item!r} is not a metric id (lower case letters, digits, _; up to 40)"
                )
            if item in METRICS:
                raise ValueError(f"{item!r} is computed by the bot itself; pick another id")
        return tuple(dict.fromkeys(items))

    @model_validator(mode="before")
    @classmethod
    def _nest_front_end_keywords(cls, data: Any) -> Any:
        """Accept `telegram_token=...` as a keyword too, as the environment spells it."""
        if not isinstance(data, dict):
            return data
        folded = dict(data)
        for name in FRONT_END_SETTINGS:
            prefix = f"{name}_"
            flat = {k[len(prefix) :]: folded.pop(k) for k in list(folded) if k.startswith(prefix)}
            if flat:
                nested = folded.get(name)
                base = nested.model_dump() if isinstance(nested, BaseModel) else dict(nested or {})
                folded[name] = {**base, **flat}
        return folded

    def poll_interval(self, source: str) -> float:
        """Return the poll interval for `source`, honouring `<SOURCE>_POLL_SECONDS`."""
        override: float | None = getattr(self, f"{source}_poll_seconds", None)
        return override if override is not None else self.poll_seconds

    @cached_property
    def async_database_url(self) -> str:
        """Return `database_url` in the form SQLAlchemy's async drivers take."""
        url = self.database_url
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        if url.startswith("postgresql://"):
            return "postgresql+asyncpg://" + url[len("postgresql://") :]
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
        return url


def load_settings(**overrides: Any) -> Settings:
    """Build `Settings`, turning a validation failure into one line that names the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        # A nested front-end field is named as its variable: ("telegram", "api_url") -> TELEGRAM_API_URL.
        loc = [str(part) for part in first["loc"] if isinstance(part, str)]
        name = "_".join(loc[:2]).upper() if loc else "settings"
        raise SettingsError(f"invalid {name}: {first['msg']}") from None
