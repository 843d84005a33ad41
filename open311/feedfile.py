"""Reading another system's request feed: GeoReport v2 JSON or XML, or our CSV export.

Real feeds are untidy (a byte-order mark, SOAP namespaces on the root, ``xsi:nil`` elements,
one object instead of a list), so this module only turns bytes into flat records of field
name to raw value, each labelled with where it came from; judging the values is
:mod:`open311.history`'s job.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from lxml import etree

#: Largest feed fetched from a URL; a bigger history goes through a file.
MAX_DOWNLOAD = 512 * 1024 * 1024
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_FORMULA_ESCAPED = ("'=", "'+", "'-", "'@", "'\t", "'\r")


class FeedError(ValueError):
    """The source cannot be read as a feed at all."""


@dataclass(frozen=True)
class Record:
    """One request of a feed, as sent, and where it is (``line 12`` or ``record 3``)."""

    where: str
    fields: dict[str, Any]


def is_url(source: str) -> bool:
    """Whether ``source`` names an http(s) URL rather than a file."""
    return urlsplit(source).scheme in ("http", "https")


def fetch(source: str) -> bytes:
    """The bytes of a file or an http(s) URL.

    :raises FeedError: when it cannot be read.
    """
    if not is_url(source):
        try:
            return Path(source).read_bytes()
        except OSError as exc:
            raise FeedError(f"{source}: cannot read: {exc.strerror or exc}") from None
    try:
        with requests.get(source, timeout=(10, 120), stream=True) as response:
            if response.status_code != 200:
                raise FeedError(f"{source}: answered HTTP {response.status_code}")
            chunks, size = [], 0
            for chunk in response.iter_content(1 << 16):
                size += len(chunk)
                if size > MAX_DOWNLOAD:
                    raise FeedError(
                        f"{source}: larger than {MAX_DOWNLOAD} bytes; download it first"
                    )
                chunks.append(chunk)
            return b"".join(chunks)
    except requests.RequestException as exc:
        raise FeedError(f"{source}: cannot fetch: {type(exc).__name__}") from None


def parse(data: bytes) -> list[Record]:
    """The records of a feed, whichever of JSON, XML or CSV it is.

    :raises FeedError: when the document itself is broken (not a single bad record).
    """
    try:
        text = data.decode("utf-8-sig")  # drops a byte-order mark, as Helsinki's files have
    except UnicodeDecodeError as exc:
        raise FeedError(f"not UTF-8 text (byte {exc.start})") from None
    head = text.lstrip()[:1]
    if head in ("[", "{"):
        return _json_records(text)
    if head == "<":
        return _xml_records(text.encode("utf-8"))
    return _csv_records(text)


def _json_records(text: str) -> list[Record]:
    try:
        # orjson: bounded depth (the standard json raises RecursionError) and no NaN.
        document = orjson.loads(text)
    except ValueError as exc:
        raise FeedError(f"not valid JSON: {exc}") from None
    if isinstance(document, dict):
        document = [document]  # a single request, as some servers answer GET requests/{id}
    if not isinstance(document, list):
        raise FeedError("JSON feed is neither a list of requests nor one request")
    records = []
    for index, item in enumerate(document, start=1):
        where = f"record {index}"
        if not isinstance(item, dict):
            records.append(Record(where, {"__error__": "is not an object"}))
        else:
            records.append(Record(where, item))
    return records


def _parser() -> etree.XMLParser:
    # Untrusted input: no entities, no DTD, no network, no giant trees.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _xml_records(data: bytes) -> list[Record]:
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise FeedError(f"not valid XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise FeedError("XML with a DOCTYPE is refused")
    if _local(root.tag) not in ("service_requests", "request"):
        raise FeedError(f"not a requests feed: the root element is <{_local(root.tag)}>")
    items = [root] if _local(root.tag) == "request" else list(root)
    records = []
    for item in items:
        if _local(item.tag) != "request":
            continue
        fields: dict[str, Any] = {}
        for child in item:
            name = _local(child.tag)
            if not name:
                continue  # comments and processing instructions
            nil = child.get(_XSI_NIL) in ("true", "1")
            fields[name] = None if nil or len(child) else child.text
        records.append(Record(f"line {item.sourceline}", fields))
    return records


def _csv_records(text: str) -> list[Record]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "service_request_id" not in reader.fieldnames:
        raise FeedError("neither JSON nor XML, nor CSV with a service_request_id column")
    records = []
    try:
        for row in reader:
            line = reader.line_num
            fields = {k: _unescape(v) for k, v in row.items() if k is not None}
            if None in row:
                fields["__error__"] = "has more cells than the header"
            records.append(Record(f"line {line}", fields))
    except csv.Error as exc:
        raise FeedError(f"not valid CSV at line {reader.line_num}: {exc}") from None
    return records


def _unescape(value: Any) -> Any:
    # Our own export guards formula-like cells with a quote; take it off on the way back in.
    if isinstance(value, str) and value.startswith(_FORMULA_ESCAPED):
        return value[1:]
    return value
