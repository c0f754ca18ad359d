"""schemathesis over the whole OpenAPI document, against the service on a loopback port, authenticated as a
superuser: at least 1,000 generated requests, no 5xx and no response outside its documented schema."""

from __future__ import annotations

import asyncio
from collections import Counter

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from pydantic import SecretStr
from schemathesis.checks import FailureGroup, not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from app.config import Settings
from app.main import create_app
from app.sandbox.psc import PscSandbox
from app.sandbox.server import BackgroundServer
from app.store.db import Database
from tests.conftest import issue_token

EXAMPLES_PER_OPERATION = 20


@pytest.mark.usefixtures("backend")
async def test_openapi_fuzzing(settings: Settings, clean_database: Database, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("the contract does not depend on the engine; fuzzed once, on SQLite")
    token = await issue_token(clean_database, "fuzzer", superuser=True)
    psc = PscSandbox(clients={"dui": ("secret", ["http://127.0.0.1/auth/psc/callback"])})
    with BackgroundServer(psc.app()) as sandbox:
        psc.base_url = sandbox.url
        tuned = settings.model_copy(
            update={
                "auth_rate_limit_per_minute": 1_000_000,
                "psc_discovery_url": psc.discovery_url(),
                "psc_client_id": "dui",
                "psc_client_secret": SecretStr("secret"),
                "psc_redirect_uri": "http://127.0.0.1/auth/psc/callback",
            }
        )
        # The served application owns its engine (created in its own event loop, in the server thread).
        with BackgroundServer(create_app(tuned), lifespan="on") as server:
            counts, failures = await asyncio.to_thread(_fuzz, server.url, token)
    total = sum(counts.values())
    print(f"schemathesis: {total} requests over {len(counts)} operations, {len(failures)} failures")
    assert not failures, "\n".join(failures[:20])
    assert total >= 1000, counts
    assert len(counts) >= 70


def _fuzz(base_url: str, token: str) -> tuple[Counter[str], list[str]]:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    counts: Counter[str] = Counter()
    failures: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}
    for result in schema.get_all_operations():
        _run_operation(result.ok(), base_url, headers, counts, failures)
    return counts, failures


def _run_operation(
    operation: schemathesis.APIOperation,
    base_url: str,
    headers: dict[str, str],
    counts: Counter[str],
    failures: list[str],
) -> None:
    label = operation.label

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        counts[label] += 1
        try:
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
        except (AssertionError, FailureGroup) as error:
            failures.append(f"{label}: {response.status_code} {str(error)[:600]}")

    run()
