"""Finding adapters and building the configured back ends.

Adapters are found through the packaging entry-point group ``open311.adapters``; the
built-in ones are declared there by our own ``pyproject.toml``, so there is one path for
ours and third parties'. An installed adapter is used only when ``OPEN311_ADAPTERS``
names it, and a catalogue that routes a service to any other is refused on import.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from flask import current_app

from adapters.base import Adapter, SettingsError
from open311.config import Settings

ENTRY_POINT_GROUP = "open311.adapters"
#: The back end of every service whose catalogue entry names none.
LOCAL = "local"

_lock = threading.Lock()


def adapter_class(name: str) -> type[Adapter]:
    """The adapter class registered under ``name``.

    :raises LookupError: when no installed package declares it.
    """
    found = entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not found:
        raise LookupError(f"no adapter named {name!r} in entry points {ENTRY_POINT_GROUP!r}")
    cls = next(iter(found)).load()
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise LookupError(f"entry point {name!r} is not an Adapter subclass")
    return cls


def enabled_class(name: str, settings: Settings) -> type[Adapter]:
    """Like :func:`adapter_class`, but only for adapters switched on by configuration.

    :raises LookupError: when the adapter is not enabled or not installed.
    """
    if name not in settings.adapters:
        raise LookupError(
            f"adapter {name!r} is not enabled; add it to OPEN311_ADAPTERS "
            f"(now {','.join(settings.adapters)})"
        )
    return adapter_class(name)


def is_env_ref(value: Any) -> bool:
    """Whether a setting is a reference to an environment variable: ``{env: NAME}``."""
    return isinstance(value, dict) and set(value) == {"env"} and isinstance(value["env"], str)


def resolve_env(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings with every ``{env: NAME}`` replaced by that variable's value.

    Secrets (client secrets, API keys, SMTP passwords) can so stay out of the catalogue
    file and the database, which keep only the variable's name.

    :raises SettingsError: when a named variable is not set.
    """
    resolved, missing = {}, []
    for key, value in settings.items():
        if is_env_ref(value):
            if os.environ.get(value["env"], "") == "":
                missing.append(f"{key}: environment variable {value['env']} is not set")
                continue
            value = os.environ[value["env"]]
        resolved[key] = value
    if missing:
        raise SettingsError(missing)
    return resolved


def _fingerprint(adapter: str, settings: Mapping[str, Any]) -> str:
    text = json.dumps([adapter, settings], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def backend_adapter(name: str, adapter: str, settings: Mapping[str, Any]) -> Adapter:
    """The live adapter of back end ``name``, built once per process and settings.

    A catalogue re-import that changes a back end's settings gets a fresh adapter; the old
    one is closed.
    """
    cache: dict[str, tuple[str, Adapter]] = current_app.extensions["open311"]["backends"]
    fingerprint = _fingerprint(adapter, settings)
    with _lock:
        known = cache.get(name)
        if known and known[0] == fingerprint:
            return known[1]
        cls = enabled_class(adapter, current_app.extensions["open311"]["settings"])
        built = cls(resolve_env(settings))
        cache[name] = (fingerprint, built)
    if known:
        known[1].close()
    return built


def init_app(app: Any) -> None:
    """Prepare the per-process cache of back ends and check the enabled adapters exist.

    :raises open311.config.ConfigError: when ``OPEN311_ADAPTERS`` names a missing adapter.
    """
    from open311.config import ConfigError

    settings: Settings = app.extensions["open311"]["settings"]
    for name in settings.adapters:
        try:
            adapter_class(name)
        except LookupError as exc:
            raise ConfigError(f"OPEN311_ADAPTERS: {exc}") from None
    app.extensions["open311"]["backends"] = {}
