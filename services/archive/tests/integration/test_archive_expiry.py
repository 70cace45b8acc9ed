"""Expiry of letters' content on the real parts (RabbitMQ, PostgreSQL, SeaweedFS), with a
clock the tests move instead of waiting 48 hours or 16 days.

The archive runs in-process; the notice, the acceptance and the signed AR arrive as the
notifier and the pickup publish them; the sweeper is called as the periodic task calls it.
The download window runs from the AR's signature (rules profile).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from minio import Minio

from archive.adapters.postgres import unit_of_work, units_of_work
from archive.adapters.storage import S3ContentStore
from archive.bootstrap import bootstrap, download_links, http_site, object_store, retention_policy
from archive.domain.expiry import RetentionPolicy
from archive.service_layer.expiry import reschedule_all, sweep
from archive.service_layer.handlers import issue_download_link
from archive.settings import ArchiveSettings
from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from deploy.local.seaweed import SeaweedS3
from lre_shared.bus import Transaction, broker_user
from lre_shared.contracts import (
    ContentHandedOver,
    ContentHandoverFailed,
    Document,
    DownloadLinkIssued,
    IssueDownloadLink,
    LetterAccepted,
    LetterDeposited,
    NoticeChannel,
    NoticeKind,
    NoticeSent,
    SubmitLetter,
)
from lre_shared.runtime import ServiceRuntime
from lre_shared.topology import Service, events_exchange
from services.archive.tests.integration.served import (
    MovableClock,
    remove_bucket,
    signed_receipt,
)
from tests.support.bus import Probe, eventually, open_probe, publish, purge_queues

pytestmark = pytest.mark.integration

# Not the defaults (48 and 24 hours): the sweeper follows the settings.
DOWNLOAD = timedelta(hours=36)
GRACE = timedelta(hours=12)


@dataclass
class Archive:
    runtime: ServiceRuntime
    settings: ArchiveSettings
    clock: MovableClock
    s3: Minio

    @property
    def pool(self) -> asyncpg.Pool:
        return self.runtime.pool

    @property
    def policy(self) -> RetentionPolicy:
        return retention_policy(self.settings)

    async def sweep(self) -> int:
        return await sweep(units_of_work(lambda: self.pool), store=self.store, clock=self.clock)

    @property
    def store(self) -> S3ContentStore:
        return S3ContentStore(object_store(self.settings), self.settings.content_bucket)

    def objects(self, letter_id: uuid.UUID) -> list[str]:
        found = self.s3.list_objects(
            self.settings.content_bucket, prefix=f"letters/{letter_id}/", recursive=True
        )
        # SeaweedFS lists the emptied folder itself: only objects count.
        return [o.object_name for o in found if o.object_name is not None and not o.is_dir]


@pytest.fixture
async def archive(amqp_url: str, database_url: str, s3: SeaweedS3) -> AsyncIterator[Archive]:
    bucket = f"lre-exp-{uuid.uuid4().hex[:12]}"
    settings = ArchiveSettings(
        amqp_url=amqp_url,
        database_url=database_url,
        http_port=0,
        s3_endpoint=s3.endpoint,
        s3_access_key=s3.access_key,
        s3_secret_key=s3.secret_key,
        content_bucket=bucket,
        evidence_bucket=f"{bucket}-evidence",
        identity_bucket=f"{bucket}-identity",
        outbox_poll_seconds=0.2,
        zip_link_key=uuid.uuid4().hex,
        webhook_secrets_key=uuid.uuid4().hex,
        download_hours=36,
        unaccepted_grace_hours=12,
        trusted_publishers=(broker_user(amqp_url),),  # the tests publish as the platform's user
        sweep_seconds=3600,  # the tests sweep themselves, when they have moved the clock
    )
    clock = MovableClock(datetime.now(UTC))
    runtime = bootstrap(settings, clock=clock)
    await runtime.startup()
    try:
        await purge_queues(amqp_url, runtime)
        await runtime.bus.broker.start()
        try:
            yield Archive(runtime, settings, clock, s3.client())
        finally:
            await runtime.bus.broker.stop()
    finally:
        await runtime.shutdown()
        await runtime.after_shutdown()
        for name in (bucket, settings.evidence_bucket, settings.identity_bucket):
            await asyncio.to_thread(remove_bucket, s3.client(), name)


@pytest.fixture
async def probe(amqp_url: str) -> AsyncIterator[Probe]:
    async with open_probe(amqp_url, (events_exchange(Service.archive), "#")) as found:
        yield found


async def deposit(archive: Archive, probe: Probe, amqp_url: str) -> LetterDeposited:
    command = SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        main_document=Document(filename="lettre.pdf", content=demo_pdf("principal")),
        attachments=(Document(filename="annexe.pdf", content=demo_pdf("annexe")),),
    )
    await publish(amqp_url, command)
    message = await probe.wait_for(LetterDeposited.routing_key, command.correlation_id)
    return LetterDeposited.model_validate_json(message.body)


async def notice(archive: Archive, amqp_url: str, letter: LetterDeposited, sent_at: datetime) -> None:
    await publish(
        amqp_url,
        NoticeSent(
            correlation_id=letter.correlation_id,
            notice_id=uuid.uuid4(),
            item_number=letter.item_number,
            channel=NoticeChannel.email,
            address=letter.recipient.email,
            sent_at=sent_at,
            kind=NoticeKind.notice,
        ),
    )
    await eventually(lambda: column_set(archive, letter, "window_closes_at"))


async def accept(archive: Archive, amqp_url: str, letter: LetterDeposited, at: datetime) -> None:
    await publish(
        amqp_url,
        LetterAccepted(correlation_id=letter.correlation_id, item_number=letter.item_number, accepted_at=at),
    )
    await eventually(lambda: column_set(archive, letter, "accepted_at"))


async def sign_receipt(archive: Archive, amqp_url: str, letter: LetterDeposited, at: datetime) -> None:
    await publish(
        amqp_url,
        signed_receipt(letter, at),
    )
    await eventually(lambda: column_set(archive, letter, "receipt_signed_at"))


async def column_set(archive: Archive, letter: LetterDeposited, column: str) -> bool:
    row = await archive.pool.fetchrow("SELECT * FROM letters WHERE letter_id = $1", letter.correlation_id)
    return row is not None and row[column] is not None


async def download_link(archive: Archive, letter: LetterDeposited) -> DownloadLinkIssued:
    async with archive.pool.acquire() as conn, conn.transaction():
        reply = await issue_download_link(
            IssueDownloadLink(
                correlation_id=letter.correlation_id, document_id=letter.documents[0].document_id
            ),
            unit_of_work(Transaction(conn)),
            links=download_links(archive.settings),
            clock=archive.clock,
        )
    assert isinstance(reply, DownloadLinkIssued)
    return reply


async def download(archive: Archive, link: DownloadLinkIssued) -> bytes:
    """The document through its link, from the archive's own HTTP routes (in process)."""
    site = http_site(archive.runtime, archive.settings, store=archive.store, clock=archive.clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=site)) as client:
        response = await client.get(link.url)
    assert response.status_code == 200, response.text
    return response.content


