"""Paging and the change feed on ``GET requests`` (georeport-v2.md §2.2, §2.3).

Every test runs on SQLite and on PostgreSQL. Pages are followed through the ``Link`` header
exactly as a client would, to show that no row is seen twice or missed.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from open311.status import change_status
from tests.api.test_get_requests import B, ago, assert_error, get_json, ids_of, xml_ok, z
from tests.helpers import json_ok

LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


def next_query(response: Any) -> dict[str, list[str]] | None:
    """The query string of the ``Link: rel="next"`` URL, or ``None`` on the last page."""
    link = response.headers.get("Link")
    if link is None:
        return None
    match = LINK.match(link)
    assert match, link
    url = urlsplit(match["url"])
    assert url.path == f"{B}/requests.json"
    return parse_qs(url.query)


def walk(client: Any, query: dict[str, Any]) -> list[list[str]]:
    """Follow ``Link`` from the first page to the last; the ids of each page."""
    pages = []
    current: Any = query
    while current is not None:
        response = client.get(f"{B}/requests.json", query_string=current)
        pages.append([r["service_request_id"] for r in json_ok(response)])
        current = next_query(response)
        assert len(pages) < 50, "Link never ends"
    return pages


def seed_days(seed: Any, *days_ago: float, **fields: Any) -> list[str]:
    return [seed(ago(days), **fields).service_request_id for days in days_ago]


# -- page / page_size ----------------------------------------------------------------------------


def test_page_size_total_and_link_cover_every_row_once(client, seed):
    ids = seed_days(seed, 1, 2, 3, 4, 5)  # newest first already
    response = client.get(f"{B}/requests.json", query_string={"page_size": 2})
    assert [r["service_request_id"] for r in json_ok(response)] == ids[:2]
    assert response.headers["X-Total-Count"] == "5"
    assert "X-Total-Count" in response.headers["Access-Control-Expose-Headers"]
    assert walk(client, {"page_size": 2}) == [ids[:2], ids[2:4], ids[4:]]
    second = client.get(f"{B}/requests.json", query_string=next_query(response))
    assert "X-Total-Count" not in second.headers  # counted once, on the first page


def test_last_page_has_no_link_but_a_total(client, seed):
    seed_days(seed, 1, 2)
    response = client.get(f"{B}/requests.json", query_string={"page_size": 2})
    assert response.headers["X-Total-Count"] == "2"
    assert "Link" not in response.headers


def test_page_numbers_are_one_based_and_zero_means_first(client, seed):
    ids = seed_days(seed, 1, 2, 3, 4, 5)
    assert ids_of(client, {"page": 2, "page_size": 2}) == ids[2:4]
    assert ids_of(client, {"page": 3, "page_size": 2}) == ids[4:]
    assert ids_of(client, {"page": 0, "page_size": 2}) == ids[:2]
    assert ids_of(client, {"page": 1, "page_size": 2}) == ids[:2]


def test_page_past_the_end_is_empty_with_the_total(client, seed):
    seed_days(seed, 1, 2, 3)
    response = client.get(f"{B}/requests.json", query_string={"page": 9, "page_size": 2})
    assert json_ok(response) == []
    assert response.headers["X-Total-Count"] == "3"
    assert "Link" not in response.headers


def test_link_keeps_the_filters(client, seed):
    ids = seed_days(seed, 1, 2, 3, 4, status="closed")
    seed_days(seed, 1.5, 2.5)
    first = client.get(f"{B}/requests.json", query_string={"status": "closed", "page_size": 3})
    assert first.headers["X-Total-Count"] == "4"
    query = next_query(first)
    assert query["status"] == ["closed"]
    assert query["page_size"] == ["3"]
    assert walk(client, {"status": "closed", "page_size": 3}) == [ids[:3], ids[3:]]


def test_link_uses_the_public_url(client, seed, set_setting):
    seed_days(seed, 1, 2)
    set_setting(public_url="https://311.aurora-il.org")
    response = client.get(f"{B}/requests.json", query_string={"page_size": 1})
    assert response.headers["Link"].startswith(f"<https://311.aurora-il.org{B}/requests.json?")


def test_without_paging_parameters_the_cap_is_the_first_page(client, seed, set_setting):
    ids = seed_days(seed, 1, 2, 3)
    set_setting(max_requests=2)
    response = client.get(f"{B}/requests.json")
    assert [r["service_request_id"] for r in json_ok(response)] == ids[:2]
    assert response.headers["X-Total-Count"] == "3"
    assert next_query(response)["page_size"] == ["2"]
    assert walk(client, {}) == [ids[:2], ids[2:]]


def test_page_size_above_the_maximum_is_400(client, seed, set_setting):
    set_setting(max_page_size=3)
    assert_error(
        client.get(f"{B}/requests.json", query_string={"page_size": 4}), 400, "json", "at most 3"
    )
    assert len(get_json(client, {"page_size": 3})) == 0


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"page": "-1"}, "page"),
        ({"page": "1", "cursor": "abc"}, "not both"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_bad_paging_parameters_are_400(client, seed, fmt, query, needle):
    assert_error(client.get(f"{B}/requests.{fmt}", query_string=query), 400, fmt, needle)


def test_xml_pages_carry_the_same_headers(client, seed):
    ids = seed_days(seed, 1, 2, 3)
    response = client.get(f"{B}/requests.xml", query_string={"page_size": 2})
    root = xml_ok(response)
    assert [r.findtext("service_request_id") for r in root] == ids[:2]
    assert response.headers["X-Total-Count"] == "3"
    assert 'rel="next"' in response.headers["Link"]


def test_pages_neither_repeat_nor_skip_when_requests_arrive(client, seed):
    ids = seed_days(seed, 1, 2, 3, 4)
    first = client.get(f"{B}/requests.json", query_string={"page_size": 2})
    assert [r["service_request_id"] for r in json_ok(first)] == ids[:2]
    newer = seed_days(seed, 0.5, 0.1)  # two new requests land before page 2 is read
    second = client.get(f"{B}/requests.json", query_string=next_query(first))
    assert [r["service_request_id"] for r in json_ok(second)] == ids[2:]
    assert not set(newer) & {r["service_request_id"] for r in json_ok(second)}


def test_ties_on_the_datetime_are_split_by_id(client, seed):
    moment = ago(1)
    ids = [seed(moment).service_request_id for _ in range(5)]
    pages = walk(client, {"page_size": 2})
    assert [i for page in pages for i in page] == sorted(ids, key=int, reverse=True)


# -- updated_after / updated_before --------------------------------------------------------------


def test_updated_after_reaches_beyond_the_90_day_window(client, seed):
    old = seed(ago(400), updated=ago(1)).service_request_id
    seed(ago(300))
    assert old not in ids_of(client)
    assert ids_of(client, {"updated_after": z(ago(2))}) == [old]


def test_updated_bounds_after_inclusive_before_exclusive(client, seed):
    # Both instants taken once: a clock second passing between seed and query must not matter.
    t, t_later = ago(10), ago(5)
    at = seed(ago(20), updated=t).service_request_id
    later = seed(ago(20), updated=t_later).service_request_id
    assert ids_of(client, {"updated_after": z(t)}) == [at, later]
    assert ids_of(client, {"updated_before": z(t)}) == []
    assert ids_of(client, {"updated_after": z(t), "updated_before": z(t_later)}) == [at]


def test_change_feed_is_oldest_change_first(client, seed):
    a = seed(ago(900), updated=ago(3)).service_request_id
    b = seed(ago(5), updated=ago(4)).service_request_id
    c = seed(ago(1000), updated=ago(2)).service_request_id
    assert ids_of(client, {"updated_after": z(ago(30))}) == [b, a, c]


def test_change_feed_combines_with_other_filters(client, seed):
    closed = seed(ago(500), updated=ago(1), status="closed").service_request_id
    seed(ago(500), updated=ago(1))
    seed(ago(500), updated=ago(1), service_code="S1", status="closed")
    query = {"updated_after": z(ago(2)), "status": "closed", "service_code": "S0"}
    assert ids_of(client, query) == [closed]
    query["start_date"] = z(ago(450))
    assert ids_of(client, query) == []


def test_whole_history_pulled_by_updated_after_once_each(client, seed):
    ids = [
        seed(ago(365 * years + 3), updated=ago(365 * years)).service_request_id
        for years in range(5, 0, -1)
    ]
    ids += seed_days(seed, 40, 20, 10)
    pages = walk(client, {"updated_after": "2000-01-01T00:00:00Z", "page_size": 3})
    seen = [i for page in pages for i in page]
    assert seen == ids
    assert [len(page) for page in pages] == [3, 3, 2]


def test_change_made_while_paging_is_seen_again_at_the_end(client, seed):
    rows = [seed(ago(100 - i), updated=ago(50 - i)) for i in range(4)]
    first = client.get(
        f"{B}/requests.json", query_string={"updated_after": z(ago(60)), "page_size": 2}
    )
    assert [r["service_request_id"] for r in json_ok(first)] == [
        rows[0].service_request_id,
        rows[1].service_request_id,
    ]
    change_status(rows[0], "closed")  # already read; its change must come round again
    rest = walk(client, next_query(first))
    seen = [i for page in rest for i in page]
    assert seen == [
        rows[2].service_request_id,
        rows[3].service_request_id,
        rows[0].service_request_id,
    ]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_updated_before_not_after_updated_after_is_400(client, catalogue, fmt):
    query = {"updated_after": z(ago(1)), "updated_before": z(ago(2))}
    assert_error(client.get(f"{B}/requests.{fmt}", query_string=query), 400, fmt, "updated_before")


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_updated_after_without_time_zone_is_400(client, catalogue, fmt):
    response = client.get(f"{B}/requests.{fmt}", query_string={"updated_after": "2026-01-01T08:00"})
    assert_error(response, 400, fmt, "updated_after", "time zone")


def test_cursor_of_the_other_order_is_400(client, seed):
    seed_days(seed, 1, 2, 3)
    first = client.get(f"{B}/requests.json", query_string={"page_size": 1})
    cursor = next_query(first)["cursor"][0]
    response = client.get(
        f"{B}/requests.json", query_string={"cursor": cursor, "updated_after": z(ago(30))}
    )
    assert_error(response, 400, "json", "cursor")
