"""The desk's use cases against in-memory repositories: what they decide, record and publish,
whatever the store (the PostgreSQL repositories are covered by the integration tests)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import SecretStr

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER
from lre_shared.contracts import (
    AddIdentityDocument,
    CheckCode,
    CodeFailed,
    CodeProblem,
    DocumentChannel,
    LetterDeposited,
    LetterLocked,
    LetterLockLifted,
    LiftLetterLock,
    LockKind,
    OpenVerificationCase,
    RequestCode,
    SendCaseConfirmation,
    SendCode,
    VerificationDecided,
)
from services.verification.tests.unit.fakes import InMemoryUnitOfWork, InMemoryVault
from tests.support.documents import image
from verification.domain import codes as code_rules
from verification.domain.cases import CodeOrder, Recipient, TriageEntry
from verification.domain.policy import ChecklistItem, DocumentKind
from verification.service_layer import cases, codes, desk, handlers
from verification.service_layer.desk import Agent, DeskError
from verification.settings import VerificationSettings

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EMAIL = "camille.martin@exemple.example"
MOBILE = "+33612345678"
KEY = "a server key of thirty-two chars+"
SETTINGS = VerificationSettings.model_construct(
    code_hmac_key=SecretStr(KEY), inbound_email="desk@lre.example", inbound_mms=None, inbound_fax=None
)
ALICE = Agent("alice", supervisor=False)
SUPERVISOR = Agent("sam", supervisor=True)
PNG = image("png")


def clock(at: datetime = NOW) -> datetime:
    return at


async def known_letter(uow: InMemoryUnitOfWork, policy: str = "default") -> tuple[uuid.UUID, str]:
    letter_id, item_number = uuid.uuid4(), f"{uuid.uuid4().int % 10**12:012d}"
    recipient = Recipient("Camille Martin", None, EMAIL, MOBILE, "+33142000000")
    await uow.letters.learn(letter_id, item_number, policy, recipient)
    return letter_id, item_number


async def opened(uow: InMemoryUnitOfWork, code_channel: str = "email", address: str = EMAIL) -> uuid.UUID:
    letter_id, item_number = await known_letter(uow)
    query = OpenVerificationCase(
        correlation_id=letter_id,
        item_number=item_number,
        document_channel=DocumentChannel.upload,
        code_channel=code_channel,
        code_address=address,
    )
    answer = await cases.open_case(query, uow, settings=SETTINGS, clock=clock)
    assert answer.case_id is not None, answer.reason
    return answer.case_id


async def issued(uow: InMemoryUnitOfWork, at: datetime = NOW) -> tuple[uuid.UUID, str]:
    letter_id, item_number = await known_letter(uow)
    order = CodeOrder(uuid.uuid4(), letter_id, item_number, "email", EMAIL, "fr")
    assert await codes.issue_code(uow, order, settings=SETTINGS, now=at) is not None
    return letter_id, uow.sent(SendCode)[-1].code


# ------------------------------------------------------------------ letters and holds


async def test_a_letter_is_learnt_once_whatever_is_redelivered() -> None:
    uow = InMemoryUnitOfWork()
    letter_id, item_number = await known_letter(uow, policy="cnb")
    await uow.letters.learn(letter_id, item_number, "default", Recipient("X", None, None, None, None))
    letter = await uow.letters.locked(letter_id)
    assert letter is not None and letter.policy == "cnb"


def deposited(**recipient: object) -> LetterDeposited:
    """A deposit whose recipient is the demo one with `recipient`'s fields changed."""
    return LetterDeposited.model_validate(
        {
            "correlation_id": uuid.uuid4(),
            "item_number": f"{uuid.uuid4().int % 10**12:012d}",
            "sender": DEMO_SENDER.model_dump(mode="json"),
            "recipient": DEMO_RECIPIENT.model_dump(mode="json") | recipient,
            "documents": [
                {"document_id": str(uuid.uuid4()), "filename": "a.pdf", "size": 1, "sha256": "c" * 64}
            ],
            "verification_policy": "default",
            "deposited_at": NOW.isoformat(),
        }
    )


