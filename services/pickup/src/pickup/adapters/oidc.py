"""The recipients' identity provider over OpenID Connect (FranceConnect+ in production, the
npm `oidc-provider` on a development machine), as a confidential client.

Authorization code flow with PKCE (S256), `state` and `nonce`; the code is exchanged with the
client's secret (`client_secret_basic`); the ID token is accepted only if its signature
verifies against the provider's published keys (JWKS) and its issuer, audience, expiry and
nonce are right. The discovery document and the keys are read once and kept; keys are read
again when a token names one not known yet (the provider rotated them).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from jwt import PyJWK, PyJWKSet

from pickup.domain.provider import IdentityRequest, ProviderIdentity
from pickup.service_layer.ports import ProviderFailed

# Asymmetric signatures only: an HS256 token would be signed with our own client secret.
ALGORITHMS = ["RS256", "PS256", "ES256", "RS384", "ES384", "RS512", "PS384", "PS512", "EdDSA"]
CLOCK_SKEW_SECONDS = 60


class OidcProvider:
    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        scopes: tuple[str, ...],
        acr_values: tuple[str, ...],
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.scopes = scopes
        self.acr_values = acr_values
        self._timeout = timeout
        self._transport = transport  # tests: the provider's answers without a network
        self._discovery: dict[str, Any] | None = None
        self._keys: PyJWKSet | None = None
        self._lock = asyncio.Lock()

    async def _get(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as client:
                response = await client.get(url, headers={"accept": "application/json"})
                response.raise_for_status()
                found: dict[str, Any] = response.json()
                return found
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderFailed(f"the identity provider did not answer {url}: {exc}") from exc

    async def discovery(self) -> dict[str, Any]:
        async with self._lock:
            if self._discovery is None:
                found = await self._get(self.issuer + "/.well-known/openid-configuration")
                if str(found.get("issuer", "")).rstrip("/") != self.issuer:
                    raise ProviderFailed(
                        f"the discovery document names another issuer: {found.get('issuer')}"
                    )
                self._discovery = found
            return self._discovery

    async def authorization_url(self, request: IdentityRequest, redirect_uri: str) -> str:
        endpoint = str((await self.discovery())["authorization_endpoint"])
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.scopes),
            "state": request.state,
            "nonce": request.nonce,
            "code_challenge": request.code_challenge,
            "code_challenge_method": "S256",
            # Asked, not trusted: the level the token states is checked on return.
            "acr_values": " ".join(self.acr_values),
            # A fresh sign-in (its time in the token, `auth_time`), never a session left open.
            "prompt": "login",
            "max_age": "300",
        }
        return f"{endpoint}?{urlencode(query)}"

    async def _key(self, token: str, refresh: bool) -> PyJWK:
        kid = jwt.get_unverified_header(token).get("kid")
        if self._keys is None or refresh:
            jwks_uri = str((await self.discovery())["jwks_uri"])
            self._keys = PyJWKSet.from_dict(await self._get(jwks_uri))
        usable = [k for k in self._keys.keys if k.public_key_use in (None, "sig")]
        for key in usable:
            if kid is None or key.key_id == kid:
                return key
        raise KeyError(kid)

    async def identify(self, request: IdentityRequest, code: str, redirect_uri: str) -> ProviderIdentity:
        endpoint = str((await self.discovery())["token_endpoint"])
        try:
            async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as client:
                response = await client.post(
                    endpoint,
                    data={
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": redirect_uri,
                        "code_verifier": request.code_verifier,
                    },
                    auth=(self.client_id, self._secret),  # client_secret_basic
                    headers={"accept": "application/json"},
                )
        except httpx.HTTPError as exc:
            raise ProviderFailed(f"the identity provider's token endpoint did not answer: {exc}") from exc
        if response.status_code != 200:
            raise ProviderFailed(
                f"the identity provider refused the code: {response.status_code} {response.text[:300]}"
            )
        try:
            id_token = str(response.json()["id_token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderFailed("the identity provider's answer has no ID token") from exc
        claims = await self.verified(id_token, request.nonce)
        auth_time = claims.get("auth_time")
        return ProviderIdentity(
            issuer=str(claims["iss"]),
            subject=str(claims["sub"]),
            acr=claims.get("acr") if isinstance(claims.get("acr"), str) else None,
            auth_time=datetime.fromtimestamp(auth_time, UTC) if isinstance(auth_time, int | float) else None,
            claims=claims,
        )

    async def verified(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims once its signature, issuer, audience, expiry and nonce are right."""
        try:
            try:
                key = await self._key(id_token, refresh=False)
            except KeyError:
                key = await self._key(id_token, refresh=True)
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key.key,
                algorithms=[a for a in ALGORITHMS if key.algorithm_name in (None, a)] or ALGORITHMS,
                audience=self.client_id,
                issuer=self.issuer,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except (jwt.PyJWTError, KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
            raise ProviderFailed(f"the ID token is not valid: {exc}") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise ProviderFailed("the ID token was issued to another party (azp)")
        if claims.get("nonce") != nonce:
            # A token minted for another sign-in (replayed, or injected): never ours.
            raise ProviderFailed("the ID token's nonce is not this sign-in's")
        return claims