# ----------------------------------------------------------------------------- tests


async def accept_and_sign(archive: Archive, amqp_url: str, letter: LetterDeposited, at: datetime) -> None:
    await accept(archive, amqp_url, letter, at)
    await sign_receipt(archive, amqp_url, letter, at)


async def test_content_never_downloaded_goes_the_download_hours_after_the_signature_with_a_handover_failure(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    letter = await deposit(archive, probe, amqp_url)
    picked_up = archive.clock.now()
    await notice(archive, amqp_url, letter, picked_up - timedelta(days=1))
    await accept_and_sign(archive, amqp_url, letter, picked_up)

    archive.clock.move_to(picked_up + DOWNLOAD - timedelta(seconds=1))
    assert await archive.sweep() == 0
    assert len(archive.objects(letter.correlation_id)) == 2

    archive.clock.move_to(picked_up + DOWNLOAD)
    assert await archive.sweep() == 1

    assert archive.objects(letter.correlation_id) == []
    message = await probe.wait_for(ContentHandoverFailed.routing_key, letter.correlation_id)
    failed = ContentHandoverFailed.model_validate_json(message.body)
    assert failed.item_number == letter.item_number
    assert failed.window_closed_at == picked_up + DOWNLOAD


async def test_a_sweep_run_again_deletes_nothing_more_and_announces_nothing_twice(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    letter = await deposit(archive, probe, amqp_url)
    picked_up = archive.clock.now()
    await accept_and_sign(archive, amqp_url, letter, picked_up)
    archive.clock.move_to(picked_up + DOWNLOAD + timedelta(days=3))

    assert await archive.sweep() == 1
    assert await archive.sweep() == 0

    await probe.wait_for(ContentHandoverFailed.routing_key, letter.correlation_id)
    await asyncio.sleep(1.0)  # the relay's poll interval, several times over
    assert len(probe.of(ContentHandoverFailed.routing_key, letter.correlation_id)) == 1


async def test_the_first_download_is_announced_once_and_spares_the_handover_failure(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    letter = await deposit(archive, probe, amqp_url)
    picked_up = archive.clock.now()
    await accept(archive, amqp_url, letter, picked_up)
    archive.clock.move_to(picked_up + timedelta(hours=1))
    refused = await download_link(archive, letter)  # accepted, the receipt not signed yet
    signed_at = picked_up + timedelta(minutes=90)
    await sign_receipt(archive, amqp_url, letter, signed_at)

    archive.clock.move_to(picked_up + timedelta(hours=2))
    unused = await download_link(archive, letter)
    # A link is not a download: the handover is the first document that went out whole.
    await asyncio.sleep(1.0)
    assert probe.of(ContentHandedOver.routing_key, letter.correlation_id) == []
    archive.clock.move_to(picked_up + timedelta(hours=3))
    downloaded = await download(archive, await download_link(archive, letter))
    archive.clock.move_to(picked_up + timedelta(hours=4))
    await download(archive, await download_link(archive, letter))
    assert refused.url == "" and refused.reason is not None and "not signed" in refused.reason
    assert unused.url
    assert downloaded.startswith(b"%PDF-")

    message = await probe.wait_for(ContentHandedOver.routing_key, letter.correlation_id)
    handed = ContentHandedOver.model_validate_json(message.body)
    assert handed.handed_over_at == picked_up + timedelta(hours=3)
    assert handed.document_id == letter.documents[0].document_id

    archive.clock.move_to(signed_at + DOWNLOAD)
    assert await archive.sweep() == 1
    assert archive.objects(letter.correlation_id) == []
    await asyncio.sleep(1.0)
    assert probe.of(ContentHandoverFailed.routing_key, letter.correlation_id) == []
    assert len(probe.of(ContentHandedOver.routing_key, letter.correlation_id)) == 1


async def test_after_the_sweep_a_download_link_is_refused_as_out_of_window(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    letter = await deposit(archive, probe, amqp_url)
    picked_up = archive.clock.now()
    await accept_and_sign(archive, amqp_url, letter, picked_up)
    archive.clock.move_to(picked_up + DOWNLOAD)
    await archive.sweep()

    reply = await download_link(archive, letter)

    assert reply.url == ""
    assert reply.reason is not None and "download window is over" in reply.reason


async def test_a_letter_never_accepted_keeps_its_content_until_its_window_closes_plus_grace(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    letter = await deposit(archive, probe, amqp_url)
    # Notice on 2 March 2026, 10:00 Paris: the 15 days run 3 to 17 March; the window
    # closes at midnight Paris time after the 17th.
    noticed = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    await notice(archive, amqp_url, letter, noticed)
    closes = datetime(2026, 3, 17, 23, 0, tzinfo=UTC)
    stored = await archive.pool.fetchval(
        "SELECT window_closes_at FROM letters WHERE letter_id = $1", letter.correlation_id
    )
    assert stored == closes

    archive.clock.move_to(closes + GRACE - timedelta(seconds=1))
    assert await archive.sweep() == 0
    assert len(archive.objects(letter.correlation_id)) == 2

    archive.clock.move_to(closes + GRACE)
    assert await archive.sweep() == 1
    assert archive.objects(letter.correlation_id) == []
    await asyncio.sleep(1.0)
    # Never accepted: nothing was owed to the recipient, so no ContentHandoverFailure
    # (the pickup's AcceptanceRejectionExpiry tells that story).
    assert probe.of(ContentHandoverFailed.routing_key, letter.correlation_id) == []


async def test_a_letter_whose_notice_never_left_is_left_to_the_bucket_lifecycle(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    letter = await deposit(archive, probe, amqp_url)

    archive.clock.move_to(archive.clock.now() + timedelta(days=60))

    assert await archive.sweep() == 0
    assert len(archive.objects(letter.correlation_id)) == 2


async def test_concurrent_sweepers_take_each_letter_once(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    picked_up = archive.clock.now()
    letters = [await deposit(archive, probe, amqp_url) for _ in range(6)]
    for letter in letters:
        await accept_and_sign(archive, amqp_url, letter, picked_up)
    archive.clock.move_to(picked_up + DOWNLOAD)

    counts = await asyncio.gather(*(archive.sweep() for _ in range(4)))

    assert sum(counts) == len(letters)
    for letter in letters:
        await probe.wait_for(ContentHandoverFailed.routing_key, letter.correlation_id)
        assert archive.objects(letter.correlation_id) == []
    await asyncio.sleep(1.0)
    for letter in letters:
        assert len(probe.of(ContentHandoverFailed.routing_key, letter.correlation_id)) == 1


async def test_a_sweep_restarted_after_its_objects_went_finishes_the_letter(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    letter = await deposit(archive, probe, amqp_url)
    picked_up = archive.clock.now()
    await accept_and_sign(archive, amqp_url, letter, picked_up)
    # A sweeper that crashed after deleting the objects and before its commit.
    for key in archive.objects(letter.correlation_id):
        archive.s3.remove_object(archive.settings.content_bucket, key)
    archive.clock.move_to(picked_up + DOWNLOAD)

    assert await archive.sweep() == 1

    await probe.wait_for(ContentHandoverFailed.routing_key, letter.correlation_id)
    deleted = await archive.pool.fetchval(
        "SELECT content_deleted_at FROM letters WHERE letter_id = $1", letter.correlation_id
    )
    assert deleted == picked_up + DOWNLOAD


async def test_signed_3_days_after_acceptance_the_documents_are_served_the_download_hours_after_signing(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    letter = await deposit(archive, probe, amqp_url)
    accepted_at = archive.clock.now()
    await notice(archive, amqp_url, letter, accepted_at - timedelta(hours=2))
    await accept(archive, amqp_url, letter, accepted_at)
    # The identity checked over a weekend (one-time code path): the AR signed 3 days later.
    signed_at = accepted_at + timedelta(days=3)
    archive.clock.move_to(signed_at - timedelta(minutes=1))
    assert await archive.sweep() == 0
    await sign_receipt(archive, amqp_url, letter, signed_at)

    archive.clock.move_to(signed_at + DOWNLOAD - timedelta(seconds=1))
    assert await archive.sweep() == 0
    served = await download(archive, await download_link(archive, letter))
    last_link = await download_link(archive, letter)

    archive.clock.move_to(signed_at + DOWNLOAD)
    refused = await download_link(archive, letter)  # due, even before the sweeper runs
    assert await archive.sweep() == 1

    assert served.startswith(b"%PDF-")
    assert refused.url == "" and refused.reason is not None and "download window is over" in refused.reason
    assert archive.objects(letter.correlation_id) == []
    site = http_site(archive.runtime, archive.settings, store=archive.store, clock=archive.clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=site)) as client:
        assert (await client.get(last_link.url)).status_code == 410


async def test_accepted_and_not_signed_the_content_waits_until_the_window_closes_plus_grace(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    letter = await deposit(archive, probe, amqp_url)
    noticed = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the window closes 17 March, 23:00 UTC
    closes = datetime(2026, 3, 17, 23, 0, tzinfo=UTC)
    accepted_at = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    await notice(archive, amqp_url, letter, noticed)
    await accept(archive, amqp_url, letter, accepted_at)

    archive.clock.move_to(accepted_at + DOWNLOAD + timedelta(days=1))
    assert await archive.sweep() == 0
    archive.clock.move_to(closes + GRACE - timedelta(seconds=1))
    assert await archive.sweep() == 0
    assert len(archive.objects(letter.correlation_id)) == 2

    archive.clock.move_to(closes + GRACE)
    assert await archive.sweep() == 1
    assert archive.objects(letter.correlation_id) == []
    message = await probe.wait_for(ContentHandoverFailed.routing_key, letter.correlation_id)
    assert ContentHandoverFailed.model_validate_json(message.body).window_closed_at == closes + GRACE


async def test_at_start_up_every_kept_letter_gets_the_expiry_the_rule_gives(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    letter = await deposit(archive, probe, amqp_url)
    signed_at = archive.clock.now()
    await accept_and_sign(archive, amqp_url, letter, signed_at)
    # A letter from before the expiry was stored.
    await archive.pool.execute(
        "UPDATE letters SET content_expires_at = NULL WHERE letter_id = $1", letter.correlation_id
    )

    assert await reschedule_all(units_of_work(lambda: archive.pool), policy=archive.policy) >= 1

    stored = await archive.pool.fetchval(
        "SELECT content_expires_at FROM letters WHERE letter_id = $1", letter.correlation_id
    )
    assert stored == signed_at + DOWNLOAD
