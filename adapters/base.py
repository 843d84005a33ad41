"""The contract every back-end adapter fulfils.

An adapter turns one stored request into one record in a back end. The dispatcher around it
owns retries, backoff and the dead letter; an adapter only says, through the type of error
it raises, whether trying again can help and whether the back end may have acted anyway.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from marshmallow import RAISE, Schema, ValidationError


class AdapterError(Exception):
    """A delivery failed.

    :param retryable: whether trying again later can succeed.
    :param retry_after: seconds the back end asked us to wait (``Retry-After``), if any.
    :param outcome_unknown: the back end may have created the record before failing (a lost
        response); the next attempt must look the record up before creating again.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown


class TransientError(AdapterError):
    """The back end is unreachable, overloaded or answered nonsense: try again later."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, outcome_unknown: bool = False
    ) -> None:
        super().__init__(
            message, retryable=True, retry_after=retry_after, outcome_unknown=outcome_unknown
        )


class PermanentError(AdapterError):
    """The back end refused this request as it is; the same call will fail again."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class AuthError(PermanentError):
    """Our credentials are refused: no blind retries, an operator must act."""


class SettingsError(ValueError):
    """An adapter's settings are invalid; ``problems`` has one line per fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Outbound:
    """What an adapter receives: the request as the back end needs it, contacts included.

    ``idempotency_key`` is generated once, before the first attempt, and is the same on
    every retry; ``maybe_sent`` is true when an earlier attempt may have reached the back
    end, so the adapter must look for an existing record before creating one.
    """

    service_request_id: str
    service_code: str
    service_name: str
    jurisdiction_id: str
    requested_datetime: datetime
    idempotency_key: str = ""
    maybe_sent: bool = False
    description: str | None = None
    lat: float | None = None
    long: float | None = None
    address: str | None = None
    address_id: str | None = None
    media_url: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    contact: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """A back end's receipt: its own reference for the record, and a notice for the resident."""

    reference: str | None
    service_notice: str | None = None


@dataclass(frozen=True)
class Change:
    """A change to a back-end record, reported by :meth:`Adapter.changes_since`.

    ``status`` is the adapter's GeoReport reading (``open`` or ``closed``), or ``None`` when
    it does not know ``raw_status``: the gateway's status tables decide, and an unknown status
    is reported rather than dropped. ``identity`` is the back end's own identity for this
    change (an event or version number); when the back end has none, the gateway builds one
    from the record, the time and the raw status. ``version`` orders changes of one record.
    ``agency`` and ``expected`` are the agency or crew the back end says is responsible and
    when it expects the work done, where its protocol reports them (``None``: not said).
    """

    reference: str
    status: str | None
    updated: datetime
    notes: str | None = None
    raw_status: str | None = None
    version: int | None = None
    identity: str | None = None
    agency: str | None = None
    expected: datetime | None = None


class PartialChanges(list[Change]):
    """The answer of :meth:`Adapter.changes_since` when the adapter stopped before the end
    of the window (a page cap): every change up to ``until`` has been read, later ones not,
    so the caller must ask again from there rather than from the start of its pass."""

    def __init__(self, changes: list[Change], *, until: datetime) -> None:
        """Hold ``changes`` (oldest first), read completely up to ``until``."""
        super().__init__(changes)
        self.until = until


class NoSettings(Schema):
    """The settings schema of an adapter that takes none."""

    class Meta:
        unknown = RAISE


class Adapter(ABC):
    """A back end that accepts requests.

    Implementations must be safe to call twice for the same request: ``create`` is retried
    after failures and must not make a second record when the first call got through.
    """

    #: The stable name used in configuration and entry points.
    name: ClassVar[str]
    #: The marshmallow schema that validates this adapter's settings.
    settings_schema: ClassVar[type[Schema]] = NoSettings

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        """Keep the adapter's settings, validated by :attr:`settings_schema`.

        :raises SettingsError: when they do not fit the schema.
        """
        self.settings: dict[str, Any] = self.validate_settings(settings or {})

    @classmethod
    def validate_settings(cls, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``raw`` against :attr:`settings_schema`; returns the loaded settings.

        :raises SettingsError: one line per faulty field.
        """
        try:
            return dict(cls.settings_schema().load(dict(raw)))
        except ValidationError as exc:
            messages = exc.normalized_messages()
            raise SettingsError(
                [f"{key}: {' '.join(map(str, value))}" for key, value in sorted(messages.items())]
                if isinstance(messages, dict)
                else [str(messages)]
            ) from None

    @abstractmethod
    def create(self, request: Outbound) -> Delivery:
        """Create (or find, if it already exists) the back-end record for ``request``.

        :raises AdapterError: when the back end refuses or cannot be reached.
        """

    def lookup(self, request: Outbound) -> Delivery | None:
        """The existing back-end record made for ``request`` (found by its idempotency key).

        :raises AdapterError: when the back end cannot answer.
        """
        return None

    def changes_since(self, since: datetime) -> list[Change]:
        """Changes to back-end records since ``since`` (none for back ends that cannot say)."""
        return []

    def health(self) -> bool:
        """Whether the back end answers now."""
        return True

    def close(self) -> None:
        """Release connections; the adapter is not used afterwards."""
        return None
