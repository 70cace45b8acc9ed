"""The organisation's OpenID provider as the desk console's confidential client sees it:
`lre_shared.oidc`'s relying party, asking the API's tokens by resource indicator (`resource`,
RFC 8707) when one is configured, and ending the provider's session on sign-out (RP-Initiated
Logout). Its failures become the console's: a sign-in to start again, or a provider down.
"""

from __future__ import annotations

from typing import Any

from lre_shared.oidc import CodeRefused, IdTokenRefused, OidcFailed, RelyingParty
from verification.service_layer.desk_sessions import ProviderUnavailable, SignInRefused, Tokens

# What the person reads when the ID token is not this sign-in's.
REFUSALS = {
    "nonce": "the ID token is not the one of this sign-in (nonce): start again",
    "azp": "the ID token was issued to another client (azp): start again",
}


class OidcProvider:
    def __init__(
        self, party: RelyingParty, *, redirect_uri: str, signed_out_uri: str, scope: str, resource: str | None
    ) -> None:
        self._party = party
        self.redirect_uri = redirect_uri
        self.signed_out_uri = signed_out_uri
        self.scope = scope
        self._resource = {"resource": resource} if resource else {}

    async def authorization_url(self, state: str, nonce: str, code_challenge: str) -> str:
        try:
            return await self._party.authorization_url(
                redirect_uri=self.redirect_uri,
                scope=self.scope,
                state=state,
                nonce=nonce,
                code_challenge=code_challenge,
                extra=self._resource,
            )
        except OidcFailed as exc:
            raise ProviderUnavailable(str(exc)) from exc

    async def exchange(self, code: str, code_verifier: str) -> Tokens:
        try:
            body = await self._party.exchange(code, code_verifier, self.redirect_uri, self._resource)
        except CodeRefused as exc:
            if exc.status == 400 and exc.error == "invalid_grant":
                # A code used twice, expired, or not issued for this verifier.
                raise SignInRefused(
                    400, "the identity provider did not take this sign-in's code: start again"
                ) from exc
            # invalid_client and the like: the desk's client settings, for an operator to fix.
            raise ProviderUnavailable(
                f"the token endpoint answered {exc.status} {str(exc.error)[:60]}"
            ) from exc
        except OidcFailed as exc:
            raise ProviderUnavailable(str(exc)) from exc
        access_token = body.get("access_token")
        if not isinstance(access_token, str):
            raise ProviderUnavailable("the token endpoint gave no access token")
        return Tokens(body["id_token"], access_token)

    async def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            await self._party.discovery()
        except OidcFailed as exc:
            raise ProviderUnavailable(str(exc)) from exc
        try:
            return await self._party.verify_id_token(id_token, nonce)
        except OidcFailed as exc:
            # A token that does not hold, or the provider's keys out of reach: start again.
            claim = exc.claim if isinstance(exc, IdTokenRefused) else None
            reason = REFUSALS.get(
                claim or "", f"the identity provider's ID token is not valid ({exc}): start again"
            )
            raise SignInRefused(400, reason) from exc

    async def end_session_url(self, id_token_hint: str) -> str | None:
        try:
            return await self._party.end_session_url(id_token_hint, self.signed_out_uri)
        except OidcFailed:
            return None
