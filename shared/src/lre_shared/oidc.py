"""An OpenID Connect relying party as a confidential client: the recipients' identity provider
of the pickup site (FranceConnect+ in production) and the organisation's provider of the desk
console both go through it (the npm `oidc-provider` of deploy/local/oidc on a development
machine).

Discovery (`<issuer>/.well-known/openid-configuration`, which must name the issuer it was
fetched for); the authorization request of the code flow with PKCE (RFC 7636, S256), `state`
and `nonce`; the code exchanged with the client's secret (`client_secret_basic`); the ID token
accepted only if its signature verifies under a key the provider publishes (JWKS) and its
issuer, audience, expiry, nonce and authorized party are right (OpenID Connect Core
§3.1.3.7); the end-session URL (RP-Initiated Logout). The discovery document is kept an hour;
the keys are kept until a token names one not known yet (the provider rotated them), or the
document changes.

Each caller turns `OidcFailed` into its own errors and adds its own parameters to the
authorization and token requests (`acr_values`, `resource`, ...).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx
import jwt
from jwt import PyJWK, PyJWKSet

DISCOVERY_SECONDS = 3600.0
# OpenID Connect Core §2: an ID token always states these.
ID_TOKEN_CLAIMS = ("iss", "sub", "aud", "exp", "iat")
JSON = {"accept": "application/json"}


class OidcFailed(Exception):
    """A sign-in the provider did not complete: the subclasses say how."""


class ProviderUnreachable(OidcFailed):
    """The provider did not answer, or answered nonsense (discovery, keys, token endpoint)."""


class CodeRefused(OidcFailed):
    """The token endpoint did not take the code: its HTTP `status` and OAuth `error`."""

    def __init__(self, status: int, error: str | None, body: str) -> None:
        super().__init__(f"the identity provider refused the code: {status} {body[:300]}")
        self.status = status
        self.error = error


class IdTokenRefused(OidcFailed):
    """An ID token that does not hold; `claim` names the check of this sign-in that failed
    (`nonce`, `azp`), None for the token's own (signature, issuer, audience, expiry)."""

    def __init__(self, reason: str, claim: str | None = None) -> None:
        super().__init__(reason)
        self.claim = claim


def verified_claims(
    token: str,
    key: PyJWK,
    *,
    issuer: str,
    audience: str,
    algorithms: Collection[str],
    leeway: float,
    required: Collection[str],
) -> dict[str, Any]:
    """The claims of a JWT signed under `key`, once its signature, issuer, audience and expiry
    hold and every `required` claim is there; `jwt.PyJWTError` otherwise."""
    # Only the key's own algorithm, one of `algorithms`: a token naming another (RS256 on an EC
    # key, HS256 with the public key or the client secret as its secret, none) is refused.
    if key.algorithm_name not in algorithms:
        raise jwt.InvalidAlgorithmError(f"keys of algorithm {key.algorithm_name} are not accepted")
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=[key.algorithm_name],
        issuer=issuer,
        audience=audience,
        leeway=leeway,
        options={"require": list(required)},
    )
    return claims


def with_query(endpoint: str, params: Mapping[str, str]) -> str:
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)


