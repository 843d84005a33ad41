"""A department's JSON REST work-request system (docs/vendors.md §5.2)."""

from adapters.department.adapter import DepartmentAdapter

__all__ = ["DepartmentAdapter"]
