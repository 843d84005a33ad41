"""CitySourced wire details: Chicago wall time, booleans, lenient parsing."""

from datetime import UTC, datetime

import pytest

from adapters.base import AuthError, PermanentError
from adapters.citysourced import mapping
from adapters.citysourced.client import build, classify, parse_json, parse_xml


def test_wall_time_round_trip_across_zones():
    summer = datetime(2025, 6, 3, 19, 5, 11, tzinfo=UTC)
    assert mapping.to_local(summer) == "2025-06-03T14:05:11"
    assert mapping.from_local("2025-06-03T14:05:11") == summer
    winter = datetime(2025, 12, 3, 19, 5, 11, tzinfo=UTC)
    assert mapping.to_local(winter) == "2025-12-03T13:05:11"
    assert mapping.from_local("2025-12-03T13:05:11.000") == winter


def test_repeated_autumn_hour_is_ambiguous_and_fold_chooses():
    first = mapping.from_local("2025-11-02T01:30:00")
    second = mapping.from_local("2025-11-02T01:30:00", fold=1)
    assert first == datetime(2025, 11, 2, 6, 30, tzinfo=UTC)  # CDT, UTC-5
    assert second == datetime(2025, 11, 2, 7, 30, tzinfo=UTC)  # CST, UTC-6
    assert mapping.to_local(first) == mapping.to_local(second) == "2025-11-02T01:30:00"


def test_statuses_map_and_unknown_is_none():
    report = {"Id": "7", "StatusType": "In Progress", "DateUpdated": "2025-06-04T08:30:02"}
    change = mapping.change(report)
    assert (change.status, change.raw_status) == ("open", "In Progress")
    assert mapping.change({**report, "StatusType": "Closed"}).status == "closed"
    unknown = mapping.change({**report, "StatusType": "Pending Review"})
    assert (unknown.status, unknown.raw_status) == (None, "Pending Review")
    assert mapping.change({**report, "Id": ""}) is None


def test_request_document_has_the_header_first():
    document = build("k", "GetReport", [("ReportId", "1"), ("KeyValuePairs", [("A", "b")])])
    assert document.startswith(b"<?xml")
    assert (
        b"<CsRequest><ApiAuthKey>k</ApiAuthKey><ApiRequestType>GetReport</ApiRequestType>"
        in document
    )
    assert b'<KeyValuePair Key="A">b</KeyValuePair>' in document


def test_xml_answers_in_any_order_with_bom():
    data = (
        b"\xef\xbb\xbf<?xml version='1.0'?><CsResponse><ReportId>9</ReportId>"
        b"<Reports><Report><StatusType>Open</StatusType><Id>9</Id></Report></Reports>"
        b"<Message>ok</Message></CsResponse>"
    )
    answer = parse_xml(data)
    assert answer.message == "ok"
    assert answer.fields["ReportId"] == "9"
    assert answer.reports == [{"StatusType": "Open", "Id": "9"}]


def test_json_single_report_object_or_list():
    one = b'{"CsResponse": {"Message": "ok", "Reports": {"ReportCount": 1, "Report": {"Id": 5}}}}'
    many = b'{"CsResponse": {"Message": "ok", "Reports": {"Report": [{"Id": 5}, {"Id": 6}]}}}'
    assert parse_json(one).reports == [{"Id": "5"}]
    assert [r["Id"] for r in parse_json(many).reports] == ["5", "6"]


@pytest.mark.parametrize(
    "data", [b"", b"<html><body>x</body></html>", b"<CsResponse><Mess", b"\xff\xfe"]
)
def test_garbage_is_a_value_error(data):
    with pytest.raises(ValueError):  # noqa: PT011 - any parse failure is one
        parse_xml(data)


def test_entities_are_not_expanded():
    data = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<CsResponse><Message>&x;</Message></CsResponse>"
    )
    assert "root" not in parse_xml(data).message


def test_messages_classify():
    with pytest.raises(AuthError):
        classify("Invalid auth code", "x")
    with pytest.raises(PermanentError):
        classify("Unknown request received: X", "x")
    classify("New report created OK", "x")
