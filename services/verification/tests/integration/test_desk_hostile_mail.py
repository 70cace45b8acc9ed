"""What the desk does with hostile and careless mail and MMS, on the real SMTP server and the
real webhook: one case reference per message, so a reply never tells which of many names
an open case; bounded work whatever a mail holds, done off the event loop; every malformed
mail refused for good (5xx, never a retry) with the reason in plain ASCII, never a file
name echoed raw; and a refusal leaves nothing behind (no document, no object in the store,
no triage entry)."""

from __future__ import annotations

import asyncio
import base64
import random
import uuid
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest
from twilio.request_validator import RequestValidator

from deploy.local.seaweed import SeaweedS3
from lre_shared.contracts import DocumentChannel
from verification.domain.reference import ALPHABET

pytestmark = pytest.mark.integration

TWILIO_TOKEN = "twilio-auth-token-for-tests"
MMS_URL = "https://desk.example/inbound/twilio/mms"
DESK = "identite@desk.example"
SENDER = "camille@exemple.example"


async def open_case(desk: Any, channel: DocumentChannel = DocumentChannel.email) -> Any:
    letter = await desk.deposit()
    reply = await desk.open_case(letter, channel)
    assert reply.case_id is not None, reply.reason
    return reply


def mail(subject: str, body: str, *attachments: tuple[str, bytes]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = DESK
    message["Subject"] = subject
    message.set_content(body)
    for filename, content in attachments:
        message.add_attachment(content, maintype="application", subtype="octet-stream", filename=filename)
    return message


def raw_mail(body_headers: str, body: bytes, *attachments: tuple[str, bytes], subject: str = "") -> bytes:
    """A multipart mail written byte by byte: what a careless or hostile sender may send."""
    parts = [f"Content-Type: text/plain; {body_headers}\r\n\r\n".encode() + body]
    for disposition, content in attachments:
        parts.append(
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            + f"Content-Disposition: attachment; {disposition}\r\n\r\n".encode()
            + base64.encodebytes(content)
        )
    head = (
        f"From: {SENDER}\r\nTo: {DESK}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=SEP\r\n\r\n"
    ).encode()
    return head + b"".join(b"--SEP\r\n" + part + b"\r\n" for part in parts) + b"--SEP--\r\n"


async def answer(desk: Any, message: EmailMessage | bytes) -> tuple[int, str]:
    """The SMTP server's answer to the mail's DATA, refusals included."""
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=desk.desk.smtp.port, start_tls=False) as client:
        try:
            if isinstance(message, bytes):
                _, text = await client.sendmail(SENDER, [DESK], message)
            else:
                _, text = await client.send_message(message)
        except aiosmtplib.SMTPResponseException as refused:
            return refused.code, refused.message
        return 250, text


async def nothing_filed(desk: Any, s3: SeaweedS3) -> None:
    """No document row, no object in the store, no triage entry, nothing in any audit trail
    but the opening of its case."""
    assert await desk.pool.fetchval("SELECT count(*) FROM documents") == 0
    assert await desk.pool.fetchval("SELECT count(*) FROM triage") == 0
    actions = await desk.pool.fetch("SELECT DISTINCT action FROM case_events")
    assert {row["action"] for row in actions} <= {"opened"}
    objects = await asyncio.to_thread(
        lambda: list(s3.client().list_objects(desk.desk.vault.bucket, recursive=True))
    )
    assert objects == []


def references(count: int, seed: int = 7) -> list[str]:
    draw = random.Random(seed)
    found: set[str] = set()
    while len(found) < count:
        found.add("LRE-" + "".join(draw.choice(ALPHABET) for _ in range(6)))
    return sorted(found)


