"""Personal data out of error text: what a vendor answers may quote what we sent it.

A back end that refuses a request often says why in words of its own ("invalid email
jane@example.org"), and that text is kept as the row's ``last_error`` and written to the
log. The log must never hold a resident's contact details, so every failure message passes
through here first: the request's own personal values are removed wherever they appear, and
anything that looks like an e-mail address or a telephone number is removed too, in case the
vendor quoted a value we no longer know (an older version of the record, another request).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "[redacted]"

_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")
# North American numbers (630-256-4636, (630) 256 4636, 6302564636) and international ones
# written with their +country code. Dates (2026-12-03) and times do not have this shape.
_PHONE = re.compile(
    r"(?<![\w+])(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}(?!\w)"
    r"|(?<![\w+])\+\d[\d\s().-]{6,}\d(?!\w)"
)


def redact(text: str, known: Iterable[str | None] = ()) -> str:
    """``text`` with the ``known`` personal values and any address or phone number masked.

    Known values are matched whole-word and case-insensitively, longest first, so a first
    name inside a longer word ("Al" in "Alert") is left alone.
    """
    values = sorted({v.strip() for v in known if v and v.strip()}, key=len, reverse=True)
    for value in values:
        text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", MASK, text, flags=re.IGNORECASE)
    text = _EMAIL.sub(MASK, text)
    return _PHONE.sub(MASK, text)
