"""SQLAlchemy models, one module per aggregate."""

from open311.models.boundaries import Boundary, BoundaryPart
from open311.models.catalogue import Jurisdiction, Service
from open311.models.dispatch import Backend, DispatchJob
from open311.models.keys import ApiKey
from open311.models.notifications import Notification, OptOut
from open311.models.relays import Relay
from open311.models.requests import ServiceRequest, Token
from open311.models.subscriptions import Subscription, SubscriptionDelivery
from open311.models.updates import RequestUpdate, SyncCursor, WebhookEvent

__all__ = [
    "ApiKey",
    "Backend",
    "Boundary",
    "BoundaryPart",
    "DispatchJob",
    "Jurisdiction",
    "Notification",
    "OptOut",
    "Relay",
    "RequestUpdate",
    "Service",
    "ServiceRequest",
    "Subscription",
    "SubscriptionDelivery",
    "SyncCursor",
    "Token",
    "WebhookEvent",
]
