"""Where a letter stands, as its sender asks (`get_letter_status.v1`): each step the archive
hears of (notice, acceptance, refusal, unclaimed, signed AR) or makes (first download, expiry)
moves `stage` and gives its time; `state` stays what became of the deposit."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest

from lre_shared.contracts import (
    DownloadLinkIssued,
    GetLetterStatus,
    IssueDownloadLink,
    LetterAccepted,
    LetterDeposited,
    LetterRefused,
    LetterStatus,
    LetterUnclaimed,
    NoticeChannel,
    NoticeKind,
    NoticeSent,
)
from lre_shared.rules import FR_LRE
from services.archive.tests.integration.served import ServedArchive, signed_receipt
from services.archive.tests.integration.test_archive_zip_status import deposit
from tests.support.bus import Probe, eventually, publish

pytestmark = pytest.mark.integration


async def status(archive: ServedArchive, letter: LetterDeposited) -> LetterStatus:
    return await archive.ask(
        GetLetterStatus(correlation_id=letter.correlation_id, sender_id=letter.sender.id), LetterStatus
    )


async def stage_becomes(archive: ServedArchive, letter: LetterDeposited, stage: str) -> LetterStatus:
    async def reached() -> bool:
        return (await status(archive, letter)).stage == stage

    await eventually(reached)
    return await status(archive, letter)


async def test_a_fresh_deposit_is_deposited(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    letter, _ = await deposit(amqp_url, archive_events)

    found = await status(served_archive, letter)

    assert (found.state, found.stage) == ("deposited", "deposited")
    assert found.notified_at is None


async def test_a_letter_whose_notice_left_is_notified_with_the_notice_s_time(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    letter, _ = await deposit(amqp_url, archive_events)
    sent_at = served_archive.clock.now() - timedelta(minutes=5)

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
    found = await stage_becomes(served_archive, letter, "notified")

    assert found.state == "deposited"
    assert found.notified_at == sent_at


async def test_a_refused_letter_reads_refused_with_its_time(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    letter, _ = await deposit(amqp_url, archive_events)
    refused_at = served_archive.clock.now()

    await publish(
        amqp_url,
        LetterRefused(
            correlation_id=letter.correlation_id, item_number=letter.item_number, refused_at=refused_at
        ),
    )
    found = await stage_becomes(served_archive, letter, "refused")

    assert found.state == "deposited"  # the deposit itself was taken
    assert found.refused_at == refused_at
    assert found.accepted_at is None


async def test_an_unclaimed_letter_reads_unclaimed_with_its_time(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    letter, _ = await deposit(amqp_url, archive_events)
    closed = served_archive.clock.now()

    await publish(
        amqp_url,
        LetterUnclaimed(
            correlation_id=letter.correlation_id,
            item_number=letter.item_number,
            window_closed_at=closed,
            occurred_at=closed,
        ),
    )
    found = await stage_becomes(served_archive, letter, "unclaimed")

    assert found.unclaimed_at == closed
    assert found.content_expires_at == closed + timedelta(hours=FR_LRE.content_grace_hours)


async def accepted_and_signed(served_archive: ServedArchive, amqp_url: str, letter: LetterDeposited) -> None:
    now = served_archive.clock.now()
    await publish(
        amqp_url,
        LetterAccepted(correlation_id=letter.correlation_id, item_number=letter.item_number, accepted_at=now),
    )
    await stage_becomes(served_archive, letter, "accepted")
    await publish(amqp_url, signed_receipt(letter, now + timedelta(hours=1)))


async def test_a_signed_letter_reads_signed_with_its_times_and_when_its_content_goes(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    letter, _ = await deposit(amqp_url, archive_events)
    accepted_at = served_archive.clock.now()

    await accepted_and_signed(served_archive, amqp_url, letter)
    found = await stage_becomes(served_archive, letter, "signed")

    assert found.accepted_at == accepted_at
    assert found.receipt_signed_at == accepted_at + timedelta(hours=1)
    assert found.content_expires_at == accepted_at + timedelta(hours=1 + FR_LRE.download_hours)


async def test_a_downloaded_letter_reads_downloaded_with_its_time(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    letter, _ = await deposit(amqp_url, archive_events)
    await accepted_and_signed(served_archive, amqp_url, letter)
    await stage_becomes(served_archive, letter, "signed")
    served_archive.clock.move_to(served_archive.clock.now() + timedelta(hours=2))

    link = await served_archive.ask(
        IssueDownloadLink(correlation_id=letter.correlation_id, document_id=letter.documents[0].document_id),
        DownloadLinkIssued,
    )
    async with httpx.AsyncClient() as client:
        assert (await client.get(link.url)).status_code == 200
    found = await stage_becomes(served_archive, letter, "downloaded")

    assert found.handed_over_at == served_archive.clock.now()


async def test_a_letter_never_downloaded_reads_expired_once_its_content_went(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    letter, _ = await deposit(amqp_url, archive_events)
    await accepted_and_signed(served_archive, amqp_url, letter)
    signed = await stage_becomes(served_archive, letter, "signed")
    assert signed.content_expires_at is not None

    served_archive.clock.move_to(signed.content_expires_at)
    assert await served_archive.sweep() >= 1
    found = await status(served_archive, letter)

    assert found.stage == "expired"
    assert found.content_deleted_at == signed.content_expires_at
    assert found.content_expires_at is None
