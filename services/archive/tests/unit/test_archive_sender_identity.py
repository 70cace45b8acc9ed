"""The archive takes a deposit, grants an upload or tells a status only for the sender the
publisher acts for (the AMQP `user_id` the broker checked): here with the publisher set as the
bus sets it, and the archive's records in memory."""

from __future__ import annotations

import json
from datetime import timedelta
from uuid import uuid4

import pytest

from archive.domain.submission import Limits
from archive.service_layer.identity import (
    deposit_as_publisher,
    refuse_malformed_as_publisher,
    status_for_publisher,
    upload_for_publisher,
)
from archive.service_layer.uploads import UploadDesk, UploadPolicy
from deploy.local.demo import DEMO_RECIPIENT, demo_pdf
from lre_shared.bus import Fault, PermanentError, published_by
from lre_shared.clock import now_utc
from lre_shared.contracts import (
    Document,
    GetLetterStatus,
    LetterRejected,
    Message,
    RequestUpload,
    Sender,
    SubmitLetter,
)
from services.archive.tests.unit.fakes import FakeStore, FakeUnitOfWork, deposited_letter

TRUSTED = ("lre-operator",)


def letter_of(sender_id: str) -> SubmitLetter:
    return SubmitLetter(
        correlation_id=uuid4(),
        sender=Sender(id=sender_id, name="ACME SAS", email="legal@acme.example"),
        recipient=DEMO_RECIPIENT,
        main_document=Document(filename="lettre.pdf", content=demo_pdf()),
        idempotency_key="dossier-1",
    )


class Deposits:
    def __init__(self) -> None:
        self.taken: list[SubmitLetter] = []

    async def __call__(self, command: SubmitLetter, uow: FakeUnitOfWork) -> Message | None:
        self.taken.append(command)
        return None


def rejections(uow: FakeUnitOfWork) -> list[LetterRejected]:
    return [m for m in uow.published if isinstance(m, LetterRejected)]


async def deposit(command: SubmitLetter, uow: FakeUnitOfWork, deposits: Deposits) -> None:
    await deposit_as_publisher(command, uow, trusted=TRUSTED, deposit=deposits)  # type: ignore[arg-type]


async def test_a_sender_deposits_in_its_own_name() -> None:
    uow, deposits, command = FakeUnitOfWork(), Deposits(), letter_of("acme")

    with published_by("acme"):
        await deposit(command, uow, deposits)

    assert deposits.taken == [command]
    assert rejections(uow) == []


async def test_a_deposit_in_another_senders_name_is_refused_to_its_publisher_and_not_taken() -> None:
    uow, deposits, command = FakeUnitOfWork(), Deposits(), letter_of("globex")

    with published_by("acme"):
        await deposit(command, uow, deposits)

    assert deposits.taken == []
    [refusal] = rejections(uow)
    assert (refusal.correlation_id, refusal.sender_id) == (command.correlation_id, "acme")
    assert [p.field for p in refusal.problems] == ["sender.id"]
    assert "globex" in refusal.problems[0].reason and "acme" in refusal.problems[0].reason
    # Kept for the publisher's own status query, never under the sender it named.
    assert await uow.rejections.latest_for_sender("globex", letter_id=command.correlation_id) is None
    assert await uow.rejections.latest_for_sender("acme", letter_id=command.correlation_id) is not None


async def test_a_trusted_user_deposits_for_any_sender() -> None:
    uow, deposits, command = FakeUnitOfWork(), Deposits(), letter_of("globex")

    with published_by("lre-operator"):
        await deposit(command, uow, deposits)

    assert deposits.taken == [command]


async def test_a_deposit_without_user_id_is_dead_lettered_saying_why() -> None:
    uow, deposits = FakeUnitOfWork(), Deposits()

    with published_by(None), pytest.raises(PermanentError, match="user_id"):
        await deposit(letter_of("acme"), uow, deposits)

    assert deposits.taken == [] and rejections(uow) == []


def malformed(sender_id: str) -> tuple[bytes, str]:
    letter_id = str(uuid4())
    body = json.dumps(
        {"correlation_id": letter_id, "sender": {"id": sender_id}, "alert_channels": ["pigeon"]}
    ).encode()
    return body, letter_id


FAULTS = (Fault("alert_channels[0]", "not one of email, sms, voice, fax"),)


async def test_a_malformed_deposit_naming_another_sender_is_refused_to_its_publisher() -> None:
    uow = FakeUnitOfWork()
    body, letter_id = malformed("globex")

    with published_by("acme"):
        assert await refuse_malformed_as_publisher(body, FAULTS, uow, trusted=TRUSTED)  # type: ignore[arg-type]

    [refusal] = rejections(uow)
    assert (str(refusal.correlation_id), refusal.sender_id) == (letter_id, "acme")
    assert [p.field for p in refusal.problems] == ["sender.id", "alert_channels[0]"]


async def test_a_malformed_deposit_of_the_publishers_own_is_refused_to_it() -> None:
    uow = FakeUnitOfWork()
    body, _ = malformed("acme")

    with published_by("acme"):
        assert await refuse_malformed_as_publisher(body, FAULTS, uow, trusted=TRUSTED)  # type: ignore[arg-type]

    [refusal] = rejections(uow)
    assert refusal.sender_id == "acme"
    assert [p.field for p in refusal.problems] == ["alert_channels[0]"]


async def test_a_malformed_deposit_without_user_id_is_told_to_nobody() -> None:
    uow = FakeUnitOfWork()
    body, _ = malformed("globex")

    with published_by(None):
        assert not await refuse_malformed_as_publisher(body, FAULTS, uow, trusted=TRUSTED)  # type: ignore[arg-type]

    assert rejections(uow) == []


async def test_another_senders_letter_is_unknown_to_a_sender() -> None:
    uow = FakeUnitOfWork()
    letter_id = uuid4()
    deposited_letter(uow.letters, letter_id, sender_id="globex", deposited_at=now_utc())
    query = GetLetterStatus(correlation_id=letter_id, sender_id="globex")

    with published_by("acme"):
        status = await status_for_publisher(query, uow, trusted=TRUSTED)  # type: ignore[arg-type]
    with published_by("globex"):
        own = await status_for_publisher(query, uow, trusted=TRUSTED)  # type: ignore[arg-type]

    assert (status.state, status.item_number) == ("unknown", None)
    assert own.state == "deposited"


async def test_a_sender_gets_no_upload_for_another_sender_and_nothing_is_granted() -> None:
    uow = FakeUnitOfWork()
    desk = UploadDesk(
        FakeStore(),  # type: ignore[arg-type]
        Limits(document_bytes=1000, letter_bytes=2000, embedded_bytes=1000, attachments=3),
        None,
        UploadPolicy(url_lifetime=timedelta(minutes=5)),
        now_utc,
    )
    query = RequestUpload(correlation_id=uuid4(), sender_id="globex", filename="annexe.pdf", size=10)

    with published_by("acme"):
        grant = await upload_for_publisher(query, uow, trusted=TRUSTED, desk=desk)  # type: ignore[arg-type]

    assert (grant.upload_id, grant.url) == (None, "")
    assert grant.reason is not None and "globex" in grant.reason
    assert uow.uploads.rows == {}
