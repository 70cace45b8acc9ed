"""The registry of sender systems (`senders`), in the archive's database."""

from __future__ import annotations

from datetime import datetime

from archive.service_layer.senders import RegisteredSender
from lre_shared.units import PgRepository, fetch_all, fetch_one

SENDERS = "SELECT sender_id, name, added_at, password_set_at, removed_at FROM senders"


class PgSenderRegistry(PgRepository):
    async def get(self, sender_id: str) -> RegisteredSender | None:
        return await fetch_one(
            self.conn, RegisteredSender, SENDERS + " WHERE sender_id = $1 FOR UPDATE", sender_id
        )

    async def add(self, sender_id: str, name: str, now: datetime) -> None:
        # A sender removed before comes back under the same id: its letters already name it.
        await self.conn.execute(
            "INSERT INTO senders (sender_id, name, added_at, password_set_at) VALUES ($1, $2, $3, $3)"
            " ON CONFLICT (sender_id) DO UPDATE SET name = EXCLUDED.name, added_at = EXCLUDED.added_at,"
            " password_set_at = EXCLUDED.password_set_at, removed_at = NULL",
            sender_id,
            name,
            now,
        )

    async def password_set(self, sender_id: str, now: datetime) -> None:
        await self.conn.execute(
            "UPDATE senders SET password_set_at = $2 WHERE sender_id = $1", sender_id, now
        )

    async def remove(self, sender_id: str, now: datetime) -> None:
        await self.conn.execute("UPDATE senders SET removed_at = $2 WHERE sender_id = $1", sender_id, now)

    async def listing(self, *, removed: bool) -> list[RegisteredSender]:
        return await fetch_all(
            self.conn,
            RegisteredSender,
            SENDERS + " WHERE $1 OR removed_at IS NULL ORDER BY sender_id",
            removed,
        )
