"""A Pro Santé Connect stand-in: an OpenID provider on loopback issuing PSC-shaped tokens and claims.

Same paths as the Keycloak realm ``esante-wallet`` (discovery at ``wallet-openid-configuration``), authorization
code with PKCE S256 only, client_secret_basic at the token endpoint, RS256 ID tokens, UserInfo with the PSC
claims (SubjectNameID, SubjectRefPro...). ``faults`` makes the next logins misbehave, for tests.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from app.interop.psc.claims import s256

REALM = "/auth/realms/esante-wallet"
DISCOVERY_PATH = f"{REALM}/.well-known/wallet-openid-configuration"


@dataclass(frozen=True)
class TestProfessional:
    idnps: str
    family_name: str
    given_name: str
    profession: str
    finess_site: str | None = None


# IDNPS of the ANS test professionals (RPPS 997... numbers are reserved for tests).
PROFESSIONALS = [
    TestProfessional("899700218896", "SPECIALISTE0021889", "ROBERT", "10"),
    TestProfessional("899700000013", "MOREAU", "CLAIRE", "10", "690045711"),
    TestProfessional("899700366240", "INFIRMIER0036624", "SOPHIE", "60"),
]

FAULTS = {"wrong_audience", "expired", "wrong_acr", "wrong_nonce", "wrong_issuer", "bad_signature", "wrong_sub"}


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    professional: TestProfessional
    acr: str
    issued: float


@dataclass
class PscSandbox:
    """Registered clients (id -> (secret, redirect URIs)); ``faults`` holds the misbehaviours to apply."""

    clients: dict[str, tuple[str, list[str]]]
    professionals: list[TestProfessional] = field(default_factory=lambda: list(PROFESSIONALS))
    faults: set[str] = field(default_factory=set)
    logouts: int = 0
    base_url: str = ""
    key: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "sandbox-1", "use": "sig"})
    )
    _codes: dict[str, _Grant] = field(default_factory=dict)
    _access: dict[str, tuple[TestProfessional, float]] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return self.base_url + REALM

    def discovery_url(self) -> str:
        return self.base_url + DISCOVERY_PATH

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(DISCOVERY_PATH, self.discovery),
                Route("/auth", self.authorize),
                Route(f"{REALM}/protocol/openid-connect/token", self.token, methods=["POST"]),
                Route(f"{REALM}/protocol/openid-connect/userinfo", self.userinfo, methods=["GET", "POST"]),
                Route(f"{REALM}/protocol/openid-connect/certs", self.certs),
                Route(f"{REALM}/protocol/openid-connect/logout", self.logout),
            ]
        )

    async def discovery(self, request: Request) -> Response:
        base = self.base_url or str(request.base_url).rstrip("/")
        self.base_url = base
        oidc = f"{base}{REALM}/protocol/openid-connect"
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{base}/auth",
                "token_endpoint": f"{oidc}/token",
                "userinfo_endpoint": f"{oidc}/userinfo",
                "jwks_uri": f"{oidc}/certs",
                "end_session_endpoint": f"{oidc}/logout",
                "introspection_endpoint": f"{oidc}/token/introspect",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "scopes_supported": ["openid", "scope_all"],
                "acr_values_supported": ["eidas1"],
                "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "subject_types_supported": ["public"],
            }
        )

    async def logout(self, request: Request) -> Response:
        q = request.query_params
        client = self.clients.get(q.get("client_id", ""))
        target = q.get("post_logout_redirect_uri")
        if client is None or not target:
            return self._error(400, "invalid_request", "client_id and post_logout_redirect_uri required")
        self.logouts += 1
        return RedirectResponse(target, status_code=302)

    async def certs(self, request: Request) -> Response:
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    def _error(self, status: int, error: str, description: str) -> Response:
        return JSONResponse({"error": error, "error_description": description}, status_code=status)

    async def authorize(self, request: Request) -> Response:
        """The professional "logs in with e-CPS" at once: ``login_hint`` names the IDNPS (default: the first)."""
        q = request.query_params
        client = self.clients.get(q.get("client_id", ""))
        if client is None or q.get("redirect_uri") not in client[1]:
            return self._error(400, "invalid_client", "unknown client or redirect_uri")
        if q.get("response_type") != "code" or "openid" not in q.get("scope", "").split():
            return self._error(400, "invalid_request", "response_type=code and scope openid required")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return self._error(400, "invalid_request", "PKCE S256 required")
        hint = q.get("login_hint")
        chosen = next((p for p in self.professionals if p.idnps == hint), None) if hint else self.professionals[0]
        if chosen is None:
            return self._error(400, "access_denied", "unknown professional")
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Grant(
            client_id=q["client_id"],
            redirect_uri=q["redirect_uri"],
            challenge=q["code_challenge"],
            nonce=q.get("nonce", ""),
            professional=chosen,
            acr=q.get("acr_values", "eidas1"),
            issued=time.time(),
        )
        query = urlencode({"code": code, "state": q.get("state", ""), "session_state": secrets.token_hex(8)})
        return RedirectResponse(f"{q['redirect_uri']}?{query}", status_code=302)

    def _client(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        known = self.clients.get(client_id)
        return client_id if known and secrets.compare_digest(known[0], secret) else None

    async def token(self, request: Request) -> Response:
        client_id = self._client(request)
        if client_id is None:
            return self._error(401, "invalid_client", "client authentication failed")
        form = await request.form()
        grant = self._codes.pop(str(form.get("code", "")), None)
        if form.get("grant_type") != "authorization_code" or grant is None or grant.client_id != client_id:
            return self._error(400, "invalid_grant", "unknown or used code")
        if grant.redirect_uri != form.get("redirect_uri") or time.time() - grant.issued > 60:
            return self._error(400, "invalid_grant", "redirect_uri mismatch or code expired")
        if s256(str(form.get("code_verifier", ""))) != grant.challenge:
            return self._error(400, "invalid_grant", "PKCE verification failed")
        now = int(time.time())
        pro = grant.professional
        sub = f"f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:{pro.idnps}"
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "aud": client_id,
            "azp": client_id,
            "iat": now,
            "auth_time": now,
            "exp": now + 120,
            "nonce": grant.nonce,
            "acr": "eidas1",
            "preferred_username": pro.idnps,
            "SubjectNameID": pro.idnps,
        }
        faults = self.faults
        if "wrong_audience" in faults:
            claims["aud"] = claims["azp"] = "another-client"
        if "expired" in faults:
            claims["iat"], claims["exp"] = now - 900, now - 600
        if "wrong_acr" in faults:
            claims["acr"] = "eidas2"
        if "wrong_nonce" in faults:
            claims["nonce"] = "replayed"
        if "wrong_issuer" in faults:
            claims["iss"] = "https://elsewhere.example" + REALM
        signing = RSAKey.generate_key(2048, parameters={"kid": "sandbox-1"}) if "bad_signature" in faults else self.key
        id_token = jwt.encode({"alg": "RS256", "kid": "sandbox-1"}, claims, signing)
        access = secrets.token_urlsafe(32)
        self._access[access] = (pro, now + 120.0)
        return JSONResponse(
            {
                "access_token": access,
                "id_token": id_token,
                "token_type": "Bearer",
                "expires_in": 120,
                "scope": "openid scope_all",
            }
        )

    async def userinfo(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        entry = self._access.get(header.removeprefix("Bearer ").strip())
        if entry is None or entry[1] < time.time():
            return self._error(401, "invalid_token", "unknown or expired access token")
        pro = entry[0]
        sub = f"f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:{pro.idnps}"
        if "wrong_sub" in self.faults:
            sub += "0"
        activity = {"codeModeExercice": "S", "codeSecteurDactivite": "SA07", "codeRole": "FON-01"}
        if pro.finess_site:
            activity["numeroFinessSite"] = pro.finess_site
        return JSONResponse(
            {
                "sub": sub,
                "SubjectNameID": pro.idnps,
                "preferred_username": pro.idnps,
                "given_name": pro.given_name,
                "family_name": pro.family_name,
                "email_verified": False,
                "SubjectRole": [f"{pro.profession}^1.2.250.1.213.1.1.5.5"],
                "Secteur_Activite": "SA07^1.2.250.1.71.4.2.4",
                "Palier_Authentification": "APPPRIP3^1.2.250.1.213.1.5.1.1.1",
                "PSI_Locale": "1.2.250.1.213.1.3.1.1",
                "UITVersion": "1.0",
                "authMode": "MOBILE",
                "otherIds": [{"identifiant": pro.idnps[1:], "origine": "RPPS", "qualite": 1}],
                "SubjectRefPro": {
                    "codeCivilite": "M",
                    "exercices": [
                        {
                            "codeProfession": pro.profession,
                            "codeCategorieProfessionnelle": "C",
                            "nomDexercice": pro.family_name,
                            "prenomDexercice": pro.given_name,
                            "activities": [activity],
                        }
                    ],
                },
            }
        )
