"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis).

The app runs in a real uvicorn server on loopback against the test PostgreSQL and Redis;
every generated request must get a non-5xx answer that matches the documented schema,
status codes and content types.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from asoud.app import create_app
from tests.conftest import make_settings
from tests.support.servers import serve


@pytest.fixture(scope="module")
def api_schema(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[schemathesis.BaseSchema]:
    app_settings = make_settings(
        database_url,
        tmp_path_factory.mktemp("fuzz"),
        # the fuzzer sends thousands of requests from one address
        rate_limit_anonymous="1000000/hour",
        rate_limit_burst="1000000/minute",
        rate_limit_login_phone="1000000/minute",
        rate_limit_login_ip="1000000/minute",
    )
    with serve(create_app(app_settings), lifespan=True) as url:
        yield schemathesis.openapi.from_url(url + "/api/v1/openapi.json")


def test_api_answers_every_request_as_documented(api_schema: schemathesis.BaseSchema) -> None:
    # (schemathesis' own pytest fixture loader does not run under pytest 9, hence the loop.)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 9, "the OpenAPI document lost its operations"
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def fuzz(case: schemathesis.Case) -> None:
            # A schema-valid phone string need not be a real mobile number (phonenumbers
            # decides), so "valid data must be accepted" cannot hold for the login bodies.
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        fuzz()