@dataclass(eq=False, kw_only=True)
class RelyingParty:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    algorithms: Collection[str]
    leeway: float
    timeout: float
    transport: httpx.AsyncBaseTransport | None = None  # tests: the provider's answers without a network
    _discovered: tuple[float, dict[str, Any]] | None = field(default=None, init=False, repr=False)
    _keys: PyJWKSet | None = field(default=None, init=False, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.timeout, transport=self.transport)

    async def _get(self, url: str) -> dict[str, Any]:
        try:
            async with self._http() as http:
                response = await http.get(url, headers=JSON)
                response.raise_for_status()
                found = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnreachable(f"the identity provider did not answer {url}: {exc}") from exc
        if not isinstance(found, dict):
            raise ProviderUnreachable(f"the identity provider answered no JSON object at {url}")
        return found

    async def discovery(self) -> dict[str, Any]:
        async with self._lock:
            if self._discovered is None or time.monotonic() - self._discovered[0] >= DISCOVERY_SECONDS:
                url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                document = await self._get(url)
                # OpenID Connect Discovery §4.3: the document names the issuer it was fetched for.
                if document.get("issuer") != self.issuer:
                    raise ProviderUnreachable(
                        f"the discovery document at {url} names another issuer: {document.get('issuer')}"
                    )
                for needed in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                    if not isinstance(document.get(needed), str):
                        raise ProviderUnreachable(f"the discovery document at {url} has no {needed}")
                if self._discovered is None or self._discovered[1] != document:
                    self._keys = None
                self._discovered = (time.monotonic(), document)
            return self._discovered[1]

    async def authorization_url(
        self,
        *,
        redirect_uri: str,
        scope: str,
        state: str,
        nonce: str,
        code_challenge: str,
        extra: Mapping[str, str] | None = None,
    ) -> str:
        endpoint = (await self.discovery())["authorization_endpoint"]
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        return with_query(endpoint, params | dict(extra or {}))

    async def exchange(
        self, code: str, code_verifier: str, redirect_uri: str, extra: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """The token endpoint's answer for `code`, which has an `id_token` (not yet verified)."""
        endpoint = (await self.discovery())["token_endpoint"]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        } | dict(extra or {})
        # RFC 6749 §2.3.1: the id and secret are form-encoded before they go in Basic.
        auth = httpx.BasicAuth(quote_plus(self.client_id), quote_plus(self.client_secret))
        try:
            async with self._http() as http:
                response = await http.post(endpoint, data=form, auth=auth, headers=JSON)
        except httpx.HTTPError as exc:
            raise ProviderUnreachable(
                f"the identity provider's token endpoint did not answer: {exc}"
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200:
            error = body.get("error") if isinstance(body, dict) else None
            raise CodeRefused(response.status_code, error if isinstance(error, str) else None, response.text)
        if not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
            raise ProviderUnreachable("the identity provider's token endpoint gave no ID token")
        return body

    async def _signing_key(self, token: str) -> PyJWK:
        kid = jwt.get_unverified_header(token).get("kid")
        for refresh in (False, True):
            if self._keys is None or refresh:
                jwks_uri = (await self.discovery())["jwks_uri"]
                self._keys = PyJWKSet.from_dict(await self._get(jwks_uri))
            for key in self._keys.keys:
                if key.public_key_use in (None, "sig") and kid in (None, key.key_id):
                    return key
        raise IdTokenRefused(f"the identity provider publishes no signing key {kid}")

    async def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims once its signature, issuer, audience, expiry, nonce and
        authorized party are right; IdTokenRefused otherwise."""
        try:
            claims = verified_claims(
                id_token,
                await self._signing_key(id_token),
                issuer=self.issuer,
                audience=self.client_id,
                algorithms=self.algorithms,
                leeway=self.leeway,
                required=ID_TOKEN_CLAIMS,
            )
        except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
            raise IdTokenRefused(str(exc)) from exc
        if not secrets.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
            # A token minted for another sign-in (replayed, or injected): never ours.
            raise IdTokenRefused("the ID token's nonce is not this sign-in's", "nonce")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise IdTokenRefused("the ID token was issued to another party (azp)", "azp")
        return claims

    async def end_session_url(self, id_token_hint: str, post_logout_redirect_uri: str) -> str | None:
        """Where to send the browser to end its session at the provider, if the provider says."""
        endpoint = (await self.discovery()).get("end_session_endpoint")
        if not isinstance(endpoint, str):
            return None
        return with_query(
            endpoint,
            {
                "id_token_hint": id_token_hint,
                "post_logout_redirect_uri": post_logout_redirect_uri,
                "client_id": self.client_id,
            },
        )
