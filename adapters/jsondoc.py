"""The one JSON reader for documents from outside: bounded depth, no NaN, errors as ValueError."""

from __future__ import annotations

from typing import Any

import orjson

_BOM = b"\xef\xbb\xbf"


def parse(data: bytes) -> Any:
    """Parse a JSON document from a back end; a byte-order mark in front is tolerated.

    The standard library's ``json`` raises ``RecursionError`` (not ``ValueError``) on a few
    thousand nested brackets and accepts ``NaN``/``Infinity``; orjson stops at 1024 levels and
    refuses both, so a hostile answer is one more unreadable answer, not a crash.

    :raises ValueError: when it is not valid UTF-8 JSON.
    """
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    return orjson.loads(data)
