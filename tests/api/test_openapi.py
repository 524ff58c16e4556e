"""The OpenAPI document matches the API both ways: every route of the application is in it
and every operation in it is a route; schemathesis then calls every operation of a real
`flowtui serve` with generated input (a bounded number of examples) and checks no answer is
a 5xx or breaks the document."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings

from flowtui.api.app import OPENAPI_PATH, ROUTES, RestApi
from flowtui.api.openapi import ERRORS, openapi_document
from tests.api.conftest import Served


def test_every_route_is_documented_and_every_documented_operation_is_a_route(
    tmp_path: Path,
) -> None:
    app = web.Application()
    RestApi.mount(RestApi.__new__(RestApi), app)  # the routes only: no history needed
    routed = {
        (route.method.lower(), resource.canonical)
        for resource in app.router.resources()
        for route in resource
        if route.method != "HEAD"
    }
    documented = {
        (method, path)
        for path, operations in openapi_document()["paths"].items()
        for method in operations
    }
    assert routed - {("get", OPENAPI_PATH)} == documented
    scopes = {
        (method, path): op["x-scope"]
        for path, operations in openapi_document()["paths"].items()
        for method, op in operations.items()
    }
    assert scopes == {(r.method.lower(), r.path): r.scope for r in ROUTES}


def test_the_served_document_is_the_one_tested(quick_server: Served) -> None:
    answer = quick_server.client(None).get(OPENAPI_PATH)  # open: it holds no history
    assert answer.status_code == 200 and answer.json() == openapi_document()
    assert answer.json()["openapi"] == "3.1.0"


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def api_schema(quick_server: Served) -> schemathesis.BaseSchema:
    loaded = schemathesis.openapi.from_dict(openapi_document())
    loaded.config.update(base_url=quick_server.url)
    return loaded


@schema.parametrize()
@settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_document(case: schemathesis.Case, quick_server: Served) -> None:
    token = quick_server.tokens["boss"]  # admin: every operation is reachable
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, timeout=20)


def test_the_stream_cap_and_the_postgresql_refusal_are_documented() -> None:
    paths = openapi_document()["paths"]
    assert "429" in paths["/api/v1/runs/{run_id}/events"]["get"]["responses"]
    for path in ("/steps/{step}/approve", "/steps/{step}/reject", "/cancel"):
        assert "501" in paths["/api/v1/runs/{run_id}" + path]["post"]["responses"]
    used = {
        code
        for operations in paths.values()
        for op in operations.values()
        for code in op["responses"]
    }
    assert set(ERRORS) <= used  # no documented error that no operation gives