class LongestPause:
    """The longest time the event loop went without running a 10 ms heartbeat."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.01)
            now = loop.time()
            self.seconds = max(self.seconds, now - last - 0.01)
            last = now

    async def __aenter__(self) -> LongestPause:
        self._task = asyncio.create_task(self._beat())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


# ------------------------------------------------------------------ one reference per mail


async def test_a_mail_naming_forty_thousand_references_is_refused_without_stalling_the_desk(
    desk: Any,
) -> None:
    body = "Mes dossiers : " + " ".join(references(40_000))
    loop = asyncio.get_running_loop()

    async with LongestPause() as pause:
        started = loop.time()
        code, text = await answer(desk, mail("Mes papiers", body))
        elapsed = loop.time() - started

    print(f"40,000 references: answered in {elapsed:.3f} s, event loop paused {pause.seconds:.3f} s at most")
    assert code == 550 and "one reference per mail" in text
    assert pause.seconds < 0.5
    assert await desk.pool.fetchval("SELECT count(*) FROM triage") == 0


async def test_a_mail_naming_several_references_never_says_which_one_is_open(desk: Any, files: Any) -> None:
    case = await open_case(desk)
    guesses = [case.reference, "LRE-ZZZZZZ", "LRE-YYYYYY"]
    random.Random(3).shuffle(guesses)

    in_subject = await answer(desk, mail(" ".join(guesses), "ci-joint", ("cni.pdf", files.pdf)))
    in_body = await answer(desk, mail("Mes papiers", " ".join(guesses), ("cni.pdf", files.pdf)))

    for code, text in (in_subject, in_body):
        assert code == 550 and "one reference per mail" in text
        assert not any(reference in text for reference in guesses)
    assert await desk.pool.fetchval("SELECT count(*) FROM documents") == 0
    assert await desk.pool.fetchval("SELECT count(*) FROM triage") == 0


async def test_the_subject_names_the_case_and_the_text_is_read_only_when_it_names_none(
    desk: Any, files: Any
) -> None:
    case = await open_case(desk)

    # A reply quoting another message: the subject's reference is the one meant.
    code, text = await answer(
        desk, mail(f"Re: {case.reference}", "> votre dossier LRE-ZZZZZZ", ("cni.pdf", files.pdf))
    )

    assert code == 250 and f"filed for {case.reference}" in text
    assert await desk.pool.fetchval("SELECT count(*) FROM documents WHERE case_id = $1", case.case_id) == 1


# --------------------------------------------------------------- malformed mail: 5xx for good


async def test_a_nul_in_the_text_is_refused_for_good_not_deferred(
    desk: Any, files: Any, s3: SeaweedS3
) -> None:
    code, text = await answer(desk, mail("Mes papiers", "Bonjour\x00", ("cni.pdf", files.pdf)))

    assert code == 554 and "NUL" in text, (code, text)
    await nothing_filed(desk, s3)


async def test_a_text_in_an_unknown_character_set_is_refused_with_the_reason(
    desk: Any, files: Any, s3: SeaweedS3
) -> None:
    case = await open_case(desk)
    raw = raw_mail(
        "charset=x-klingon",
        b"Qapla' " + case.reference.encode(),
        ('filename="cni.pdf"', files.pdf),
        subject=case.reference,
    )

    code, text = await answer(desk, raw)

    assert code == 554 and "unknown character set" in text, (code, text)
    assert "Traceback" not in text and "Error" not in text
    await nothing_filed(desk, s3)


async def test_a_refused_attachment_with_a_non_ascii_name_is_named_in_ascii(desk: Any, files: Any) -> None:
    case = await open_case(desk)

    code, text = await answer(
        desk,
        mail(case.reference, "ci-joint", ("pièce.jpg", files.jpeg), ("пропуск.docx", files.exe)),
    )

    assert code == 250, (code, text)
    assert text.isascii() and text.isprintable()
    assert "1 document(s) filed" in text and "only PDF, JPEG and PNG" in text
    assert await desk.pool.fetchval("SELECT count(*) FROM documents WHERE case_id = $1", case.case_id) == 1


async def test_a_file_name_cannot_add_a_line_to_the_answer(desk: Any, files: Any, s3: SeaweedS3) -> None:
    case = await open_case(desk)
    # RFC 2231 lets a file name hold any byte, CR and LF included.
    raw = raw_mail(
        'charset="utf-8"',
        b"ci-joint",
        ("filename*=utf-8''scan.docx%0D%0A250%202.0.0%20injected", files.exe),
        subject=case.reference,
    )

    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=desk.desk.smtp.port, start_tls=False) as client:
        with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
            await client.sendmail(SENDER, [DESK], raw)
        # Had the name added a line to the answer, it would answer this command instead.
        noop, noop_text = await client.noop()

    assert refused.value.code == 554 and "file name" in refused.value.message
    assert "injected" not in refused.value.message
    assert (noop, "injected" in noop_text) == (250, False)
    await nothing_filed(desk, s3)


async def test_a_mail_refused_as_a_whole_files_nothing_of_it(desk: Any, files: Any, s3: SeaweedS3) -> None:
    case = await open_case(desk)
    raw = raw_mail(
        'charset="utf-8"',
        b"ci-joint",
        ('filename="passeport.jpg"', files.jpeg),
        ("filename*=utf-8''kbis%00.docx", files.exe),
        subject=case.reference,
    )

    code, text = await answer(desk, raw)

    assert code == 554 and "attachment 2" in text, (code, text)
    await nothing_filed(desk, s3)


async def test_a_mail_whose_every_attachment_is_refused_leaves_no_triage_entry(
    desk: Any, files: Any, s3: SeaweedS3
) -> None:
    code, text = await answer(desk, mail("Mes papiers", "ci-joint", ("scan.docx", files.exe)))

    assert code == 550 and "only PDF, JPEG and PNG" in text
    await nothing_filed(desk, s3)


async def test_more_attachments_than_taken_are_refused_not_dropped(
    desk: Any, files: Any, s3: SeaweedS3
) -> None:
    case = await open_case(desk)
    scans = [(f"page-{n}.pdf", files.pdf) for n in range(11)]

    code, text = await answer(desk, mail(case.reference, "ci-joint", *scans))

    assert code == 550 and "at most 10 documents per mail" in text, (code, text)
    await nothing_filed(desk, s3)


# ------------------------------------------------------------------------------------ MMS


def mms_form(text: str, num_media: str = "0") -> dict[str, str]:
    return {
        "MessageSid": "MM" + uuid.uuid4().hex,
        "AccountSid": "AC" + "0" * 32,
        "From": "+33612345678",
        "To": "+33700000000",
        "Body": text,
        "NumMedia": num_media,
    }


async def post_mms(desk: Any, form: dict[str, str]) -> Any:
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(MMS_URL, form)
    return await desk.http.post("/inbound/twilio/mms", data=form, headers={"X-Twilio-Signature": signature})


async def test_an_mms_with_a_nul_in_its_text_is_answered_and_files_nothing(desk: Any, s3: SeaweedS3) -> None:
    response = await post_mms(desk, mms_form("voici\x00 mes papiers"))

    assert response.status_code == 200, response.text
    assert "NUL" in response.text
    await nothing_filed(desk, s3)


async def test_an_mms_naming_several_references_is_refused_without_saying_which_is_open(
    desk: Any, s3: SeaweedS3
) -> None:
    case = await open_case(desk, DocumentChannel.mms)

    response = await post_mms(desk, mms_form(f"LRE-ZZZZZZ {case.reference} LRE-YYYYYY"))

    assert response.status_code == 200, response.text
    assert "one reference per message" in response.text and case.reference not in response.text
    await nothing_filed(desk, s3)


async def test_an_mms_with_a_malformed_media_count_is_refused_as_a_bad_request(desk: Any) -> None:
    response = await post_mms(desk, mms_form("papiers", num_media="deux"))

    assert response.status_code == 400
    assert "NumMedia" in response.text
