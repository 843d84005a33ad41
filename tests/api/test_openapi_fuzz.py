"""schemathesis against the OpenAPI document, through the WSGI app (no server).

Every documented operation gets a bounded, reproducible number of generated calls (valid
and invalid input). No answer may be a 5xx; JSON answers must match their documented
schema, status and media type; XML answers must be well-formed XML.
"""

import zlib
from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from lxml import etree
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from open311.keys import create_key

B = "/open311/v2"
#: Generated calls per operation (valid and invalid input mixed).
EXAMPLES = 25
JSON_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
XML_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]


@pytest.fixture
def fuzz_setup(app, catalogue, seed):
    """A catalogue, a few requests, an app key and an admin key (for the admin routes, which
    refuse every other key), and a key the admin routes may revoke; the schema read from the
    app itself."""
    now = datetime.now(UTC)
    ids = [seed(now, "S0").service_request_id, seed(now, "S1", status="closed").service_request_id]
    key = create_key("fuzz")[1]
    admin = create_key("fuzz staff", role="admin")[1]
    target = create_key("fuzz target")[0].prefix
    schema = schemathesis.openapi.from_wsgi(f"{B}/openapi.json", app)
    return {"schema": schema, "key": key, "admin": admin, "ids": ids, "prefixes": [target]}


def _key_for(path: str, fuzz_setup) -> str:
    return fuzz_setup["admin"] if path.startswith(f"{B}/admin/") else fuzz_setup["key"]


def _pick(value: object, known: list[str]) -> object:
    # Steer some generated values onto real ones (deterministically), so that calls get past
    # "unknown service" and "no such request" and reach the code behind them.
    if not isinstance(value, str):
        return value
    choice = zlib.crc32(value.encode("utf-8", "surrogatepass")) % (len(known) + 1)
    return known[choice] if choice < len(known) else value


def _steer(case, fuzz_setup) -> None:
    codes = ["S0", "S1", "SB", "SX"]
    key = _key_for(case.operation.path, fuzz_setup)
    if case.operation.definition.raw.get("security"):
        case.query = {**(case.query or {}), "api_key": key}
    params = case.path_parameters or {}
    if "prefix" in params:
        params["prefix"] = _pick(params["prefix"], fuzz_setup["prefixes"])
    if "service_code" in params:
        params["service_code"] = _pick(params["service_code"], codes)
    if "service_request_id" in params:
        params["service_request_id"] = _pick(params["service_request_id"], fuzz_setup["ids"])
    if isinstance(case.body, dict):
        if "api_key" in case.body:
            case.body["api_key"] = key  # the form's key wins on some routes
        if "service_code" in case.body:
            case.body["service_code"] = _pick(case.body["service_code"], codes)
        if "service_request_id" in case.body:
            case.body["service_request_id"] = _pick(
                case.body["service_request_id"], fuzz_setup["ids"]
            )


def _fuzz(operation, fuzz_setup) -> None:
    secured = bool(operation.definition.raw.get("security"))
    fixed = {"query": {"api_key": _key_for(operation.path, fuzz_setup)}} if secured else {}
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE, **fixed),
        operation.as_strategy(GenerationMode.NEGATIVE, **fixed),
    )
    xml = operation.path.endswith(".xml")

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        # No shrinking: it can take minutes per failure; the failing case is reported as is.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def run(case) -> None:
        _steer(case, fuzz_setup)
        response = case.call()
        case.validate_response(response, checks=XML_CHECKS if xml else JSON_CHECKS)
        if xml and response.content:
            etree.fromstring(response.content)

    run()


def test_no_server_errors_and_answers_match_the_document(fuzz_setup):
    """Every operation; failures are collected so that one run reports them all."""
    failures = []
    operations = [result.ok() for result in fuzz_setup["schema"].get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        try:
            _fuzz(operation, fuzz_setup)
        except Exception as exc:
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
