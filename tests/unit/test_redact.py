"""Error text from vendors loses personal data before it is stored or logged."""

from __future__ import annotations

import pytest

from open311.redact import MASK, redact


@pytest.mark.parametrize(
    "text",
    [
        "invalid email jane.doe+311@example.org",
        "phone 630-256-4636 is not a mobile",
        "phone (630) 256 4636",
        "phone +1 630.256.4636",
        "call 6302564636",
        "international +44 20 7946 0958",
    ],
)
def test_addresses_and_phone_numbers_are_masked(text):
    cleaned = redact(text)
    assert MASK in cleaned
    assert not any(ch.isdigit() for ch in cleaned.split(MASK)[-1].strip()), cleaned
    assert "@" not in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "HTTP 503: try again at 2026-12-03T19:00:00Z",
        "CreateThreeOneOne: ReportId 9001 already exists",
        "answer over 65536 bytes",
        "Alert: timeout after 30.0 s",
    ],
)
def test_diagnostics_without_personal_data_are_kept(text):
    assert redact(text, ["Al", None, ""]) == text


def test_known_values_are_masked_whole_word_and_in_any_case():
    text = "Reporter ZELDA quux-ington (device dev-77813) rejected; Zeldaqq is fine"
    cleaned = redact(text, ["Zelda", "Quux-Ington", "dev-77813"])
    assert cleaned == f"Reporter {MASK} {MASK} (device {MASK}) rejected; Zeldaqq is fine"


def test_the_longest_known_value_goes_first():
    assert redact("Mary Ann Smith", ["Mary", "Mary Ann"]) == f"{MASK} Smith"
