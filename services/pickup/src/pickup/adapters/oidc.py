"""The recipients' identity provider over OpenID Connect (FranceConnect+ in production, the
npm `oidc-provider` on a development machine), as `lre_shared.oidc`'s confidential client
that also asks for a level of assurance (`acr_values`) and a fresh sign-in. Its relying party
is built by `pickup.bootstrap` under the rules below (its algorithms, its clock skew).
"""

from __future__ import annotations

from datetime import UTC, datetime

from lre_shared.oidc import OidcFailed, RelyingParty
from pickup.domain.provider import IdentityRequest, ProviderIdentity
from pickup.service_layer.ports import ProviderFailed

# Asymmetric signatures only: an HS256 token would be signed with our own client secret.
ALGORITHMS = ("RS256", "PS256", "ES256", "RS384", "ES384", "RS512", "PS384", "PS512", "EdDSA")
CLOCK_SKEW_SECONDS = 60


class OidcProvider:
    def __init__(self, party: RelyingParty, *, scopes: tuple[str, ...], acr_values: tuple[str, ...]) -> None:
        self._party = party
        self.scopes = scopes
        self.acr_values = acr_values

    async def authorization_url(self, request: IdentityRequest, redirect_uri: str) -> str:
        try:
            return await self._party.authorization_url(
                redirect_uri=redirect_uri,
                scope=" ".join(self.scopes),
                state=request.state,
                nonce=request.nonce,
                code_challenge=request.code_challenge,
                extra={
                    # Asked, not trusted: the level the token states is checked on return.
                    "acr_values": " ".join(self.acr_values),
                    # A fresh sign-in (its time in the token, `auth_time`), never a session left open.
                    "prompt": "login",
                    "max_age": "300",
                },
            )
        except OidcFailed as exc:
            raise ProviderFailed(str(exc)) from exc

    async def identify(self, request: IdentityRequest, code: str, redirect_uri: str) -> ProviderIdentity:
        try:
            tokens = await self._party.exchange(code, request.code_verifier, redirect_uri)
            claims = await self._party.verify_id_token(tokens["id_token"], request.nonce)
        except OidcFailed as exc:
            raise ProviderFailed(str(exc)) from exc
        auth_time = claims.get("auth_time")
        return ProviderIdentity(
            issuer=str(claims["iss"]),
            subject=str(claims["sub"]),
            acr=claims.get("acr") if isinstance(claims.get("acr"), str) else None,
            auth_time=datetime.fromtimestamp(auth_time, UTC) if isinstance(auth_time, int | float) else None,
            claims=claims,
        )
