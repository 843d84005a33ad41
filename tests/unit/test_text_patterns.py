"""The OpenAPI patterns of text fields say what the validators accept, character by character."""

import re

import pytest
from marshmallow import ValidationError

from schemas.inputs import LINE_PATTERN, TEXT_PATTERN, Text

CHARACTERS = [chr(c) for c in range(0x3000)] + [
    chr(c) for c in (0xD7FF, 0xE000, 0xFFFC, 0xFFFD, 0xFFFE, 0xFFFF, 0x10000, 0x10FFFF)
]


def _accepts(field, value):
    try:
        field.deserialize(value)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("one_line", "pattern"), [(True, LINE_PATTERN), (False, TEXT_PATTERN)])
def test_pattern_matches_the_validator(one_line, pattern):
    field = Text(10, one_line=one_line)
    # JSON Schema patterns are ECMA-262, where $ never matches before a final newline as
    # Python's does: compare with fullmatch of the pattern between its anchors.
    compiled = re.compile(pattern.removeprefix("^").removesuffix("$"))
    disagree = [
        hex(ord(c)) for c in CHARACTERS if bool(compiled.fullmatch(c)) != _accepts(field, c)
    ]
    assert disagree == []
    assert field.metadata["pattern"] == pattern
