"""The consent registry in PostgreSQL (CPCE L.100): the history as written, the latest entry
as the current state, a withdrawal recorded once, and nothing ever deleted or rewritten."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from archive.adapters.consents import PgConsents
from archive.bootstrap import MIGRATIONS
from archive.domain.consent import Consent, email_key
from archive.entrypoints import admin, consents_admin
from lre_shared.db import migrate

pytestmark = pytest.mark.integration

GIVEN = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TEXT = "J'accepte de recevoir des lettres recommandées électroniques.\nFait à Paris."


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    await migrate(database_url, MIGRATIONS)
    connection = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


def a_consent(email: str = "Camille@Exemple.example", given_at: datetime = GIVEN) -> Consent:
    return Consent(
        consent_id=uuid.uuid4(),
        sender_id="demo-sender",
        email=email,
        email_key=email_key(email),
        given_at=given_at,
        channel="web_form",
        text=TEXT,
        text_sha256=hashlib.sha256(TEXT.encode()).hexdigest(),
        reference="form-117",
        recorded_at=given_at + timedelta(minutes=1),
    )


async def test_the_latest_entry_is_the_current_state_and_the_history_keeps_every_one(
    conn: asyncpg.Connection,
) -> None:
    consents = PgConsents(conn)
    first, again = a_consent(), a_consent(given_at=GIVEN + timedelta(days=5))
    await consents.add(first)
    await consents.record_withdrawal(
        first.consent_id, withdrawn_at=GIVEN + timedelta(days=1), channel="email", recorded_at=GIVEN
    )
    await consents.add(again)

    latest = await consents.latest("demo-sender", "camille@exemple.example")
    history = await consents.history("demo-sender", "camille@exemple.example")

    assert latest == again
    assert [c.consent_id for c in history] == [first.consent_id, again.consent_id]
    assert history[0].withdrawn_at == GIVEN + timedelta(days=1)
    assert history[0].text == TEXT  # byte for byte, line break included
    assert await consents.latest("another-sender", "camille@exemple.example") is None


async def test_no_entry_is_deleted_or_rewritten_and_a_withdrawal_is_recorded_once(
    conn: asyncpg.Connection,
) -> None:
    consents = PgConsents(conn)
    consent = a_consent()
    await consents.add(consent)

    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await conn.execute("DELETE FROM consents WHERE consent_id = $1", consent.consent_id)
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await conn.execute(
            "UPDATE consents SET consent_text = 'autre' WHERE consent_id = $1", consent.consent_id
        )
    withdrawn_at = GIVEN + timedelta(days=1)
    await consents.record_withdrawal(
        consent.consent_id, withdrawn_at=withdrawn_at, channel="paper", recorded_at=GIVEN
    )
    # Once withdrawn, the entry is closed: a second withdrawal changes nothing.
    await consents.record_withdrawal(
        consent.consent_id, withdrawn_at=withdrawn_at + timedelta(days=1), channel="email", recorded_at=GIVEN
    )
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await conn.execute(
            "UPDATE consents SET withdrawn_at = now() WHERE consent_id = $1", consent.consent_id
        )

    [kept] = await consents.history("demo-sender")
    assert (kept.withdrawn_at, kept.withdrawal_channel) == (withdrawn_at, "paper")


async def test_the_operator_lists_a_senders_history_current_and_withdrawn(
    conn: asyncpg.Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    consents = PgConsents(conn)
    first, again = a_consent(), a_consent("camille@exemple.example", GIVEN + timedelta(days=5))
    await consents.add(first)
    await consents.record_withdrawal(
        first.consent_id, withdrawn_at=GIVEN + timedelta(days=1), channel="email", recorded_at=GIVEN
    )
    await consents.add(again)
    for name, value in {
        "DATABASE_URL": database_url,
        "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/",
        "S3_ENDPOINT": "http://127.0.0.1:9",
        "S3_ACCESS_KEY": "unused",
        "S3_SECRET_KEY": "unused",
        "ZIP_LINK_KEY": "unused",
        "WEBHOOK_SECRETS_KEY": "w" * 32,
    }.items():
        monkeypatch.setenv(f"ARCHIVE_{name}", value)
    arguments = admin.parser().parse_args(
        ["consent", "list", "demo-sender", "--email", "CAMILLE@exemple.example", "--no-evidence"]
    )
    out = io.StringIO()

    code = await consents_admin.list_consents(arguments, out)

    shown = out.getvalue()
    assert code == 0
    assert f"consent {first.consent_id}  withdrawn" in shown
    assert f"consent {again.consent_id}  CURRENT" in shown
    assert first.text_sha256 in shown and "form-117" in shown
