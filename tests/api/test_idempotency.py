"""POST requests with an Idempotency-Key (or client_request_id): exactly once from the app."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from open311.extensions import db
from open311.models import DispatchJob, ServiceRequest
from tests.helpers import error_descriptions, json_ok, xml_ok

B = "/open311/v2"


def count(model=ServiceRequest):
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def form(api_key, **fields):
    data = {"api_key": api_key, "service_code": "S0", "lat": "41.76", "long": "-88.32"}
    data.update(fields)
    return data


def test_replay_with_the_same_body_returns_the_original_answer(client, catalogue, api_key):
    headers = {"Idempotency-Key": "abc-123"}
    first = json_ok(client.post(f"{B}/requests.json", data=form(api_key), headers=headers))
    again = json_ok(client.post(f"{B}/requests.json", data=form(api_key), headers=headers))
    assert again == first
    assert count() == 1
    assert count(DispatchJob) == 1
    xml = xml_ok(client.post(f"{B}/requests.xml", data=form(api_key), headers=headers))
    assert xml.findtext("request/service_request_id") == first[0]["service_request_id"]
    assert count() == 1


def test_field_order_does_not_matter(client, catalogue, api_key):
    headers = {"Idempotency-Key": "k"}
    data = form(api_key, description="hole")
    first = json_ok(client.post(f"{B}/requests.json", data=data, headers=headers))
    reordered = dict(reversed(list(data.items())))
    assert json_ok(client.post(f"{B}/requests.json", data=reordered, headers=headers)) == first


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_same_key_with_a_different_body_is_409(client, catalogue, api_key, fmt):
    headers = {"Idempotency-Key": "abc-123"}
    json_ok(client.post(f"{B}/requests.json", data=form(api_key), headers=headers))
    response = client.post(
        f"{B}/requests.{fmt}", data=form(api_key, description="other"), headers=headers
    )
    assert response.status_code == 409
    [description] = error_descriptions(response)
    assert "already used for a different request" in description
    assert count() == 1


def test_batch_replay_returns_the_same_token(client, catalogue, api_key):
    data = form(api_key, service_code="SB", client_request_id="form-key-1")
    first = json_ok(client.post(f"{B}/requests.json", data=data))
    assert set(first[0]) >= {"token"}
    assert json_ok(client.post(f"{B}/requests.json", data=data)) == first
    assert count() == 1


def test_keys_are_scoped_to_the_api_key(client, catalogue, api_key):
    from open311.keys import create_key

    other = create_key("other app")[1]
    headers = {"Idempotency-Key": "shared"}
    one = json_ok(client.post(f"{B}/requests.json", data=form(api_key), headers=headers))
    two = json_ok(client.post(f"{B}/requests.json", data=form(other), headers=headers))
    assert one[0]["service_request_id"] != two[0]["service_request_id"]
    assert count() == 2


@pytest.mark.parametrize(
    ("headers", "fields"),
    [
        ({"Idempotency-Key": "a"}, {"client_request_id": "b"}),
        ({"Idempotency-Key": "x" * 201}, {}),
        ({}, {"client_request_id": "bad\x07key"}),
    ],
    ids=["disagree", "too-long", "control-char"],
)
def test_bad_keys_are_400_and_store_nothing(client, catalogue, api_key, headers, fields):
    response = client.post(f"{B}/requests.json", data=form(api_key, **fields), headers=headers)
    assert response.status_code == 400
    assert count() == 0


def test_failed_validation_is_not_remembered(client, catalogue, api_key):
    headers = {"Idempotency-Key": "retry-me"}
    bad = client.post(f"{B}/requests.json", data=form(api_key, lat="91"), headers=headers)
    assert bad.status_code == 400
    good = client.post(f"{B}/requests.json", data=form(api_key), headers=headers)
    json_ok(good)
    assert count() == 1


def test_simultaneous_replays_create_one_request(app, client, catalogue, api_key):
    barrier = threading.Barrier(8)
    answers = []

    def replay():
        barrier.wait()
        with app.test_client() as own:
            response = own.post(
                f"{B}/requests.json", data=form(api_key), headers={"Idempotency-Key": "race"}
            )
            answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=replay) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {status for status, _ in answers} == {200}
    assert len({body[0]["service_request_id"] for _, body in answers}) == 1
    assert count() == 1
    assert count(DispatchJob) == 1
