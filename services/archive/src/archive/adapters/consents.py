"""The consent registry in PostgreSQL (table `consents`, migration 0012): an append-only
history per sender and address key, which a trigger keeps as written."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from archive.domain.consent import Consent
from lre_shared.units import PgRepository, fetch_all, fetch_one

SELECT_CONSENTS = (
    "SELECT consent_id, sender_id, email, email_key, given_at, channel, consent_text AS text,"
    " text_sha256, reference, recorded_at, withdrawn_at, withdrawal_channel, withdrawal_recorded_at"
    " FROM consents WHERE sender_id = $1"
)


class PgConsents(PgRepository):
    async def hold(self, sender_id: str, email_key: str, *, shared: bool = False) -> None:
        lock = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        await self.conn.execute(
            f"SELECT {lock}(hashtextextended($1, 0))", f"lre-consent\n{sender_id}\n{email_key}"
        )

    async def latest(self, sender_id: str, email_key: str) -> Consent | None:
        return await fetch_one(
            self.conn,
            Consent,
            SELECT_CONSENTS + " AND email_key = $2 ORDER BY position DESC LIMIT 1",
            sender_id,
            email_key,
        )

    async def add(self, consent: Consent) -> None:
        await self.conn.execute(
            "INSERT INTO consents (consent_id, sender_id, email, email_key, given_at, channel,"
            " consent_text, text_sha256, reference, recorded_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            consent.consent_id,
            consent.sender_id,
            consent.email,
            consent.email_key,
            consent.given_at,
            consent.channel,
            consent.text,
            consent.text_sha256,
            consent.reference,
            consent.recorded_at,
        )

    async def record_withdrawal(
        self, consent_id: UUID, *, withdrawn_at: datetime, channel: str, recorded_at: datetime
    ) -> None:
        await self.conn.execute(
            "UPDATE consents SET withdrawn_at = $2, withdrawal_channel = $3, withdrawal_recorded_at = $4"
            " WHERE consent_id = $1 AND withdrawn_at IS NULL",
            consent_id,
            withdrawn_at,
            channel,
            recorded_at,
        )

    async def history(self, sender_id: str, email_key: str | None = None) -> list[Consent]:
        return await fetch_all(
            self.conn,
            Consent,
            SELECT_CONSENTS + " AND ($2::text IS NULL OR email_key = $2) ORDER BY position",
            sender_id,
            email_key,
        )
