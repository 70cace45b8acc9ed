"""The notifier SIGKILLed right after the SMTP server accepted a notice, before anything of
it was committed: restarted, it sends the notice again with the same Message-ID (mail systems
and the recipient's client see one message), and the notice has one `sent` outcome and one
`NoticeSent`, the evidence's source (docs/OPERATIONS.md: the remaining window)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

import asyncpg
import pytest

from lre_shared.contracts import NoticeSent, SendNotice
from lre_shared.topology import Service, events_exchange, queue_name
from tests.support.bus import eventually, open_probe, publish_raw, queue_depth
from tests.support.fixtures import SmtpServer
from tests.support.running import RunningPlatform

pytestmark = pytest.mark.e2e

QUEUE = queue_name(Service.notifier, SendNotice)


async def test_a_notice_accepted_before_a_crash_is_resent_once_with_the_same_message_id(
    services: RunningPlatform, smtp: SmtpServer
) -> None:
    amqp_url = services.amqp_url
    services.start("notifier", fault="kill-after-smtp-acceptance")
    command = SendNotice(
        correlation_id=uuid.uuid4(),
        item_number=f"{uuid.uuid4().int % 10**12:012d}",
        address=f"destinataire-{uuid.uuid4().hex[:10]}@exemple.example",
        deadline=date.today() + timedelta(days=15),
    )
    async with open_probe(amqp_url, (events_exchange(Service.notifier), "notice.*.v1")) as probe:
        await publish_raw(
            amqp_url, command.exchange, command.routing_key, command.to_json(), str(command.message_id)
        )

        # The server took the notice; the notifier died before recording it.
        crashed = services.processes.pop("notifier")
        assert await asyncio.to_thread(crashed.wait, 60) == -9
        first = [m for m in smtp.store.messages if m["To"] == command.address]
        assert len(first) == 1
        assert await _outcomes(services, command.message_id) == ["sending"]

        services.start("notifier")
        await eventually(lambda: bool(probe.of(NoticeSent.routing_key, command.correlation_id)), 60)
        await eventually(lambda: _queue_empty(amqp_url), 30)
        await asyncio.sleep(1.0)  # time for a second event, were there one

        emails = [m for m in smtp.store.messages if m["To"] == command.address]
        assert len(emails) == 2
        assert emails[0]["Message-ID"] == emails[1]["Message-ID"]
        assert emails[0]["Message-ID"].endswith("@" + services.config.mail_from.rpartition("@")[2] + ">")
        [event] = probe.about(command.correlation_id)
        sent = NoticeSent.model_validate_json(event.body)
        assert sent.provider_message_id == emails[0]["Message-ID"]
    assert await _outcomes(services, command.message_id) == ["sending", "sending", "sent"]


async def _queue_empty(amqp_url: str) -> bool:
    return await queue_depth(amqp_url, QUEUE) == 0


async def _outcomes(services: RunningPlatform, notice_id: uuid.UUID) -> list[str]:
    conn = await asyncpg.connect(services.database_url("notifier"))
    try:
        rows = await conn.fetch(
            "SELECT outcome FROM delivery_attempts WHERE notice_id = $1 ORDER BY id", notice_id
        )
    finally:
        await conn.close()
    return [row["outcome"] for row in rows]
