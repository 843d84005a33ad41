"""Settings read once from the environment, validated, and frozen.

Every knob of the gateway is an ``OPEN311_*`` environment variable. They are read when the
app is created, converted explicitly, and a bad value stops start-up with a message naming
the variable: a gateway that silently falls back to a default is worse than one that refuses
to start.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """A configuration value is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one gateway instance."""

    database_url: str
    max_content_length: int = 1024 * 1024
    max_requests: int = 1000
    max_page_size: int = 1000
    window_days: int = 90
    endpoint_type: str = "production"
    public_url: str | None = None
    dispatch: str = "inline"
    #: Adapter names that may be used; installing a package never switches one on.
    adapters: tuple[str, ...] = ("local",)
    dispatch_max_attempts: int = 10
    dispatch_backoff: float = 5.0
    dispatch_backoff_max: float = 3600.0
    dispatch_lease: float = 300.0
    dispatch_poll: float = 1.0
    #: Seconds between polls of each back end for changes, and how far each poll reaches
    #: back before the previous one started (clock skew, records invisible for a while).
    #: On PostgreSQL the interval is at least 60 and taken in whole minutes (open311.sync).
    sync_interval: float = 60.0
    sync_overlap: float = 600.0
    #: Residents' status e-mails: the SMTP relay (none: no messages are queued), the sender,
    #: and how often a refused message is tried again.
    notify_smtp_host: str | None = None
    notify_smtp_port: int = 25
    notify_from: str = "myAurora 311 <311@aurora.il.us>"
    notify_max_attempts: int = 8
    notify_backoff: float = 60.0
    #: ``true`` lets apps' subscription callbacks reach loopback, private and link-local
    #: addresses (tests, a lab); refused by default, so no app can make the gateway probe
    #: the city's own network.
    subscriptions_allow_private: str = "false"
    #: Rate limits (:mod:`open311.ratelimits`), counted per API key and client address, one
    #: budget per endpoint family; ``limits`` strings such as ``30/minute`` or ``1000/day``.
    rate_limits: str = "true"
    rate_limit_get: str = "600/minute"
    rate_limit_post: str = "30/minute"
    rate_limit_updates: str = "120/minute"
    rate_limit_subscriptions: str = "30/minute"
    #: Staff's writes over HTTP: creating, revoking and expiring keys, re-queueing deliveries.
    rate_limit_admin: str = "30/minute"
    #: Starts every counter's name, so that several gateways can share one Redis.
    rate_limit_prefix: str = "open311"
    #: Where the counters live: Redis (``redis://host:6379/0``) lets several servers share
    #: one count; without it each process counts alone, in memory.
    redis_url: str | None = None
    #: How many proxies in front of the gateway set ``X-Forwarded-For``; 0 trusts none, and
    #: the client address is the connection's.
    trusted_proxies: int = 0
    #: ``json`` (one JSON object a line, the default) or ``text`` (readable, the default when
    #: Flask runs in debug mode): the access line of each request and every other log line.
    log_format: str | None = None
    #: Base-map tiles of the /map page, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png;
    #: none by default, so that the page works offline.
    map_tiles: str | None = None
    map_attribution: str = ""
    contact_name: str = "myAurora 311"
    contact_phone: str = "311 inside the city limits"
    contact_phone_outside: str = "630-256-4636"
    contact_email: str = "311@aurora.il.us"
    contact_hours: str = "Operators 7 a.m.-7 p.m. Monday-Friday"
    contact_walk_in: str = "Walk-ins at Fire Station 8, 3770 McCoy Drive"
    key_service: str = (
        "API keys are issued by the myAurora 311 center: e-mail 311@aurora.il.us "
        "with the name of your application."
    )

    @property
    def contact(self) -> str:
        """The human contact line of the discovery document."""
        parts = [
            self.contact_name,
            f"phone {self.contact_phone} or {self.contact_phone_outside}",
            f"e-mail {self.contact_email}",
            self.contact_hours,
            self.contact_walk_in,
        ]
        return "; ".join(p for p in parts if p)


_INT_FIELDS = {
    "max_content_length",
    "max_requests",
    "max_page_size",
    "window_days",
    "dispatch_max_attempts",
    "notify_smtp_port",
    "notify_max_attempts",
}
_FLOAT_FIELDS = {
    "dispatch_backoff",
    "dispatch_backoff_max",
    "dispatch_lease",
    "dispatch_poll",
    "sync_interval",
    "sync_overlap",
    "notify_backoff",
}
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_RATE_LIMITS = {
    "rate_limit_get",
    "rate_limit_post",
    "rate_limit_updates",
    "rate_limit_subscriptions",
    "rate_limit_admin",
}
_CHOICES = {
    "endpoint_type": {"production", "test"},
    "dispatch": {"inline", "manual"},
    "subscriptions_allow_private": {"true", "false"},
    "rate_limits": {"true", "false"},
    "log_format": {"json", "text"},
}


def _rate_limit(name: str, raw: Any) -> str:
    from limits import parse_many

    value = str(raw).strip()
    try:
        parsed = parse_many(value)
    except ValueError:
        parsed = []
    if not parsed or any(item.amount < 1 for item in parsed):
        raise ConfigError(
            f"OPEN311_{name.upper()} must be a rate limit such as 30/minute or "
            f"100 per hour;5/second, got {value!r}"
        )
    return value


def _coerce(name: str, raw: Any) -> Any:
    if name in _RATE_LIMITS:
        return _rate_limit(name, raw)
    if name == "trusted_proxies":
        try:
            count = int(raw)
        except (TypeError, ValueError):
            count = -1
        if not 0 <= count <= 10:
            raise ConfigError(f"OPEN311_TRUSTED_PROXIES must be 0 to 10, got {raw!r}")
        return count
    if name in _INT_FIELDS:
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"OPEN311_{name.upper()} must be an integer, got {raw!r}") from None
        if value <= 0:
            raise ConfigError(f"OPEN311_{name.upper()} must be positive, got {value}")
        return value
    if name in _FLOAT_FIELDS:
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"OPEN311_{name.upper()} must be a number, got {raw!r}") from None
        if not number > 0 or number == float("inf"):
            raise ConfigError(f"OPEN311_{name.upper()} must be positive, got {raw!r}")
        return number
    if name == "adapters":
        names = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
        cleaned = tuple(dict.fromkeys(str(n).strip() for n in names if str(n).strip()))
        bad = [n for n in cleaned if not _NAME.match(n)]
        if bad or not cleaned:
            raise ConfigError(
                f"OPEN311_ADAPTERS must be a comma list of adapter names, got {raw!r}"
            )
        return cleaned
    if raw is None:
        return None
    value = str(raw).strip()
    if name in _CHOICES and value not in _CHOICES[name]:
        allowed = ", ".join(sorted(_CHOICES[name]))
        raise ConfigError(f"OPEN311_{name.upper()} must be one of {allowed}, got {value!r}")
    if name == "map_tiles" and not value.startswith(("https://", "http://", "/")):
        raise ConfigError(f"OPEN311_MAP_TILES must be an http(s) URL template, got {value!r}")
    if name == "public_url":
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ConfigError(f"OPEN311_PUBLIC_URL must be an http(s) URL, got {value!r}")
        return value.rstrip("/")
    if name == "redis_url" and urlsplit(value).scheme not in {"redis", "rediss", "redis+unix"}:
        raise ConfigError(f"OPEN311_REDIS_URL must be a redis:// or rediss:// URL, got {value!r}")
    if name == "rate_limit_prefix" and not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", value):
        raise ConfigError(
            f"OPEN311_RATE_LIMIT_PREFIX must be 1-64 letters, digits or _.:-, got {value!r}"
        )
    if name == "database_url" and "://" not in value:
        raise ConfigError(f"OPEN311_DATABASE_URL is not a database URL: {value!r}")
    return value


def default_database_url(instance_path: str) -> str:
    """The embedded default: a SQLite file in the app's instance folder."""
    return "sqlite:///" + str(Path(instance_path) / "open311.sqlite3")


