"""The organisation's OpenID provider as the desk console's confidential client sees it:
discovery (`<issuer>/.well-known/openid-configuration`), the authorization request with PKCE
(RFC 7636) and, when the API's tokens are asked by resource indicator, `resource` (RFC 8707),
the token request authenticated with the client's secret (`client_secret_basic`), the ID
token's verification (OpenID Connect Core §3.1.3.7) and the end-session endpoint (RP-Initiated
Logout).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx

from verification.adapters.agents import TokenVerifier, Unauthenticated
from verification.service_layer.desk_sessions import ProviderUnavailable, SignInRefused, Tokens

DISCOVERY_SECONDS = 3600.0


def _with_query(endpoint: str, params: dict[str, str]) -> str:
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)


class OidcProvider:
    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        signed_out_uri: str,
        scope: str,
        resource: str | None,
        timeout: float = 10.0,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self._secret = client_secret
        self.redirect_uri = redirect_uri
        self.signed_out_uri = signed_out_uri
        self.scope = scope
        self.resource = resource
        self.timeout = timeout
        self._discovered: tuple[float, dict[str, Any]] | None = None
        self._id_tokens: TokenVerifier | None = None

    async def _discovery(self) -> dict[str, Any]:
        if self._discovered is not None and time.monotonic() - self._discovered[0] < DISCOVERY_SECONDS:
            return self._discovered[1]
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                response = await http.get(url)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"no discovery document at {url}: {exc}") from exc
        # OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
        if not isinstance(document, dict) or document.get("issuer") != self.issuer:
            raise ProviderUnavailable(f"the discovery document at {url} names another issuer")
        for needed in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(needed), str):
                raise ProviderUnavailable(f"the discovery document at {url} has no {needed}")
        if self._id_tokens is None or self._discovered is None or self._discovered[1] != document:
            self._id_tokens = TokenVerifier(
                issuer=self.issuer, audience=self.client_id, roles_claim="", jwks_url=document["jwks_uri"]
            )
        self._discovered = (time.monotonic(), document)
        return document

    async def authorization_url(self, state: str, nonce: str, code_challenge: str) -> str:
        discovery = await self._discovery()
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        if self.resource:
            params["resource"] = self.resource
        return _with_query(discovery["authorization_endpoint"], params)

    async def exchange(self, code: str, code_verifier: str) -> Tokens:
        discovery = await self._discovery()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": code_verifier,
        }
        if self.resource:
            form["resource"] = self.resource
        # RFC 6749 §2.3.1: the id and secret are form-encoded before they go in Basic.
        auth = httpx.BasicAuth(quote_plus(self.client_id), quote_plus(self._secret))
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                response = await http.post(discovery["token_endpoint"], data=form, auth=auth)
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"the token endpoint failed: {exc}") from exc
        if not isinstance(body, dict):
            raise ProviderUnavailable("the token endpoint answered no JSON object")
        if response.status_code == 400 and body.get("error") == "invalid_grant":
            # A code used twice, expired, or not issued for this verifier.
            raise SignInRefused(400, "the identity provider did not take this sign-in's code: start again")
        if response.status_code != 200:
            # invalid_client and the like: the desk's client settings, for an operator to fix.
            raise ProviderUnavailable(
                f"the token endpoint answered {response.status_code} {str(body.get('error'))[:60]}"
            )
        id_token, access_token = body.get("id_token"), body.get("access_token")
        if not isinstance(id_token, str) or not isinstance(access_token, str):
            raise ProviderUnavailable("the token endpoint gave no ID token or no access token")
        return Tokens(id_token, access_token)

    async def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        await self._discovery()
        assert self._id_tokens is not None
        try:
            # Signature under the provider's keys (RS256 or ES256 only), iss, aud, exp, sub.
            claims = await asyncio.to_thread(self._id_tokens.verify, id_token)
        except Unauthenticated as exc:
            raise SignInRefused(
                400, f"the identity provider's ID token is not valid ({exc}): start again"
            ) from exc
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise SignInRefused(400, "the ID token is not the one of this sign-in (nonce): start again")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise SignInRefused(400, "the ID token was issued to another client (azp): start again")
        return claims

    async def end_session_url(self, id_token_hint: str) -> str | None:
        try:
            endpoint = (await self._discovery()).get("end_session_endpoint")
        except ProviderUnavailable:
            return None
        if not isinstance(endpoint, str):
            return None
        return _with_query(
            endpoint,
            {
                "id_token_hint": id_token_hint,
                "post_logout_redirect_uri": self.signed_out_uri,
                "client_id": self.client_id,
            },
        )
