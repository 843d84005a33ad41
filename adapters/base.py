"""The contract every back-end adapter fulfils."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar


class AdapterError(Exception):
    """A delivery failed; ``retryable`` says whether trying again later can succeed."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Outbound:
    """What an adapter receives: the request as the back end needs it, contacts included."""

    service_request_id: str
    service_code: str
    jurisdiction_id: str
    requested_datetime: datetime
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


class Adapter(ABC):
    """A back end that accepts requests.

    Implementations must be safe to call twice for the same request: ``create`` is retried
    after failures and must not make a second record when the first call got through.
    """

    #: The stable name used in configuration and entry points.
    name: ClassVar[str]

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        """Keep the adapter's validated settings."""
        self.settings = dict(settings or {})

    @abstractmethod
    def create(self, request: Outbound) -> Delivery:
        """Create (or find, if it already exists) the back-end record for ``request``.

        :raises AdapterError: when the back end refuses or cannot be reached.
        """

    def health(self) -> bool:
        """Whether the back end answers now."""
        return True