def load_settings(
    instance_path: str,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build :class:`Settings` from ``OPEN311_*`` variables, then apply ``overrides``.

    :raises ConfigError: when a value cannot be used.
    """
    environ = os.environ if environ is None else environ
    known = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    for name in known:
        env_name = f"OPEN311_{name.upper()}"
        if environ.get(env_name, "") != "":
            values[name] = _coerce(name, environ[env_name])
    settings = Settings(
        database_url=values.pop("database_url", default_database_url(instance_path))
    )
    settings = replace(settings, **values)
    for name, raw in (overrides or {}).items():
        if name not in known:
            raise ConfigError(f"unknown setting {name!r}")
        settings = replace(settings, **{name: _coerce(name, raw)})
    _check_sync_interval(settings)
    return settings


#: On PostgreSQL the status sync is procrastinate's periodic task, deferred once a minute.
PERIODIC_SYNC_SECONDS = 60.0


def _check_sync_interval(settings: Settings) -> None:
    # Refused rather than quietly stretched: procrastinate's cron cannot run the sync more
    # often than once a minute, and a sync in every worker's own loop would poll the back
    # ends once per worker instead of once per period.
    if (
        settings.database_url.startswith("postgresql")
        and settings.sync_interval < PERIODIC_SYNC_SECONDS
    ):
        raise ConfigError(
            f"OPEN311_SYNC_INTERVAL must be at least {PERIODIC_SYNC_SECONDS:.0f} seconds on "
            f"PostgreSQL, got {settings.sync_interval:g}: the status sync runs there as a "
            "procrastinate periodic task, at most once a minute"
        )
