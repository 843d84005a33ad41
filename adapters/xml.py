"""The one hardened XML parser adapters use: no entities, no network, no huge trees."""

from __future__ import annotations

from lxml import etree

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_pis=True
)


def parse(data: bytes) -> etree._Element:
    """Parse a document from a back end; a byte-order mark in front is tolerated.

    :raises ValueError: when it is not well-formed XML.
    """
    data = data.lstrip()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None
