"""The CitySourced v1 XML API (docs/vendors.md §2.2 and §5.1)."""

from adapters.citysourced.adapter import CitySourcedAdapter

__all__ = ["CitySourcedAdapter"]
