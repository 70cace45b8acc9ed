"""Identity documents reach their case by every channel: web upload (over the bus from the
pickup site), email and fax (the desk's own SMTP server, a real SMTP client sending real
attachments) and MMS (a Twilio-signed webhook whose media a local HTTP server serves behind
the account's credentials). What names no open case goes to triage; wrong types and sizes
are refused with the rule stated; what lies in S3 is never the plaintext."""

from __future__ import annotations

import asyncio
import base64
import ssl
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twilio.request_validator import RequestValidator

from deploy.local.mailcatcher import free_port
from deploy.local.seaweed import SeaweedS3
from lre_shared.contracts import (
    AddIdentityDocument,
    CaseState,
    DocumentChannel,
    IdentityDocumentAdded,
    OpenVerificationCase,
    VerificationCaseOpened,
)

pytestmark = pytest.mark.integration

TWILIO_TOKEN = "twilio-auth-token-for-tests"
TWILIO_SID = "AC" + "0" * 32
MMS_URL = "https://desk.example/inbound/twilio/mms"


async def open_case(
    desk: Any, channel: DocumentChannel = DocumentChannel.upload, policy: str = "default"
) -> Any:
    letter = await desk.deposit(policy)
    reply = await desk.open_case(letter, channel)
    assert reply.case_id is not None, reply.reason
    return letter, reply


async def documents_of(desk: Any, case_id: uuid.UUID) -> list[Any]:
    return list(
        await desk.pool.fetch(
            "SELECT document_id, channel, content_type, size, object_key FROM documents WHERE case_id = $1"
            " ORDER BY received_at, document_id",
            case_id,
        )
    )


async def state_of(desk: Any, case_id: uuid.UUID) -> str:
    return str(await desk.pool.fetchval("SELECT state FROM cases WHERE case_id = $1", case_id))


