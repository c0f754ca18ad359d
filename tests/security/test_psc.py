"""Pro Santé Connect login end to end against the loopback PSC sandbox (real HTTP, RS256, PKCE S256)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from app.config import Settings
from app.main import create_app
from app.sandbox.psc import PscSandbox
from app.sandbox.server import BackgroundServer
from app.store.db import Database
from tests.conftest import http_client

pytestmark = pytest.mark.usefixtures("backend")
REDIRECT = "http://dui.test/auth/psc/callback"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[PscSandbox]:
    psc = PscSandbox(clients={"dui-test": ("sandbox-secret", [REDIRECT])})
    with BackgroundServer(psc.app()) as server:
        psc.base_url = server.url
        yield psc


@pytest.fixture
async def psc_app(settings: Settings, clean_database: Database, sandbox: PscSandbox) -> AsyncIterator[FastAPI]:
    sandbox.faults.clear()
    configured = settings.model_copy(
        update={
            "psc_discovery_url": sandbox.discovery_url(),
            "psc_client_id": "dui-test",
            "psc_client_secret": SecretStr("sandbox-secret"),
            "psc_redirect_uri": REDIRECT,
        }
    )
    yield create_app(configured, database=clean_database)


async def _login(app: FastAPI, idnps: str = "899700218896") -> httpx.Response:
    async with http_client(app) as backend, httpx.AsyncClient() as browser:
        start = await backend.get("/auth/psc/login")
        assert start.status_code == 302
        authorize = start.headers["location"]
        query = parse_qs(urlsplit(authorize).query)
        assert query["scope"] == ["openid scope_all"] and query["acr_values"] == ["eidas1"]
        assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
        back = await browser.get(authorize + f"&login_hint={idnps}")
        assert back.status_code == 302, back.text
        callback = urlsplit(back.headers["location"])
        assert callback.path == "/auth/psc/callback"
        return await backend.get("/auth/psc/callback?" + callback.query)


async def _account(client: httpx.AsyncClient, idnps: str = "899700218896") -> None:
    response = await client.post("/accounts", json={"username": f"psc-{idnps}", "idnps": idnps, "memberships": []})
    assert response.status_code == 201, response.text


async def test_login_end_to_end(psc_app: FastAPI, client: httpx.AsyncClient) -> None:
    await _account(client)
    response = await _login(psc_app)
    assert response.status_code == 200, response.text
    tokens = response.json()
    async with http_client(psc_app, tokens["access_token"]) as professional:
        me = (await professional.get("/auth/me")).json()
    assert me["actor"] == "psc-899700218896" and me["kind"] == "psc"


async def test_logout_goes_through_psc(psc_app: FastAPI, sandbox: PscSandbox) -> None:
    async with http_client(psc_app) as backend, httpx.AsyncClient() as browser:
        start = await backend.get("/auth/psc/logout")
        assert start.status_code == 302 and "/protocol/openid-connect/logout" in start.headers["location"]
        before = sandbox.logouts
        back = await browser.get(start.headers["location"])
        assert back.status_code == 302 and back.headers["location"].endswith("/auth/psc/login")
        assert sandbox.logouts == before + 1


async def test_professional_without_account_is_refused(psc_app: FastAPI) -> None:
    response = await _login(psc_app, "899700366240")
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("fault", "rule"),
    [
        ("wrong_audience", "id-token-audience"),
        ("expired", "id-token-expired"),
        ("wrong_acr", "id-token-acr"),
        ("wrong_nonce", "id-token-nonce"),
        ("wrong_issuer", "id-token-issuer"),
        ("bad_signature", "id-token-signature"),
        ("wrong_sub", "userinfo-subject"),
    ],
)
async def test_untrustworthy_tokens_are_refused(
    psc_app: FastAPI, client: httpx.AsyncClient, sandbox: PscSandbox, fault: str, rule: str
) -> None:
    await _account(client)
    sandbox.faults.add(fault)
    response = await _login(psc_app)
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["rule"] == rule


async def test_a_state_serves_once(psc_app: FastAPI, client: httpx.AsyncClient) -> None:
    await _account(client)
    async with http_client(psc_app) as backend, httpx.AsyncClient() as browser:
        start = await backend.get("/auth/psc/login")
        back = await browser.get(start.headers["location"])
        query = urlsplit(back.headers["location"]).query
        assert (await backend.get("/auth/psc/callback?" + query)).status_code == 200
        assert (await backend.get("/auth/psc/callback?" + query)).status_code == 401
        forged = await backend.get("/auth/psc/callback", params={"state": "forged", "code": "x"})
        assert forged.status_code == 401


async def test_sandbox_enforces_pkce(sandbox: PscSandbox) -> None:
    async with httpx.AsyncClient() as browser:
        discovery = (await browser.get(sandbox.discovery_url())).json()
        assert discovery["code_challenge_methods_supported"] == ["S256"]
        plain = await browser.get(
            discovery["authorization_endpoint"],
            params={"client_id": "dui-test", "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid"},
        )
        assert plain.status_code == 400


async def test_organisation_openid_provider(
    settings: Settings, clean_database: Database, sandbox: PscSandbox, client: httpx.AsyncClient
) -> None:
    """Staff without e-CPS may log in with the organisation's own provider (any OpenID provider)."""
    sandbox.faults.clear()
    redirect = "http://dui.test/auth/oidc/callback"
    sandbox.clients["dui-org"] = ("org-secret", [redirect])
    configured = settings.model_copy(
        update={
            "oidc_discovery_url": sandbox.discovery_url(),
            "oidc_client_id": "dui-org",
            "oidc_client_secret": SecretStr("org-secret"),
            "oidc_redirect_uri": redirect,
        }
    )
    app = create_app(configured, database=clean_database)
    assert (await client.post("/accounts", json={"username": "899700366240", "memberships": []})).status_code == 201
    async with http_client(app) as backend, httpx.AsyncClient() as browser:
        start = await backend.get("/auth/oidc/login")
        assert "acr_values" not in start.headers["location"]
        back = await browser.get(start.headers["location"] + "&login_hint=899700366240")
        answer = await backend.get("/auth/oidc/callback?" + urlsplit(back.headers["location"]).query)
        assert answer.status_code == 200, answer.text
    async with http_client(create_app(settings, database=clean_database)) as unconfigured:
        assert (await unconfigured.get("/auth/oidc/login")).status_code == 404