async def test_a_deposited_letter_keeps_the_birth_date_its_sender_declared() -> None:
    uow = InMemoryUnitOfWork()
    declared, undeclared = deposited(birth_date="1980-05-17"), deposited()

    await handlers.on_letter_deposited(declared, uow)
    await handlers.on_letter_deposited(undeclared, uow)

    kept = await uow.letters.recipient(declared.correlation_id)
    assert kept is not None and kept["recipient_birth_date"] == date(1980, 5, 17)
    assert kept["recipient_name"] == "Camille Martin"
    none = await uow.letters.recipient(undeclared.correlation_id)
    assert none is not None and none["recipient_birth_date"] is None


async def test_a_hold_arriving_after_a_later_lift_changes_nothing() -> None:
    uow = InMemoryUnitOfWork()
    letter_id, item_number = await known_letter(uow)
    lifted = LetterLockLifted(
        correlation_id=letter_id,
        item_number=item_number,
        kinds=(LockKind.code,),
        lifted_at=NOW,
        supervisor="sam",
        reason="called",
    )
    late = LetterLocked(
        correlation_id=letter_id,
        item_number=item_number,
        kind=LockKind.code,
        scope="address",
        locked_at=NOW - timedelta(minutes=5),
        locked_until=NOW + timedelta(minutes=30),
    )
    await handlers.on_letter_lock_lifted(lifted, uow)
    await handlers.on_letter_locked(late, uow)
    assert await uow.letters.codes_held_until(letter_id, NOW) is None


async def test_no_code_goes_out_while_the_pickup_site_holds_the_letters_codes() -> None:
    uow = InMemoryUnitOfWork()
    letter_id, item_number = await known_letter(uow)
    await uow.letters.hold_codes(letter_id, NOW, NOW + timedelta(minutes=30))
    order = CodeOrder(uuid.uuid4(), letter_id, item_number, "email", EMAIL, "fr")
    assert await codes.issue_code(uow, order, settings=SETTINGS, now=NOW) is None
    requested = await codes.request_code(
        RequestCode(correlation_id=letter_id), uow, settings=SETTINGS, clock=clock
    )
    assert uow.published == []
    assert not requested.issued and requested.locked_until == NOW + timedelta(minutes=30)


# ----------------------------------------------------------------------------- codes


async def test_a_right_code_is_spent_once() -> None:
    uow = InMemoryUnitOfWork()
    letter_id, code = await issued(uow)
    check = CheckCode(correlation_id=letter_id, code=code)
    first = await codes.check_code(check, uow, settings=SETTINGS, clock=clock)
    again = await codes.check_code(check, uow, settings=SETTINGS, clock=clock)
    assert first.valid and first.case_id is not None
    assert (again.valid, again.problem) == (False, CodeProblem.used)


async def test_the_last_allowed_wrong_try_locks_the_code() -> None:
    uow = InMemoryUnitOfWork()
    letter_id, code = await issued(uow)
    wrong = CheckCode(correlation_id=letter_id, code="0" * 8 if code != "0" * 8 else "1" * 8)
    answers = [await codes.check_code(wrong, uow, settings=SETTINGS, clock=clock) for _ in range(5)]
    right = await codes.check_code(
        CheckCode(correlation_id=letter_id, code=code), uow, settings=SETTINGS, clock=clock
    )
    assert [a.tries_left for a in answers] == [4, 3, 2, 1, 0]
    assert (right.valid, right.problem) == (False, CodeProblem.locked)


async def test_a_new_code_is_throttled_but_one_never_sent_does_not_count() -> None:
    uow = InMemoryUnitOfWork()
    letter_id, _ = await issued(uow)
    query = RequestCode(correlation_id=letter_id)
    throttled = await codes.request_code(query, uow, settings=SETTINGS, clock=clock)
    [sent] = uow.sent(SendCode)
    await codes.on_code_failed(
        CodeFailed(
            correlation_id=letter_id,
            code_id=sent.message_id,
            channel="email",
            reason="mailbox unavailable",
            occurred_at=NOW,
        ),
        uow,
    )
    retried = await codes.request_code(query, uow, settings=SETTINGS, clock=clock)
    assert not throttled.issued and throttled.retry_after_seconds == 60
    assert retried.issued and len(uow.sent(SendCode)) == 2