def mail(
    subject: str, body: str, *attachments: tuple[str, bytes, str], sender: str = "camille@exemple.example"
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "identite@desk.example"
    message["Subject"] = subject
    message.set_content(body)
    for filename, content, kind in attachments:
        maintype, subtype = kind.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message


async def send(desk: Any, message: EmailMessage) -> tuple[int, str]:
    port = desk.desk.smtp.port
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as client:
        _, response = await client.send_message(message)
    return 250, response


# ------------------------------------------------------------------------------ cases


async def test_opening_a_case_gives_a_reference_and_where_to_send_documents(desk: Any) -> None:
    letter, reply = await open_case(desk)

    assert reply.reference is not None and reply.reference.startswith("LRE-") and len(reply.reference) == 10
    assert reply.state is CaseState.awaiting_documents
    assert reply.inbound_email == "identite@desk.example"
    assert reply.inbound_mms == "+33700000000"
    assert reply.max_document_bytes == 64 * 1024
    row = await desk.pool.fetchrow(
        "SELECT policy, code_address, letter_id FROM cases WHERE case_id = $1", reply.case_id
    )
    assert (row["policy"], row["letter_id"]) == ("default", letter.correlation_id)


async def test_opening_again_gives_the_same_open_case(desk: Any) -> None:
    letter, first = await open_case(desk)
    again = await desk.open_case(letter, DocumentChannel.mms, code_channel="sms")

    assert (again.case_id, again.reference) == (first.case_id, first.reference)
    row = await desk.pool.fetchrow(
        "SELECT document_channel, code_channel FROM cases WHERE case_id = $1", first.case_id
    )
    assert (row["document_channel"], row["code_channel"]) == ("mms", "sms")


async def test_no_case_opens_for_an_unknown_letter_or_an_undeclared_code_address(desk: Any) -> None:
    unknown = await desk.ask(
        OpenVerificationCase(
            correlation_id=uuid.uuid4(),
            item_number="123456789012",
            document_channel=DocumentChannel.upload,
            code_channel="email",
            code_address="x@example.com",
        ),
        VerificationCaseOpened,
    )
    letter = await desk.deposit()
    elsewhere = await desk.open_case(letter, code_address="someone-else@example.com")

    assert unknown.case_id is None and unknown.reason == "unknown letter"
    assert elsewhere.case_id is None and "declared email" in (elsewhere.reason or "")


# ------------------------------------------------------------------------- web upload


async def test_an_uploaded_identity_document_feeds_the_case_and_queues_it(desk: Any, files: Any) -> None:
    letter, case = await open_case(desk)

    added = await desk.ask(
        AddIdentityDocument(
            correlation_id=letter.correlation_id, case_id=case.case_id, filename="cni.png", content=files.png
        ),
        IdentityDocumentAdded,
    )

    assert added.accepted and added.state is CaseState.pending
    [document] = await documents_of(desk, case.case_id)
    assert (document["channel"], document["content_type"], document["size"]) == (
        "upload",
        "image/png",
        len(files.png),
    )


async def test_an_upload_that_is_not_pdf_jpeg_or_png_is_refused_whatever_its_name(
    desk: Any, files: Any
) -> None:
    letter, case = await open_case(desk)

    added = await desk.ask(
        AddIdentityDocument(
            correlation_id=letter.correlation_id, case_id=case.case_id, filename="cni.pdf", content=files.exe
        ),
        IdentityDocumentAdded,
    )

    assert not added.accepted
    assert added.reason == "cni.pdf: only PDF, JPEG and PNG files are accepted"
    assert await documents_of(desk, case.case_id) == []


async def test_an_upload_over_the_size_limit_is_refused_with_the_limit_stated(desk: Any) -> None:
    letter, case = await open_case(desk)
    big = b"%PDF-1.7\n" + bytes(64 * 1024)

    added = await desk.ask(
        AddIdentityDocument(
            correlation_id=letter.correlation_id, case_id=case.case_id, filename="kbis.pdf", content=big
        ),
        IdentityDocumentAdded,
    )

    assert not added.accepted
    assert added.reason is not None and "over the limit of 65536 bytes" in added.reason
    assert await state_of(desk, case.case_id) == "awaiting_documents"


async def test_documents_in_the_store_are_ciphertext_that_the_desk_decrypts(
    desk: Any, files: Any, s3: SeaweedS3
) -> None:
    letter, case = await open_case(desk)
    await desk.ask(
        AddIdentityDocument(
            correlation_id=letter.correlation_id, case_id=case.case_id, filename="p.pdf", content=files.pdf
        ),
        IdentityDocumentAdded,
    )
    [document] = await documents_of(desk, case.case_id)

    stored = await desk.desk.vault.get_stored(document["object_key"])

    assert files.pdf not in stored and b"%PDF" not in stored
    assert len(stored) >= len(files.pdf) + 16  # nonce and GCM tag
    assert await desk.desk.vault.get(document["object_key"]) == files.pdf
    # And the store encrypts them at rest as well (SSE-S3, the bucket's default).
    client = s3.client()
    encryption = await asyncio.to_thread(client.get_bucket_encryption, desk.desk.vault.bucket)
    stat = await asyncio.to_thread(client.stat_object, desk.desk.vault.bucket, document["object_key"])
    assert encryption is not None and encryption.rule.sse_algorithm == "AES256"
    assert stat.metadata is not None and stat.metadata.get("x-amz-server-side-encryption") == "AES256"


# ------------------------------------------------------------------------------ email


async def test_an_email_naming_the_case_reference_files_its_attachments_under_the_case(
    desk: Any, files: Any
) -> None:
    _, case = await open_case(desk, DocumentChannel.email)
    message = mail(
        f"Mes documents {case.reference.lower()}",
        "Bonjour, voici ma pièce d'identité.",
        ("passeport.jpg", files.jpeg, "image/jpeg"),
        ("kbis.pdf", files.pdf, "application/pdf"),
    )

    _, response = await send(desk, message)

    assert f"2 document(s) filed for {case.reference}" in response
    documents = await documents_of(desk, case.case_id)
    assert sorted(d["content_type"] for d in documents) == ["application/pdf", "image/jpeg"]
    assert {d["channel"] for d in documents} == {"email"}
    assert await state_of(desk, case.case_id) == "pending"


async def test_a_fax_from_the_gateway_with_the_reference_in_its_text_is_filed_as_a_fax(
    desk: Any, files: Any
) -> None:
    _, case = await open_case(desk, DocumentChannel.fax)
    message = mail(
        "Fax from +33140000000",
        f"Fax received, 1 page. Cover page: {case.reference}",
        ("fax.pdf", files.pdf, "application/pdf"),
        sender="fax-gateway@fax.example",
    )

    await send(desk, message)

    [document] = await documents_of(desk, case.case_id)
    assert document["channel"] == "fax"


async def test_an_email_naming_no_open_case_goes_to_triage_with_its_documents(desk: Any, files: Any) -> None:
    message = mail("Mes papiers", "Voici mon passeport", ("passeport.png", files.png, "image/png"))

    _, response = await send(desk, message)

    assert "filed for review" in response
    entry = await desk.pool.fetchrow("SELECT triage_id, channel, problem, subject FROM triage")
    assert (entry["channel"], entry["problem"], entry["subject"]) == (
        "email",
        "no case reference found",
        "Mes papiers",
    )
    count = await desk.pool.fetchval(
        "SELECT count(*) FROM documents WHERE triage_id = $1", entry["triage_id"]
    )
    assert count == 1


async def test_an_email_whose_every_attachment_is_refused_is_bounced_with_the_rule(
    desk: Any, files: Any
) -> None:
    _, case = await open_case(desk, DocumentChannel.email)
    message = mail(
        case.reference,
        "ci-joint",
        ("scan.docx", files.exe, "application/octet-stream"),
        ("huge.pdf", b"%PDF-1.7\n" + bytes(70_000), "application/pdf"),
    )

    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await send(desk, message)

    assert refused.value.code == 550
    assert "only PDF, JPEG and PNG" in refused.value.message
    assert "over the limit of 65536 bytes" in refused.value.message
    assert await documents_of(desk, case.case_id) == []


async def test_mail_is_deferred_not_lost_when_the_store_is_away(
    desk: Any, files: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, case = await open_case(desk, DocumentChannel.email)

    async def store_away(key: str, content: bytes) -> None:
        raise ConnectionRefusedError("S3 unreachable")

    monkeypatch.setattr(desk.desk.vault, "put", store_away)

    with pytest.raises(aiosmtplib.SMTPDataError) as deferred:
        await send(desk, mail(case.reference, "ci-joint", ("cni.pdf", files.pdf, "application/pdf")))

    assert deferred.value.code == 451  # temporary: the sender's server tries again
    assert await documents_of(desk, case.case_id) == []
    assert await desk.pool.fetchval("SELECT count(*) FROM triage") == 0


async def test_mail_for_any_other_address_is_not_taken(desk: Any, files: Any) -> None:
    message = mail("x", "y", ("a.png", files.png, "image/png"))
    message.replace_header("To", "someone@elsewhere.example")

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await send(desk, message)


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp.crt", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_with_a_certificate_mail_comes_over_starttls_and_plain_mail_can_be_refused(
    start_desk: Any, files: Any, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))

    async with start_desk(
        inbound_smtp_tls_cert=cert, inbound_smtp_tls_key=key, inbound_smtp_require_tls=True
    ) as tls_desk:
        _, case = await open_case(tls_desk, DocumentChannel.email)
        message = mail(case.reference, "ci-joint", ("cni.pdf", files.pdf, "application/pdf"))
        port = tls_desk.desk.smtp.port
        with pytest.raises(aiosmtplib.SMTPResponseException) as plain:
            async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as client:
                await client.send_message(message)
        async with aiosmtplib.SMTP(
            hostname="localhost", port=port, start_tls=True, tls_context=trust
        ) as client:
            _, response = await client.send_message(message)

        assert plain.value.code == 530  # "must issue a STARTTLS command first"
        assert f"1 document(s) filed for {case.reference}" in response
        assert len(await documents_of(tls_desk, case.case_id)) == 1


