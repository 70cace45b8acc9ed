"""The whole letter as one zip through its signed link, the envelope proof kept for it, the
unclaimed letter's expiry, and the sender's status query, on the real parts."""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from archive.service_layer.uploads import content_key
from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from lre_shared.contracts import (
    ContentHandedOver,
    Document,
    DownloadLinkIssued,
    GetLetterStatus,
    IssueDownloadLink,
    IssueZipLink,
    LetterAccepted,
    LetterDeposited,
    LetterRejected,
    LetterStatus,
    LetterUnclaimed,
    ProofIssued,
    ProofKind,
    StoredDocument,
    SubmitLetter,
    ZipLinkIssued,
)
from services.archive.tests.integration.served import ServedArchive, signed_receipt
from tests.support.bus import Probe, eventually, publish
from tests.support.documents import one_byte_changed

pytestmark = pytest.mark.integration

GRACE = timedelta(hours=24)


async def deposit(
    amqp_url: str, probe: Probe, key: str | None = None
) -> tuple[LetterDeposited, dict[str, bytes]]:
    contents = {
        "mise-en-demeure.pdf": demo_pdf("Principal " + uuid.uuid4().hex),
        "annexe.pdf": demo_pdf("Annexe " + uuid.uuid4().hex),
    }
    command = SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        main_document=Document(filename="mise-en-demeure.pdf", content=contents["mise-en-demeure.pdf"]),
        attachments=(Document(filename="annexe.pdf", content=contents["annexe.pdf"]),),
        idempotency_key=key,
    )
    await publish(amqp_url, command)
    message = await probe.wait_for(LetterDeposited.routing_key, command.correlation_id)
    return LetterDeposited.model_validate_json(message.body), contents


async def envelope(archive: ServedArchive, amqp_url: str, letter: LetterDeposited, text: str) -> bytes:
    pdf = demo_pdf(text)
    await publish(
        amqp_url,
        ProofIssued(
            correlation_id=letter.correlation_id,
            item_number=letter.item_number,
            kind=ProofKind.envelope,
            filename=f"pli_{letter.item_number}.pdf",
            pdf=pdf,
            sha256=hashlib.sha256(pdf).hexdigest(),
        ),
    )
    digest = hashlib.sha256(pdf).hexdigest()

    async def kept() -> bool:
        found = await archive.pool.fetchval(
            "SELECT sha256 FROM envelopes WHERE letter_id = $1", letter.correlation_id
        )
        return bool(found == digest)

    await eventually(kept)
    return pdf


async def accept_and_sign(archive: ServedArchive, amqp_url: str, letter: LetterDeposited) -> None:
    now = archive.clock.now()
    await publish(
        amqp_url,
        LetterAccepted(correlation_id=letter.correlation_id, item_number=letter.item_number, accepted_at=now),
        signed_receipt(letter, now),
    )

    async def signed() -> bool:
        return bool(
            await archive.pool.fetchval(
                "SELECT accepted_at IS NOT NULL AND receipt_signed_at IS NOT NULL FROM letters"
                " WHERE letter_id = $1",
                letter.correlation_id,
            )
        )

    await eventually(signed)


async def zip_link(archive: ServedArchive, letter: LetterDeposited) -> ZipLinkIssued:
    return await archive.ask(IssueZipLink(correlation_id=letter.correlation_id), ZipLinkIssued)


async def document_link(
    archive: ServedArchive, letter: LetterDeposited, document: StoredDocument
) -> DownloadLinkIssued:
    return await archive.ask(
        IssueDownloadLink(correlation_id=letter.correlation_id, document_id=document.document_id),
        DownloadLinkIssued,
    )


def tampered(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query)) | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


# ----------------------------------------------------------------------------- zip


