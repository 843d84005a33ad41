"""Forwarding to another GeoReport v2 server: a neighbouring city, or a vendor speaking Open311."""

from adapters.open311.adapter import Open311Adapter

__all__ = ["Open311Adapter"]