# -------------------------------------------------------------------------------- MMS


@pytest.fixture
async def media_server(files: Any) -> AsyncIterator[str]:
    """Twilio's media store stand-in: serves media only with the account's credentials."""
    expected = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()

    async def media(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401)
        name = request.match_info["name"]
        body = {"id.jpg": files.jpeg, "big.png": files.png + bytes(70_000), "notes.txt": b"hello"}[name]
        return web.Response(body=body, content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/media/{name}", media)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield f"http://127.0.0.1:{port}/media/"
    await runner.cleanup()


def mms_form(text: str, *media: str) -> dict[str, str]:
    form = {
        "MessageSid": "MM" + uuid.uuid4().hex,
        "AccountSid": TWILIO_SID,
        "From": "+33612345678",
        "To": "+33700000000",
        "Body": text,
        "NumMedia": str(len(media)),
    }
    for index, url in enumerate(media):
        form[f"MediaUrl{index}"] = url
        form[f"MediaContentType{index}"] = "image/jpeg"
    return form


async def post_mms(desk: Any, form: dict[str, str], token: str = TWILIO_TOKEN) -> Any:
    signature = RequestValidator(token).compute_signature(MMS_URL, form)
    return await desk.http.post("/inbound/twilio/mms", data=form, headers={"X-Twilio-Signature": signature})


async def test_a_signed_mms_naming_the_case_brings_its_media_to_the_case(
    desk: Any, media_server: str
) -> None:
    _, case = await open_case(desk, DocumentChannel.mms)

    response = await post_mms(desk, mms_form(f"Dossier {case.reference}", media_server + "id.jpg"))

    assert response.status_code == 200
    assert f"1 document(s) reçu(s) pour le dossier {case.reference}" in response.text
    [document] = await documents_of(desk, case.case_id)
    assert (document["channel"], document["content_type"]) == ("mms", "image/jpeg")


async def test_mms_media_of_the_wrong_type_or_size_are_refused_in_the_reply(
    desk: Any, media_server: str
) -> None:
    _, case = await open_case(desk, DocumentChannel.mms)

    response = await post_mms(
        desk,
        mms_form(
            case.reference, media_server + "big.png", media_server + "notes.txt", media_server + "id.jpg"
        ),
    )

    assert "over the limit of 65536 bytes" in response.text
    assert "only PDF, JPEG and PNG" in response.text
    assert len(await documents_of(desk, case.case_id)) == 1


async def test_an_mms_without_a_valid_twilio_signature_is_refused(desk: Any, media_server: str) -> None:
    _, case = await open_case(desk, DocumentChannel.mms)

    forged = await post_mms(desk, mms_form(case.reference, media_server + "id.jpg"), token="not-our-token")

    assert forged.status_code == 403
    assert await documents_of(desk, case.case_id) == []


async def test_an_mms_naming_no_case_goes_to_triage(desk: Any, media_server: str) -> None:
    response = await post_mms(desk, mms_form("voici mes papiers LRE-ZZZZZZ", media_server + "id.jpg"))

    assert response.status_code == 200
    entry = await desk.pool.fetchrow("SELECT channel, sender, problem FROM triage")
    assert (entry["channel"], entry["sender"]) == ("mms", "+33612345678")
    assert entry["problem"] == "no open case with reference LRE-ZZZZZZ"
