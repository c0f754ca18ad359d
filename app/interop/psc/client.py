"""The Pro Santé Connect client: discovery (PSC's own path), token exchange with PKCE, JWKS, UserInfo."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc.jwk import KeySet

from app.interop.psc.claims import (
    PscError,
    PscProfessional,
    authorization_url,
    professional,
    read_userinfo,
    verify_id_token,
)


@dataclass(frozen=True)
class PscSettings:
    discovery_url: str
    client_id: str
    client_secret: str
    redirect_uri: str
    scope: str
    acr: str | None
    leeway: int
    timeout: float = 10.0


class PscClient:
    """One per application; the discovery document and the keys are cached (keys refetched on a miss)."""

    def __init__(self, settings: PscSettings) -> None:
        self.settings = settings
        self._discovery: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    async def _get(self, url: str, **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(timeout=self.settings.timeout) as http:
            try:
                response = await http.get(url, **kwargs)
            except httpx.HTTPError as error:
                raise PscError(
                    "psc-unreachable", f"Pro Santé Connect did not answer ({type(error).__name__})"
                ) from error
        if response.status_code != 200:
            raise PscError("psc-refused", f"Pro Santé Connect answered {response.status_code}")
        return response

    async def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            document = (await self._get(self.settings.discovery_url)).json()
            for key in ("issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
                if not isinstance(document.get(key), str):
                    raise PscError("psc-discovery", f"The discovery document has no {key}")
            self._discovery = document
        return self._discovery

    async def keys(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            jwks = (await self._get((await self.discovery())["jwks_uri"])).json()
            self._keys = KeySet.import_key_set(jwks)
        return self._keys

    async def authorization_url(self, *, state: str, nonce: str, challenge: str) -> str:
        s = self.settings
        return authorization_url(
            (await self.discovery())["authorization_endpoint"],
            client_id=s.client_id,
            redirect_uri=s.redirect_uri,
            scope=s.scope,
            acr=s.acr,
            state=state,
            nonce=nonce,
            challenge=challenge,
        )

    async def logout_url(self, post_logout_redirect_uri: str) -> str:
        """PSC's end_session endpoint (RP-initiated logout; the backend keeps no ID token to hint with)."""
        endpoint = (await self.discovery()).get("end_session_endpoint")
        if not isinstance(endpoint, str):
            raise PscError("psc-discovery", "The discovery document has no end_session_endpoint")
        query = urlencode({"client_id": self.settings.client_id, "post_logout_redirect_uri": post_logout_redirect_uri})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def login(self, *, code: str, code_verifier: str, nonce: str) -> PscProfessional:
        """Exchange the code, check the ID token and UserInfo; the professional they name."""
        return professional(await self.authenticate(code=code, code_verifier=code_verifier, nonce=nonce))

    async def authenticate(self, *, code: str, code_verifier: str, nonce: str) -> dict[str, Any]:
        """Exchange the code, check the ID token and UserInfo (any OpenID provider); the UserInfo claims."""
        s = self.settings
        discovery = await self.discovery()
        async with httpx.AsyncClient(timeout=s.timeout) as http:
            try:
                answer = await http.post(
                    discovery["token_endpoint"],
                    data={
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": s.redirect_uri,
                        "code_verifier": code_verifier,
                    },
                    auth=(s.client_id, s.client_secret),
                )
            except httpx.HTTPError as error:
                raise PscError("psc-unreachable", "The token endpoint did not answer") from error
        if answer.status_code != 200:
            raise PscError("psc-code-refused", f"The token endpoint refused the code ({answer.status_code})")
        tokens = answer.json()
        id_token, access_token = tokens.get("id_token"), tokens.get("access_token")
        if not isinstance(id_token, str) or not isinstance(access_token, str):
            raise PscError("psc-token-response", "The token response has no id_token or access_token")
        keys = await self.keys()
        check = {
            "issuer": discovery["issuer"],
            "client_id": s.client_id,
            "client_secret": s.client_secret,
            "nonce": nonce,
            "acr": s.acr,
            "leeway": s.leeway,
        }
        try:
            claims = verify_id_token(id_token, keys=keys, now=time.time(), **check)
        except PscError as error:
            if error.rule != "id-token-signature":
                raise
            keys = await self.keys(refresh=True)  # the provider may have rotated its keys
            claims = verify_id_token(id_token, keys=keys, now=time.time(), **check)
        info = await self._get(discovery["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"})
        userinfo = read_userinfo(
            info.headers.get("content-type", ""),
            info.content,
            keys=keys,
            client_secret=s.client_secret,
            sub=claims["sub"],
        )
        return userinfo