async def test_a_code_goes_by_sms_only_to_the_declared_mobile() -> None:
    uow = InMemoryUnitOfWork()
    letter_id, _ = await issued(uow, at=NOW - code_rules.HOUR)
    requested = await codes.request_code(
        RequestCode(correlation_id=letter_id, channel="sms"), uow, settings=SETTINGS, clock=clock
    )
    assert requested.issued
    assert (uow.sent(SendCode)[-1].channel, uow.sent(SendCode)[-1].address) == ("sms", MOBILE)


async def test_no_code_goes_out_for_a_letter_whose_recipient_is_forgotten() -> None:
    uow = InMemoryUnitOfWork()
    letter_id, _ = await issued(uow, at=NOW - code_rules.HOUR)
    uow.letters.forget(letter_id, NOW)

    requested = await codes.request_code(
        RequestCode(correlation_id=letter_id, channel="sms"), uow, settings=SETTINGS, clock=clock
    )

    assert not requested.issued and "past its acceptance and download windows" in (requested.reason or "")
    assert len(uow.sent(SendCode)) == 1


# ----------------------------------------------------------------------------- cases


async def test_a_letter_whose_recipient_is_forgotten_opens_no_case() -> None:
    uow = InMemoryUnitOfWork()
    letter_id, item_number = await known_letter(uow)
    uow.letters.forget(letter_id, NOW)
    query = OpenVerificationCase(
        correlation_id=letter_id,
        item_number=item_number,
        document_channel=DocumentChannel.upload,
        code_channel="email",
        code_address=EMAIL,
    )

    answer = await cases.open_case(query, uow, settings=SETTINGS, clock=clock)

    assert answer.case_id is None and "past its acceptance and download windows" in (answer.reason or "")
    assert uow.cases.by_id == {} and uow.published == []


async def test_a_case_shows_its_recipient_as_forgotten_once_the_sweep_forgot_them() -> None:
    uow = InMemoryUnitOfWork()
    case_id = await opened(uow)
    letter_id = uow.cases.by_id[case_id].letter_id
    uow.letters.forget(letter_id, NOW)

    detail = await desk.case_detail(uow, case_id, NOW)

    assert detail["recipient"] == {
        "recipient_name": None,
        "recipient_company": None,
        "recipient_landline": None,
        "recipient_forgotten_at": NOW,
    }


async def test_a_code_address_the_sender_did_not_declare_opens_no_case() -> None:
    uow = InMemoryUnitOfWork()
    letter_id, item_number = await known_letter(uow)
    query = OpenVerificationCase(
        correlation_id=letter_id,
        item_number=item_number,
        document_channel=DocumentChannel.upload,
        code_channel="email",
        code_address="someone.else@exemple.example",
    )
    answer = await cases.open_case(query, uow, settings=SETTINGS, clock=clock)
    assert answer.case_id is None and "declared email" in (answer.reason or "")
    assert uow.cases.by_id == {} and uow.published == []


async def test_opening_again_with_the_same_channels_confirms_only_once() -> None:
    uow = InMemoryUnitOfWork()
    case_id = await opened(uow)
    case = uow.cases.by_id[case_id]
    query = OpenVerificationCase(
        correlation_id=case.letter_id,
        item_number=case.item_number,
        document_channel=DocumentChannel.upload,
        code_channel="email",
        code_address=EMAIL,
    )
    again = await cases.open_case(query, uow, settings=SETTINGS, clock=clock)
    assert again.case_id == case_id
    assert len(uow.sent(SendCaseConfirmation)) == 1
    assert uow.case_events.actions(case_id) == ["opened", "channels_chosen"]


async def test_an_uploaded_document_puts_the_case_in_the_agents_queue() -> None:
    uow, vault = InMemoryUnitOfWork(), InMemoryVault()
    case_id = await opened(uow)
    case = uow.cases.by_id[case_id]
    command = AddIdentityDocument(
        correlation_id=case.letter_id, case_id=case_id, filename="id.png", content=PNG
    )
    added = await cases.add_identity_document(
        command,
        uow,
        vault=vault,
        settings=SETTINGS.model_copy(update={"max_document_bytes": 10_000}),
        clock=clock,
    )
    assert added.accepted and added.state == "pending"
    assert list(vault.objects) == [f"documents/{added.document_id}"]


