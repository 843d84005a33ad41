"""A department mailbox over SMTP (docs/vendors.md §5.3)."""

from adapters.email.adapter import EmailAdapter

__all__ = ["EmailAdapter"]
