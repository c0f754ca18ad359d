"""The OpenAPI document is complete enough to generate clients."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.usefixtures("backend")


async def test_openapi_names_operations_schemas_and_errors(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operations = [op for path in spec["paths"].values() for op in path.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids)) >= 56
    for op in operations:
        if op["operationId"] == "health":
            continue
        error_codes = [code for code in op["responses"] if code.startswith(("4", "5"))]
        assert error_codes, op["operationId"]
        for code in error_codes:
            content = op["responses"][code]["content"]
            assert "application/problem+json" in content, (op["operationId"], code)
    schemas = spec["components"]["schemas"]
    for name in ("Usager", "UsagerIdentityInput", "UsagerPatch", "UsagerPage", "Stay", "Essms", "Problem"):
        assert name in schemas
    read = spec["paths"]["/usagers/{resource_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert read["schema"]["$ref"] == "#/components/schemas/Usager"
    list_params = {p["name"] for p in spec["paths"]["/usagers"]["get"]["parameters"]}
    assert {"q", "nom", "prenom", "date_naissance", "limit", "cursor", "sort"} <= list_params
    patch_headers = {p["name"] for p in spec["paths"]["/usagers/{resource_id}"]["patch"]["parameters"]}
    assert "if-match" in {h.lower() for h in patch_headers}


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


async def test_unknown_route_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
