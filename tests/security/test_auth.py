"""Local accounts, access and refresh tokens, API tokens, and the hardening around them."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy import select

from app.config import Settings
from app.domain.access import Permission, Role
from app.main import create_app
from app.store.db import Database
from app.store.security import AUDIT
from tests import factories
from tests.conftest import ClientAs, http_client

pytestmark = pytest.mark.usefixtures("backend")
PASSWORD = "correct horse battery staple"


async def _account(client: httpx.AsyncClient, essms_id: str, role: str = "soignant") -> dict[str, object]:
    body = {"username": "claire.moreau", "password": PASSWORD, "memberships": [{"role": role, "essms_id": essms_id}]}
    response = await client.post("/accounts", json=body)
    assert response.status_code == 201, response.text
    assert "password" not in response.text
    return response.json()  # type: ignore[no-any-return]


async def test_password_login_refresh_and_logout(
    client: httpx.AsyncClient, anonymous_client: httpx.AsyncClient, clean_database: Database
) -> None:
    home = await factories.essms(client)
    await _account(client, home["id"])
    wrong = await anonymous_client.post("/auth/token", json={"username": "claire.moreau", "password": "nope"})
    assert wrong.status_code == 401 and wrong.headers["content-type"] == "application/problem+json"
    unknown = await anonymous_client.post("/auth/token", json={"username": "nobody", "password": PASSWORD})
    assert unknown.status_code == 401
    tokens = (
        await anonymous_client.post("/auth/token", json={"username": "claire.moreau", "password": PASSWORD})
    ).json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 300
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = (await anonymous_client.get("/auth/me", headers=bearer)).json()
    assert me["actor"] == "claire.moreau" and me["permissions"]["usager:write"] == [home["id"]]
    assert "admin" not in me["permissions"]
    assert (await anonymous_client.get("/accounts", headers=bearer)).status_code == 403

    renewed = (await anonymous_client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).json()
    assert renewed["refresh_token"] != tokens["refresh_token"]
    # A refresh token serves once; its reuse (a stolen copy) closes the whole session.
    reuse = await anonymous_client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reuse.status_code == 401
    after_reuse = await anonymous_client.post("/auth/refresh", json={"refresh_token": renewed["refresh_token"]})
    assert after_reuse.status_code == 401

    again = (
        await anonymous_client.post("/auth/token", json={"username": "claire.moreau", "password": PASSWORD})
    ).json()
    assert (
        await anonymous_client.post("/auth/logout", json={"refresh_token": again["refresh_token"]})
    ).status_code == 204
    closed = await anonymous_client.post("/auth/refresh", json={"refresh_token": again["refresh_token"]})
    assert closed.status_code == 401
    async with clean_database.read() as connection:
        logins = (
            await connection.execute(
                select(AUDIT.c.actor, AUDIT.c.outcome).where(AUDIT.c.operation == "login").order_by(AUDIT.c.id)
            )
        ).all()
    # Every login is traced, failed ones too.
    assert [tuple(r) for r in logins] == [
        ("anonymous", 401),
        ("anonymous", 401),
        ("claire.moreau", 200),
        ("claire.moreau", 200),
    ]


async def test_access_tokens_expire_and_are_signed(
    settings: Settings, client: httpx.AsyncClient, anonymous_client: httpx.AsyncClient
) -> None:
    home = await factories.essms(client)
    account = await _account(client, home["id"])
    key = OctKey.import_key(settings.signing_key())
    now = int(time.time())
    claims = {"iss": "dui", "typ": "access", "sub": account["id"], "name": "claire.moreau", "m": [], "su": True}
    expired = jwt.encode({"alg": "HS256"}, {**claims, "iat": now - 600, "exp": now - 300}, key)
    forged = jwt.encode({"alg": "HS256"}, {**claims, "exp": now + 300}, OctKey.import_key(b"another key" * 4))
    for token in (expired, forged, "not-a-token", "dui_at_zz_zz"):
        response = await anonymous_client.get("/usagers", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token


async def test_api_tokens_are_scoped_revocable_and_expire(
    app: FastAPI, client: httpx.AsyncClient, clean_database: Database
) -> None:
    home = await factories.essms(client)
    account = await _account(client, home["id"], role="direction")
    issued = await client.post(
        "/api-tokens",
        json={"name": "export job", "account_id": account["id"], "permissions": ["usager:read"], "expires_in_days": 1},
    )
    assert issued.status_code == 201
    token = issued.json()["token"]
    assert token.startswith("dui_at_")
    listed = (await client.get("/api-tokens")).text
    assert token not in listed and token.rsplit("_", 1)[1] not in listed  # only the hash is stored
    async with http_client(app, token) as job:
        assert (await job.get("/usagers")).status_code == 200
        usager = await job.post("/usagers", json={"nom_naissance": "X", "premier_prenom": "Y", "sexe": "F"})
        assert usager.status_code == 403  # the token narrows the account's permissions to usager:read
        assert (await client.delete(f"/api-tokens/{issued.json()['id']}")).status_code == 204
        assert (await job.get("/usagers")).status_code == 401
    # Disabling the account stops its tokens too.
    other = (await client.post("/api-tokens", json={"name": "job", "account_id": account["id"]})).json()
    async with http_client(app, other["token"]) as job:
        assert (await job.get("/usagers")).status_code == 200
        assert (await client.patch(f"/accounts/{account['id']}", json={"disabled": True})).status_code == 200
        assert (await job.get("/usagers")).status_code == 401


async def test_organisme_administrator(client: httpx.AsyncClient, client_as: ClientAs) -> None:
    organisme = await factories.organisme(client)
    first = await factories.essms(client, organisme["id"])
    elsewhere = await factories.essms(client)
    admin = await client_as(Role.ADMIN, first["id"])
    created = await admin.post(
        "/accounts", json={"username": "aide.soignant", "memberships": [{"role": "soignant", "essms_id": first["id"]}]}
    )
    assert created.status_code == 201
    outside = await admin.post(
        "/accounts", json={"username": "intrus", "memberships": [{"role": "admin", "essms_id": elsewhere["id"]}]}
    )
    assert outside.status_code == 403
    superuser = await admin.post("/accounts", json={"username": "root2", "superuser": True})
    assert superuser.status_code == 403
    both = {"role": "lecture", "essms_id": first["id"], "organisme_id": organisme["id"]}
    bad = await admin.post("/accounts", json={"username": "double", "memberships": [both]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["rule"] == "membership-target"
    duplicate = await admin.post("/accounts", json={"username": "aide.soignant"})
    assert duplicate.status_code == 409
    assert [a["username"] for a in (await admin.get("/accounts")).json()["items"]].count("aide.soignant") == 1


async def test_role_over_a_whole_organisme(client: httpx.AsyncClient, app: FastAPI, clean_database: Database) -> None:
    organisme = await factories.organisme(client)
    first = await factories.essms(client, organisme["id"])
    account = (
        await client.post(
            "/accounts",
            json={"username": "dir.og", "memberships": [{"role": "direction", "organisme_id": organisme["id"]}]},
        )
    ).json()
    token = (await client.post("/api-tokens", json={"name": "t", "account_id": account["id"]})).json()["token"]
    second = await factories.essms(client, organisme["id"])  # opened later: covered too
    async with http_client(app, token) as director:
        me = (await director.get("/auth/me")).json()
        assert set(me["permissions"]["usager:read"]) == {first["id"], second["id"]}


async def test_rate_limit_security_headers_and_cors(settings: Settings, clean_database: Database) -> None:
    tuned = settings.model_copy(update={"auth_rate_limit_per_minute": 3, "cors_origins": ["https://app.example"]})
    app = create_app(tuned, database=clean_database)
    async with http_client(app) as http:
        statuses = [
            (await http.post("/auth/token", json={"username": "x", "password": "y"})).status_code for _ in range(4)
        ]
        assert statuses == [401, 401, 401, 429]
        limited = await http.post("/auth/token", json={"username": "x", "password": "y"})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 0
        health = await http.get("/health", headers={"Origin": "https://app.example"})
        assert health.headers["x-content-type-options"] == "nosniff"
        assert health.headers["x-frame-options"] == "DENY"
        assert health.headers["cache-control"] == "no-store"
        assert "default-src 'none'" in health.headers["content-security-policy"]
        assert health.headers["access-control-allow-origin"] == "https://app.example"
        foreign = await http.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in foreign.headers


async def test_permission_narrowing_via_token(client_as: ClientAs, client: httpx.AsyncClient) -> None:
    home = await factories.essms(client)
    reader = await client_as(Role.ACCUEIL, home["id"], permissions=[Permission.USAGER_READ])
    assert (await reader.get("/usagers")).status_code == 200
    assert (await reader.get(f"/usagers/{uuid.uuid4()}/identity-document")).status_code == 403


async def test_narrowed_superuser_token(app: FastAPI, clean_database: Database) -> None:
    from tests.conftest import issue_token

    token = await issue_token(clean_database, "batch-reader", superuser=True, permissions=[Permission.USAGER_READ])
    async with http_client(app, token) as job:
        assert (await job.get("/usagers")).status_code == 200
        assert (await job.get("/accounts")).status_code == 403
        assert (await job.post("/organismes", json={"finess_ej": "x", "raison_sociale": "y"})).status_code == 403


async def test_concurrent_requests_of_an_unchecked_api_token_share_one_lookup(
    app: FastAPI, clean_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from app.store.security import TokenRepository
    from tests.conftest import issue_token

    token = await issue_token(clean_database, "batch-job", superuser=True)
    lookups = 0
    original = TokenRepository.api_token

    async def counted(self: TokenRepository, token_id: uuid.UUID) -> object:
        nonlocal lookups
        lookups += 1
        await asyncio.sleep(0.05)  # a slow database: every request arrives while the lookup runs
        return await original(self, token_id)

    monkeypatch.setattr(TokenRepository, "api_token", counted)
    app.state.authenticator.cache.clear()
    async with http_client(app, token) as job:
        statuses = await asyncio.gather(*(job.get("/usagers") for _ in range(12)))
    assert [s.status_code for s in statuses] == [200] * 12 and lookups == 1
    async with http_client(app, token + "x") as forged:  # a failed lookup is not shared with later requests
        assert (await forged.get("/usagers")).status_code == 401
        assert (await forged.get("/usagers")).status_code == 401
    assert lookups == 3