# ------------------------------------------------------------------------------ desk


async def test_the_oldest_waiting_case_goes_to_the_agent_who_claims() -> None:
    uow = InMemoryUnitOfWork()
    older, newer = await opened(uow), await opened(uow)
    await uow.cases.documents_arrived(newer, NOW)
    await uow.cases.documents_arrived(older, NOW - timedelta(hours=1))
    claimed = await desk.claim(uow, ALICE, NOW)
    assert claimed is not None and claimed["case_id"] == older and claimed["claimed_by"] == "alice"
    assert await desk.claim(uow, ALICE, NOW) is not None
    assert await desk.claim(uow, ALICE, NOW) is None


async def test_approval_tells_the_pickup_site_and_sends_the_code() -> None:
    uow = InMemoryUnitOfWork()
    case_id = await opened(uow)
    await uow.cases.documents_arrived(case_id, NOW)
    await desk.claim(uow, ALICE, NOW)
    identity = ChecklistItem(
        kind=DocumentKind.identity, document_type="id_card", number="X1", expiry_date=date(2030, 1, 1)
    )
    await desk.save_checklist(uow, case_id, ALICE, [identity], NOW)
    decided = await desk.decide(uow, case_id, ALICE, "approved", None, settings=SETTINGS, now=NOW)
    assert decided["state"] == "approved"
    assert [type(m) for m in uow.published[1:]] == [VerificationDecided, SendCode]
    assert uow.sent(SendCode)[0].address == EMAIL


async def test_an_agent_decides_only_a_case_they_hold() -> None:
    uow = InMemoryUnitOfWork()
    case_id = await opened(uow)
    await uow.cases.documents_arrived(case_id, NOW)
    await desk.claim(uow, ALICE, NOW)
    with pytest.raises(DeskError) as refused:
        await desk.decide(
            uow, case_id, Agent("bob", False), "rejected", "blurred", settings=SETTINGS, now=NOW
        )
    assert refused.value.status == 403
    assert uow.sent(VerificationDecided) == []


async def test_a_triage_entry_is_filed_once_and_its_documents_join_the_case() -> None:
    uow = InMemoryUnitOfWork()
    case_id = await opened(uow)
    triage_id = uuid.uuid4()
    await uow.triage.add(
        TriageEntry(triage_id, "email", EMAIL, "papiers", "", "no case reference found", NOW)
    )
    stored = await cases.store(
        uow,
        InMemoryVault(),
        cases.Attachment("a.png", PNG),
        channel="email",
        max_bytes=10_000,
        now=NOW,
        triage_id=triage_id,
    )
    assert isinstance(stored, cases.StoredDocument)
    assigned = await desk.assign_triage(uow, triage_id, case_id, SUPERVISOR, NOW)
    assert assigned["state"] == "pending" and assigned["documents"] == [stored.document_id]
    with pytest.raises(DeskError) as again:
        await desk.assign_triage(uow, triage_id, case_id, SUPERVISOR, NOW)
    assert again.value.status == 409


async def test_only_a_supervisor_lifts_a_letters_holds_and_the_command_goes_out() -> None:
    uow = InMemoryUnitOfWork()
    letter_id, item_number = await known_letter(uow)
    with pytest.raises(DeskError) as refused:
        await desk.lift_lock(uow, item_number, ALICE, [LockKind.code], "called support", NOW)
    lifted = await desk.lift_lock(uow, item_number, SUPERVISOR, [LockKind.code, LockKind.code], "called", NOW)
    assert refused.value.status == 403
    assert lifted["letter_id"] == letter_id and lifted["kinds"] == [LockKind.code]
    [command] = uow.sent(LiftLetterLock)
    assert command.supervisor == "sam"
    assert [e["action"] for e in await desk.letter_audit(uow, item_number)] == ["lock_lifted"]
