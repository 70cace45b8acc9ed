"""Documents uploaded through presigned URLs, then deposited by reference, on the real parts.

The sender asks for an upload (on the bus, or over HTTP with its bearer token), PUTs the
bytes to SeaweedFS with httpx, and deposits a `SubmitLetter` naming the upload id.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import httpx
import pytest

from archive.service_layer.uploads import content_key
from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from lre_shared.contracts import (
    Document,
    LetterDeposited,
    LetterRejected,
    RequestUpload,
    SubmitLetter,
    UploadGranted,
)
from services.archive.tests.integration.served import (
    DOCUMENT_LIMIT,
    EMBEDDED_LIMIT,
    SENDER_TOKEN,
    ServedArchive,
)
from tests.support.bus import Probe, publish
from tests.support.documents import encrypted, pdf_of_at_least

pytestmark = pytest.mark.integration


async def granted(
    archive: ServedArchive,
    filename: str = "contrat.pdf",
    size: int | None = None,
    letter_id: uuid.UUID | None = None,
    sha256: str | None = None,
) -> UploadGranted:
    query = RequestUpload(
        correlation_id=letter_id or uuid.uuid4(),
        sender_id=DEMO_SENDER.id,
        filename=filename,
        size=size,
        sha256=sha256,
    )
    reply = await archive.ask(query, UploadGranted)
    assert reply.upload_id is not None, reply.reason
    return reply


async def put(grant: UploadGranted, content: bytes) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.put(grant.url, content=content, headers=grant.headers)


async def upload(archive: ServedArchive, content: bytes, filename: str = "contrat.pdf") -> uuid.UUID:
    grant = await granted(archive, filename)
    response = await put(grant, content)
    assert response.status_code == 200, response.text
    assert grant.upload_id is not None
    return grant.upload_id


def by_reference(main: uuid.UUID, *attachments: uuid.UUID, key: str | None = None) -> SubmitLetter:
    return SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        main_upload_id=main,
        attachment_upload_ids=attachments,
        idempotency_key=key,
    )


async def rejected(amqp_url: str, probe: Probe, command: SubmitLetter) -> LetterRejected:
    await publish(amqp_url, command)
    message = await probe.wait_for(LetterRejected.routing_key, command.correlation_id)
    return LetterRejected.model_validate_json(message.body)


async def deposited(amqp_url: str, probe: Probe, command: SubmitLetter) -> LetterDeposited:
    await publish(amqp_url, command)
    message = await probe.wait_for(LetterDeposited.routing_key, command.correlation_id)
    return LetterDeposited.model_validate_json(message.body)


def big_pdf(size: int) -> bytes:
    return pdf_of_at_least(size)


# ----------------------------------------------------------------------------- tests


async def test_a_document_put_to_its_presigned_url_is_deposited_under_its_sha256(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    archive = served_archive
    pdf = big_pdf(150_000)  # over the embedded limit, under the document limit
    main = await upload(archive, pdf, "mise-en-demeure.pdf")
    annex = demo_pdf("Annexe " + uuid.uuid4().hex)
    command = by_reference(main).model_copy(
        update={"attachments": (Document(filename="annexe.pdf", content=annex),)}
    )

    event = await deposited(amqp_url, archive_events, command)

    digest = hashlib.sha256(pdf).hexdigest()
    assert [(d.role, d.filename, d.size, d.sha256) for d in event.documents] == [
        ("main", "mise-en-demeure.pdf", len(pdf), digest),
        ("attachment", "annexe.pdf", len(annex), hashlib.sha256(annex).hexdigest()),
    ]
    recorded = await archive.pool.fetchrow(
        "SELECT sha256, object_key FROM documents WHERE letter_id = $1 AND role = 'main'",
        command.correlation_id,
    )
    assert recorded is not None
    assert recorded["sha256"] == digest
    assert recorded["object_key"] == content_key(command.correlation_id, digest)
    assert archive.read(recorded["object_key"]) == pdf
    taken = await archive.pool.fetchrow("SELECT letter_id, sha256 FROM uploads WHERE upload_id = $1", main)
    assert taken is not None and (taken["letter_id"], taken["sha256"]) == (command.correlation_id, digest)


async def test_the_upload_object_goes_once_taken_and_its_url_expired(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    archive = served_archive
    main = await upload(archive, demo_pdf("Pris " + uuid.uuid4().hex))
    await deposited(amqp_url, archive_events, by_reference(main))
    assert archive.keys(f"uploads/{main}") == [f"uploads/{main}"]

    assert await archive.sweep_uploads() == 0  # its URL may still take a PUT
    archive.clock.move_to(archive.clock.now() + timedelta(seconds=archive.settings.upload_url_seconds))
    assert await archive.sweep_uploads() == 1

    assert archive.keys(f"uploads/{main}") == []
    assert await archive.sweep_uploads() == 0


async def test_uploads_over_http_need_the_senders_api_key(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    archive = served_archive
    body = {"filename": "lettre.pdf"}
    async with httpx.AsyncClient(base_url=archive.url) as client:
        missing = await client.post("/uploads", json=body)
        wrong = await client.post("/uploads", json=body, headers={"authorization": "Bearer nope"})
        right = await client.post("/uploads", json=body, headers={"authorization": f"Bearer {SENDER_TOKEN}"})
        too_big = await client.post(
            "/uploads",
            json={"filename": "lettre.pdf", "size": DOCUMENT_LIMIT + 1},
            headers={"authorization": f"Bearer {SENDER_TOKEN}"},
        )

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert too_big.status_code == 422
    assert f"the limit is {DOCUMENT_LIMIT} bytes" in too_big.json()["reason"]
    assert right.status_code == 201
    grant = right.json()
    assert grant["max_bytes"] == DOCUMENT_LIMIT
    pdf = demo_pdf("Par HTTP " + uuid.uuid4().hex)
    async with httpx.AsyncClient() as client:
        stored = await client.put(grant["url"], content=pdf, headers=grant["headers"])
    assert stored.status_code == 200
    event = await deposited(amqp_url, archive_events, by_reference(uuid.UUID(grant["upload_id"])))
    assert event.documents[0].sha256 == hashlib.sha256(pdf).hexdigest()


async def test_an_oversize_upload_is_refused_by_field_and_nothing_is_kept(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    archive = served_archive
    main = await upload(archive, big_pdf(DOCUMENT_LIMIT + 1))
    command = by_reference(main)

    refusal = await rejected(amqp_url, archive_events, command)

    assert [p.field for p in refusal.problems] == ["main_upload_id"]
    assert f"the limit is {DOCUMENT_LIMIT} bytes" in refusal.problems[0].reason
    assert archive.keys(f"letters/{command.correlation_id}") == []
    assert await archive.pool.fetchval("SELECT count(*) FROM letters") == 0


async def test_a_declared_oversize_upload_gets_no_url(served_archive: ServedArchive) -> None:
    reply = await served_archive.ask(
        RequestUpload(
            correlation_id=uuid.uuid4(), sender_id=DEMO_SENDER.id, filename="l.pdf", size=DOCUMENT_LIMIT + 1
        ),
        UploadGranted,
    )

    assert reply.url == "" and reply.upload_id is None
    assert reply.reason is not None and "limit" in reply.reason


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"PK\x03\x04 a zip archive named .pdf", "not a PDF"),
        (b"%PDF-1.7\n this is no PDF body at all", "cannot be read"),
        (encrypted(demo_pdf("Sous mot de passe")), "encrypted"),
    ],
    ids=["zip-bytes", "broken-pdf", "encrypted-pdf"],
)
async def test_an_upload_that_is_not_a_readable_pdf_by_its_bytes_is_refused(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str, content: bytes, reason: str
) -> None:
    main = await upload(served_archive, content)

    refusal = await rejected(amqp_url, archive_events, by_reference(main))

    assert [p.field for p in refusal.problems] == ["main_upload_id"]
    assert reason in refusal.problems[0].reason


async def test_an_embedded_document_over_the_embedded_limit_is_refused_with_the_way_to_send_it(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    pdf = big_pdf(EMBEDDED_LIMIT + 1000)  # under the document limit: uploaded, it would go
    command = SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        main_document=Document(filename="gros.pdf", content=pdf),
    )

    refusal = await rejected(amqp_url, archive_events, command)

    assert [p.field for p in refusal.problems] == ["main_document.content"]
    assert f"limited to {EMBEDDED_LIMIT} bytes: upload it first" in refusal.problems[0].reason
    assert (
        await served_archive.pool.fetchval(
            "SELECT count(*) FROM letters WHERE letter_id = $1", command.correlation_id
        )
        == 0
    )


async def test_an_expired_grant_takes_no_put_and_deposits_nothing(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    archive = served_archive
    now = archive.clock.now()
    archive.clock.move_to(now - timedelta(seconds=archive.settings.upload_url_seconds + 60))
    grant = await granted(archive)
    archive.clock.move_to(now)
    assert grant.upload_id is not None

    refused_put = await put(grant, demo_pdf("Trop tard"))
    refusal = await rejected(amqp_url, archive_events, by_reference(grant.upload_id))

    assert refused_put.status_code == 403
    assert [p.field for p in refusal.problems] == ["main_upload_id"]
    assert "nothing was uploaded" in refusal.problems[0].reason


async def test_an_upload_not_deposited_in_time_is_refused_then_swept(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    archive = served_archive
    main = await upload(archive, demo_pdf("Oublie " + uuid.uuid4().hex))
    archive.clock.move_to(
        archive.clock.now() + timedelta(hours=archive.settings.upload_keep_hours, seconds=1)
    )

    refusal = await rejected(amqp_url, archive_events, by_reference(main))

    assert "expired" in refusal.problems[0].reason
    assert await archive.sweep_uploads() == 1
    assert archive.keys(f"uploads/{main}") == []


async def test_an_upload_serves_one_letter_and_a_retry_under_its_key_is_the_same_letter(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    archive = served_archive
    main = await upload(archive, demo_pdf("Une fois " + uuid.uuid4().hex))
    key = f"key-{uuid.uuid4().hex}"
    first = await deposited(amqp_url, archive_events, by_reference(main, key=key))

    retry = by_reference(main, key=key)  # built afresh: a new letter id, the same key and upload
    await publish(amqp_url, retry)
    other = await rejected(amqp_url, archive_events, by_reference(main))

    assert "deposited already" in other.problems[0].reason
    assert str(first.correlation_id) in other.problems[0].reason
    assert not archive_events.of(LetterRejected.routing_key, retry.correlation_id)
    assert await archive.pool.fetchval("SELECT count(*) FROM letters") == 1


async def test_another_senders_upload_cannot_be_referenced(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    main = await upload(served_archive, demo_pdf("A moi " + uuid.uuid4().hex))
    command = by_reference(main).model_copy(
        update={"sender": DEMO_SENDER.model_copy(update={"id": "someone-else"})}
    )

    refusal = await rejected(amqp_url, archive_events, command)

    assert "main_upload_id" in [p.field for p in refusal.problems]
    assert any("no upload" in p.reason for p in refusal.problems)


async def test_an_upload_declared_with_its_letter_and_hash_is_taken_where_it_was_put(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    archive = served_archive
    pdf = big_pdf(150_000)
    digest = hashlib.sha256(pdf).hexdigest()
    letter_id = uuid.uuid4()
    grant = await granted(archive, "lettre.pdf", len(pdf), letter_id, digest)
    assert (await put(grant, pdf)).status_code == 200
    assert grant.upload_id is not None
    command = by_reference(grant.upload_id).model_copy(update={"correlation_id": letter_id})

    event = await deposited(amqp_url, archive_events, command)

    assert event.documents[0].sha256 == digest
    assert archive.keys(f"letters/{letter_id}/") == [content_key(letter_id, digest)]
    assert archive.keys("uploads/") == []  # no copy was needed
    assert await archive.sweep_uploads() == 0
    archive.clock.move_to(archive.clock.now() + timedelta(hours=archive.settings.upload_keep_hours + 1))
    assert await archive.sweep_uploads() == 0
    assert archive.read(content_key(letter_id, digest)) == pdf


async def test_an_upload_url_takes_one_put_never_a_second(served_archive: ServedArchive) -> None:
    grant = await granted(served_archive)
    first = await put(grant, demo_pdf("Premier"))

    second = await put(grant, demo_pdf("Remplace"))
    async with httpx.AsyncClient() as client:
        unsigned = await client.put(grant.url, content=demo_pdf("Sans en-tete"))

    assert first.status_code == 200
    assert second.status_code == 412
    assert unsigned.status_code == 403  # the header is part of the signature
    assert served_archive.read(f"uploads/{grant.upload_id}") == demo_pdf("Premier")


async def test_uploaded_bytes_that_do_not_match_the_declared_hash_are_refused(
    served_archive: ServedArchive, archive_events: Probe, amqp_url: str
) -> None:
    letter_id = uuid.uuid4()
    declared = hashlib.sha256(b"something else").hexdigest()
    grant = await granted(served_archive, "lettre.pdf", None, letter_id, declared)
    assert (await put(grant, demo_pdf("Autre chose"))).status_code == 200
    assert grant.upload_id is not None
    command = by_reference(grant.upload_id).model_copy(update={"correlation_id": letter_id})

    refusal = await rejected(amqp_url, archive_events, command)

    assert [p.field for p in refusal.problems] == ["main_upload_id"]
    assert "not " + declared in refusal.problems[0].reason