async def test_the_zip_link_streams_documents_and_the_latest_envelope_and_counts_as_the_first_download(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    archive = served_archive
    letter, contents = await deposit(amqp_url, archive_events)
    await envelope(archive, amqp_url, letter, "Enveloppe, premiere version")
    latest = await envelope(archive, amqp_url, letter, "Enveloppe, version finale")
    await accept_and_sign(archive, amqp_url, letter)

    link = await zip_link(archive, letter)
    async with httpx.AsyncClient() as client:
        response = await client.get(link.url)

    assert link.reason is None and link.url.startswith(archive.url)
    assert link.filename == f"pli_{letter.item_number}.zip"
    assert link.expires_at == archive.clock.now() + timedelta(seconds=archive.settings.zip_link_seconds)
    assert response.status_code == 200
    assert link.filename in response.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archived:
        assert archived.testzip() is None
        assert archived.namelist() == ["mise-en-demeure.pdf", "annexe.pdf", f"pli_{letter.item_number}.pdf"]
        for name, content in contents.items():
            assert archived.read(name) == content
        assert archived.read(f"pli_{letter.item_number}.pdf") == latest
    handed = await archive_events.wait_for(ContentHandedOver.routing_key, letter.correlation_id)
    assert ContentHandedOver.model_validate_json(handed.body).document_id == letter.documents[0].document_id
    # The replaced envelope stays until the content goes (a zip streamed meanwhile may read it).
    assert len(archive.keys(f"letters/{letter.correlation_id}/")) == 4


async def test_no_zip_link_before_the_receipt_is_signed(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    archive = served_archive
    letter, _ = await deposit(amqp_url, archive_events)
    before_acceptance = await zip_link(archive, letter)
    await publish(
        amqp_url,
        LetterAccepted(
            correlation_id=letter.correlation_id,
            item_number=letter.item_number,
            accepted_at=archive.clock.now(),
        ),
    )
    await eventually(
        lambda: archive.pool.fetchval(
            "SELECT accepted_at IS NOT NULL FROM letters WHERE letter_id = $1", letter.correlation_id
        )
    )

    before_receipt = await zip_link(archive, letter)

    assert before_acceptance.url == "" and "not accepted" in (before_acceptance.reason or "")
    assert before_receipt.url == "" and "receipt is not signed" in (before_receipt.reason or "")


async def test_a_zip_link_waits_for_the_envelope_proof_after_the_signature_then_goes_without_it(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    archive = served_archive
    waited, late = [await deposit(amqp_url, archive_events) for _ in range(2)]
    for letter, _ in (waited, late):
        await accept_and_sign(archive, amqp_url, letter)

    # Just signed, the signer's first envelope not here yet: not ready, for both letters.
    not_ready = [await zip_link(archive, letter) for letter, _ in (waited, late)]
    proof = await envelope(archive, amqp_url, waited[0], "Enveloppe")
    ready = await zip_link(archive, waited[0])
    wait = timedelta(seconds=archive.settings.zip_envelope_wait_seconds)
    archive.clock.move_to(archive.clock.now() + wait - timedelta(seconds=1))
    still_waiting = await zip_link(archive, late[0])
    archive.clock.move_to(archive.clock.now() + timedelta(seconds=1))
    without = await zip_link(archive, late[0])
    async with httpx.AsyncClient() as client:
        with_envelope = await client.get(ready.url)
        without_envelope = await client.get(without.url)

    for refused in (*not_ready, still_waiting):
        assert refused.url == "" and "envelope proof is on its way" in (refused.reason or "")
    with zipfile.ZipFile(io.BytesIO(with_envelope.content)) as archived:
        assert archived.read(f"pli_{waited[0].item_number}.pdf") == proof
    with zipfile.ZipFile(io.BytesIO(without_envelope.content)) as archived:
        assert archived.namelist() == ["mise-en-demeure.pdf", "annexe.pdf"]


async def test_a_tampered_or_expired_zip_link_is_refused(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    archive = served_archive
    letter, _ = await deposit(amqp_url, archive_events)
    other, _ = await deposit(amqp_url, archive_events)
    for signed in (letter, other):
        await envelope(archive, amqp_url, signed, "Enveloppe")
        await accept_and_sign(archive, amqp_url, signed)
    link = await zip_link(archive, letter)
    query = dict(parse_qsl(urlsplit(link.url).query))
    later = str(int(query["expires"]) + 3600)

    async with httpx.AsyncClient() as client:
        forged_token = await client.get(tampered(link.url, token=query["token"][:-2] + "AA"))
        longer = await client.get(tampered(link.url, expires=later))
        other_letter = await client.get(
            link.url.replace(str(letter.correlation_id), str(other.correlation_id))
        )
        archive.clock.move_to(link.expires_at or datetime.now(UTC))
        expired = await client.get(link.url)

    assert [r.status_code for r in (forged_token, longer, other_letter, expired)] == [403] * 4
    assert "expired" in expired.text
    await archive_events.wait_for(LetterDeposited.routing_key, other.correlation_id)
    assert not archive_events.of(ContentHandedOver.routing_key, letter.correlation_id)


async def test_a_tampered_or_expired_document_link_is_refused(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    archive = served_archive
    letter, _ = await deposit(amqp_url, archive_events)
    await accept_and_sign(archive, amqp_url, letter)
    main, annex = letter.documents
    link = await document_link(archive, letter, main)
    query = dict(parse_qsl(urlsplit(link.url).query))

    async with httpx.AsyncClient() as client:
        forged_token = await client.get(tampered(link.url, token=query["token"][:-2] + "AA"))
        longer = await client.get(tampered(link.url, expires=str(int(query["expires"]) + 3600)))
        other_document = await client.get(link.url.replace(str(main.document_id), str(annex.document_id)))
        archive.clock.move_to(archive.clock.now() + timedelta(seconds=archive.settings.download_link_seconds))
        expired = await client.get(link.url)

    assert [r.status_code for r in (forged_token, longer, other_document, expired)] == [403] * 4
    assert "expired" in expired.text
    await asyncio.sleep(0.5)
    assert not archive_events.of(ContentHandedOver.routing_key, letter.correlation_id)


async def test_altered_stored_bytes_break_the_zip_download_and_count_no_handover(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    archive = served_archive
    letter, contents = await deposit(amqp_url, archive_events)
    await envelope(archive, amqp_url, letter, "Enveloppe")
    await accept_and_sign(archive, amqp_url, letter)
    annex = letter.documents[1]
    altered = one_byte_changed(contents["annexe.pdf"])
    archive.s3.put_object(
        archive.bucket, content_key(letter.correlation_id, annex.sha256), io.BytesIO(altered), len(altered)
    )
    link = await zip_link(archive, letter)

    received = bytearray()
    status: list[int] = []

    async def download() -> None:
        async with httpx.AsyncClient() as client, client.stream("GET", link.url) as response:
            status.append(response.status_code)
            async for chunk in response.aiter_bytes():
                received.extend(chunk)

    with pytest.raises(httpx.RemoteProtocolError):
        await download()

    assert status == [200]  # the headers left before the bad bytes were found
    assert received  # the main document went out, then the stream broke
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(bytes(received)))
    assert not archive_events.of(ContentHandedOver.routing_key, letter.correlation_id)
    assert (
        await archive.pool.fetchval(
            "SELECT handed_over_at FROM letters WHERE letter_id = $1", letter.correlation_id
        )
        is None
    )


async def test_altered_stored_bytes_never_reach_a_document_download_whole(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    archive = served_archive
    letter, contents = await deposit(amqp_url, archive_events)
    await accept_and_sign(archive, amqp_url, letter)
    main, annex = letter.documents
    altered = one_byte_changed(contents["annexe.pdf"])
    archive.s3.put_object(
        archive.bucket, content_key(letter.correlation_id, annex.sha256), io.BytesIO(altered), len(altered)
    )
    received = bytearray()

    async def download(document: StoredDocument) -> None:
        link = await document_link(archive, letter, document)
        async with httpx.AsyncClient() as client, client.stream("GET", link.url) as response:
            assert response.status_code == 200
            assert response.headers["content-length"] == str(document.size)
            async for chunk in response.aiter_bytes():
                received.extend(chunk)

    # The length was announced, the bytes held back from the end: an incomplete download.
    with pytest.raises(httpx.RemoteProtocolError):
        await download(annex)
    assert len(received) < len(altered)
    await asyncio.sleep(0.5)
    assert not archive_events.of(ContentHandedOver.routing_key, letter.correlation_id)

    received.clear()
    await download(main)
    assert bytes(received) == contents["mise-en-demeure.pdf"]
    handed = await archive_events.wait_for(ContentHandedOver.routing_key, letter.correlation_id)
    assert ContentHandedOver.model_validate_json(handed.body).document_id == main.document_id


# ---------------------------------------------------------------------- expiry


async def test_an_unclaimed_letter_loses_its_content_and_envelope_at_window_close_plus_grace(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    archive = served_archive
    letter, _ = await deposit(amqp_url, archive_events)
    await envelope(archive, amqp_url, letter, "Enveloppe")
    await envelope(archive, amqp_url, letter, "Enveloppe, avec un enregistrement de plus")
    closed = archive.clock.now() + timedelta(days=16)
    # No notice reached the archive: the pickup's unclaimed event alone sets the window.
    await publish(
        amqp_url,
        LetterUnclaimed(
            correlation_id=letter.correlation_id, item_number=letter.item_number, window_closed_at=closed
        ),
    )
    await eventually(
        lambda: archive.pool.fetchval(
            "SELECT unclaimed_at IS NOT NULL FROM letters WHERE letter_id = $1", letter.correlation_id
        )
    )

    archive.clock.move_to(closed + GRACE - timedelta(seconds=1))
    assert await archive.sweep() == 0
    assert len(archive.keys(f"letters/{letter.correlation_id}/")) == 4

    archive.clock.move_to(closed + GRACE)
    assert await archive.sweep() == 1
    assert archive.keys(f"letters/{letter.correlation_id}/") == []
    link = await zip_link(archive, letter)
    assert link.url == ""


# ---------------------------------------------------------------------- status


async def test_the_status_query_tells_a_deposit_a_refusal_and_nothing_of_other_senders(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    archive = served_archive
    key = f"key-{uuid.uuid4().hex}"
    letter, _ = await deposit(amqp_url, archive_events, key=key)
    refused = SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT.model_copy(update={"email": "nope"}),
        main_document=Document(filename="l.pdf", content=demo_pdf()),
        idempotency_key="refused-" + key,
    )
    await publish(amqp_url, refused)
    await archive_events.wait_for(LetterRejected.routing_key, refused.correlation_id)

    def ask(letter_id: uuid.UUID, sender: str = DEMO_SENDER.id, key: str | None = None) -> GetLetterStatus:
        return GetLetterStatus(correlation_id=letter_id, sender_id=sender, idempotency_key=key)

    by_id = await archive.ask(ask(letter.correlation_id), LetterStatus)
    by_key = await archive.ask(ask(uuid.uuid4(), key=key), LetterStatus)
    rejection = await archive.ask(ask(uuid.uuid4(), key="refused-" + key), LetterStatus)
    stranger = await archive.ask(ask(letter.correlation_id, sender="someone-else"), LetterStatus)

    assert (by_id.state, by_id.item_number, by_id.letter_id) == (
        "deposited",
        letter.item_number,
        letter.correlation_id,
    )
    assert by_id.deposited_at == letter.deposited_at
    assert (by_key.state, by_key.letter_id) == ("deposited", letter.correlation_id)
    assert (rejection.state, rejection.letter_id) == ("rejected", refused.correlation_id)
    assert [p.field for p in rejection.problems] == ["recipient.email"]
    assert stranger.state == "unknown" and stranger.item_number is None
