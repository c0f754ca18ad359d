"""Pure parts of a Pro Santé Connect login: PKCE, the authorization URL, ID-token and UserInfo checks."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey


class PscError(Exception):
    """The identity provider's answer cannot be trusted; ``rule`` names why."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge), RFC 7636."""
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorization_url(
    endpoint: str,
    *,
    client_id: str,
    redirect_uri: str,
    scope: str,
    acr: str | None,
    state: str,
    nonce: str,
    challenge: str,
) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        **({"acr_values": acr} if acr else {}),
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"


def _key_for(token: str, keys: KeySet, client_secret: str) -> KeySet | OctKey:
    header = token.split(".", 1)[0]
    try:
        alg = orjson.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))).get("alg")
    except (ValueError, AttributeError) as error:
        raise PscError("id-token-malformed", "The token header is not JSON") from error
    # PSC may sign ID tokens with the client secret (HS256) or with its keys (RS256, ES256).
    return OctKey.import_key(client_secret.encode()) if alg == "HS256" else keys


def verify_id_token(
    token: str,
    *,
    keys: KeySet,
    issuer: str,
    client_id: str,
    client_secret: str,
    nonce: str,
    acr: str | None,
    now: float,
    leeway: int,
) -> dict[str, Any]:
    """The claims of a valid ID token; PscError names the first broken rule."""
    try:
        decoded = jwt.decode(token, _key_for(token, keys, client_secret), algorithms=["RS256", "ES256", "HS256"])
    except (JoseError, ValueError) as error:
        raise PscError("id-token-signature", f"The ID token signature does not verify ({error})") from error
    claims = decoded.claims
    if claims.get("iss") != issuer:
        raise PscError("id-token-issuer", "The ID token comes from another issuer")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if client_id not in audiences or (len(audiences) > 1 and claims.get("azp") != client_id):
        raise PscError("id-token-audience", "The ID token was issued for another client")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp + leeway < now:
        raise PscError("id-token-expired", "The ID token has expired")
    iat = claims.get("iat")
    if isinstance(iat, int | float) and iat - leeway > now:
        raise PscError("id-token-future", "The ID token is issued in the future")
    if claims.get("nonce") != nonce:
        raise PscError("id-token-nonce", "The ID token does not answer this login (nonce)")
    # PSC rule: only eidas1 is accepted for professionals' login.
    if acr is not None and claims.get("acr") != acr:
        raise PscError("id-token-acr", f"The authentication level is {claims.get('acr')!r}, not {acr}")
    if not claims.get("sub"):
        raise PscError("id-token-subject", "The ID token names no subject")
    return dict(claims)


def read_userinfo(content_type: str, body: bytes, *, keys: KeySet, client_secret: str, sub: str) -> dict[str, Any]:
    """UserInfo as JSON or as a signed JWT; it must be about the ID token's subject."""
    if content_type.split(";")[0].strip() == "application/jwt":
        token = body.decode()
        try:
            claims = dict(
                jwt.decode(token, _key_for(token, keys, client_secret), algorithms=["RS256", "ES256", "HS256"]).claims
            )
        except (JoseError, ValueError) as error:
            raise PscError("userinfo-signature", "The UserInfo signature does not verify") from error
    else:
        try:
            claims = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise PscError("userinfo-malformed", "UserInfo is not JSON") from error
    if not isinstance(claims, dict) or claims.get("sub") != sub:
        raise PscError("userinfo-subject", "UserInfo is about another subject than the ID token")
    return claims


@dataclass(frozen=True)
class PscProfessional:
    """What the backend keeps of a PSC identity: the IDNPS, names and activities (no secrets)."""

    idnps: str
    family_name: str | None
    given_name: str | None
    roles: list[str]
    activities: list[dict[str, Any]]


def professional(userinfo: dict[str, Any]) -> PscProfessional:
    """SubjectNameID is the national identifier (8 + RPPS, 0 + ADELI...)."""
    idnps = userinfo.get("SubjectNameID") or userinfo.get("preferred_username")
    if not isinstance(idnps, str) or not idnps:
        raise PscError("userinfo-idnps", "UserInfo carries no SubjectNameID")
    activities: list[dict[str, Any]] = []
    for exercice in (userinfo.get("SubjectRefPro") or {}).get("exercices") or []:
        for activity in exercice.get("activities") or []:
            activities.append(
                {
                    "profession": exercice.get("codeProfession"),
                    "finess_site": activity.get("numeroFinessSite"),
                    "finess_ej": activity.get("numeroFinessetablissementJuridique"),
                    "role": activity.get("codeRole"),
                }
            )
    roles = [r for r in userinfo.get("SubjectRole") or [] if isinstance(r, str)]
    return PscProfessional(idnps, userinfo.get("family_name"), userinfo.get("given_name"), roles, activities)
