"""Service requests and the tokens of batch services."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Computed,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from open311.extensions import db
from open311.models.catalogue import JSONType, Jurisdiction, Service
from open311.models.types import PointGeometry, SearchVector, UTCDateTime

#: The PostGIS point is derived from lat/long by the database itself, so the two can never
#: disagree; on SQLite the column stays empty and spatial work is done with shapely.
LOCATION_EXPRESSION = 'ST_SetSRID(ST_MakePoint("long", "lat"), 4326)'

#: Text-search configuration of descriptions (Aurora's requests are in English).
SEARCH_CONFIG = "english"
#: The full-text vector is derived by PostgreSQL from the description, like the location.
SEARCH_EXPRESSION = f"to_tsvector('{SEARCH_CONFIG}', coalesce(description, ''))"

#: Requests that have a public id; only those are ever listed. ``PUBLISHED_INDEX`` is the
#: same condition as the predicate of the partial indexes, which PostgreSQL matches to it.
PUBLISHED_INDEX = text("service_request_id IS NOT NULL")

#: Fields that identify the reporter. They are stored for the city, never published.
PERSONAL_FIELDS = ("email", "phone", "first_name", "last_name", "device_id", "account_id")


class ServiceRequest(db.Model):  # type: ignore[name-defined,misc]
    """A resident's request; the gateway is its system of record."""

    __tablename__ = "service_requests"
    __table_args__ = (
        # Partial on "published", the condition of every feed query, so that counting a
        # window or a change feed is an index-only scan (see the benchmark in the README).
        Index(
            "ix_service_requests_requested",
            "requested_datetime",
            "id",
            postgresql_where=PUBLISHED_INDEX,
            sqlite_where=PUBLISHED_INDEX,
        ),
        Index(
            "ix_service_requests_updated",
            "updated_datetime",
            "id",
            postgresql_where=PUBLISHED_INDEX,
            sqlite_where=PUBLISHED_INDEX,
        ),
        Index("ix_service_requests_location", "location", postgresql_using="gist"),
        # A client's idempotency key names one request per API key, whatever the race.
        UniqueConstraint("api_key_pk", "client_key", name="uq_service_requests_client_key"),
        Index("ix_service_requests_search", "search_vector", postgresql_using="gin"),
        UniqueConstraint("import_source", "import_id", name="uq_service_requests_import"),
    )
    __mapper_args__ = {"eager_defaults": False}  # noqa: RUF012

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_request_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    jurisdiction_pk: Mapped[int] = mapped_column(ForeignKey("jurisdictions.id"), index=True)
    service_pk: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    status_notes: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    agency_responsible: Mapped[str | None] = mapped_column(String(200))
    service_notice: Mapped[str | None] = mapped_column(Text)
    requested_datetime: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_datetime: Mapped[datetime] = mapped_column(UTCDateTime())
    expected_datetime: Mapped[datetime | None] = mapped_column(UTCDateTime())
    address: Mapped[str | None] = mapped_column(Text)
    address_id: Mapped[str | None] = mapped_column(String(200))
    zipcode: Mapped[str | None] = mapped_column(String(20))
    lat: Mapped[float | None] = mapped_column(Float)
    long: Mapped[float | None] = mapped_column(Float)
    media_url: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    channel: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    device_id: Mapped[str | None] = mapped_column(String(200))
    account_id: Mapped[str | None] = mapped_column(String(200))
    api_key_pk: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    #: The client's ``Idempotency-Key`` (or ``client_request_id``) and a digest of its body.
    client_key: Mapped[str | None] = mapped_column(String(200))
    body_digest: Mapped[str | None] = mapped_column(String(64))
    #: Where an imported request came from (``open311 requests import``) and its id there;
    #: re-importing the same feed finds it again by these, whatever id it is published under.
    #: The request this one duplicates (``open311 requests duplicate``), if any.
    parent_pk: Mapped[int | None] = mapped_column(ForeignKey("service_requests.id"), index=True)
    import_source: Mapped[str | None] = mapped_column(String(100))
    import_id: Mapped[str | None] = mapped_column(String(200))
    location: Mapped[Any] = mapped_column(
        PointGeometry(), Computed(LOCATION_EXPRESSION, persisted=True), deferred=True
    )
    search_vector: Mapped[Any] = mapped_column(
        SearchVector(), Computed(SEARCH_EXPRESSION, persisted=True), deferred=True
    )

    service: Mapped[Service] = relationship(lazy="joined", innerjoin=True)
    jurisdiction: Mapped[Jurisdiction] = relationship()
    token: Mapped[Token | None] = relationship(back_populates="request", uselist=False)

    @property
    def service_code(self) -> str:
        """The code of the request's service type."""
        return self.service.service_code

    @property
    def service_name(self) -> str:
        """The name of the request's service type."""
        return self.service.service_name


class Token(db.Model):  # type: ignore[name-defined,misc]
    """The receipt handed out for a ``batch`` service until its back end accepts it."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    request_pk: Mapped[int] = mapped_column(ForeignKey("service_requests.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    request: Mapped[ServiceRequest] = relationship(back_populates="token")

    @property
    def service_request_id(self) -> str | None:
        """The request's id, revealed only once its back end has accepted it."""
        return self.request.service_request_id if self.accepted_at else None


#: The query condition of published requests (qualified, unlike the index predicate).
PUBLISHED = ServiceRequest.service_request_id.is_not(None)
