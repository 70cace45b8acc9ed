"""The consent registry (CPCE L.100): a letter to a consumer needs their consent, recorded by
the sender itself; its history only grows; withdrawal is honoured from then on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from archive.domain.consent import consent_subject, email_key
from archive.domain.submission import Limits
from archive.service_layer.consents import consent_history, record_consent, withdraw_consent
from archive.service_layer.handlers import submit_letter
from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from lre_shared.contracts import (
    ConsentAnswer,
    ConsentRecorded,
    ConsentWithdrawn,
    Document,
    LetterDeposited,
    LetterRejected,
    RecordConsent,
    SubmitLetter,
    WithdrawConsent,
)
from services.archive.tests.unit.fakes import FakeStore, FakeUnitOfWork

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SENDER = DEMO_SENDER.id
CONSUMER = DEMO_RECIPIENT.model_copy(update={"kind": "consumer", "email": "camille.martin@exemple.example"})
TEXT = "J'accepte de recevoir des lettres recommandées électroniques de Cabinet Démo.\nFait à Paris."
LIMITS = Limits(document_bytes=1_000_000, letter_bytes=2_000_000, embedded_bytes=1_000_000, attachments=3)


def anyone(sender_id: str) -> bool:
    return True


def nobody(sender_id: str) -> bool:
    return False


def a_consent(**changes: Any) -> RecordConsent:
    fields: dict[str, Any] = {
        "correlation_id": uuid4(),
        "sender_id": SENDER,
        "email": "Camille.Martin@Exemple.example",
        "given_at": NOW - timedelta(days=3),
        "channel": "web_form",
        "text": TEXT,
        "reference": "form-2026-117",
    }
    return RecordConsent.model_validate(fields | changes)


def a_withdrawal(**changes: Any) -> WithdrawConsent:
    fields: dict[str, Any] = {
        "correlation_id": uuid4(),
        "sender_id": SENDER,
        "email": "camille.martin@exemple.example",
        "withdrawn_at": NOW - timedelta(hours=1),
        "channel": "email",
    }
    return WithdrawConsent.model_validate(fields | changes)


async def record(uow: FakeUnitOfWork, command: RecordConsent | None = None, **kw: Any) -> ConsentAnswer:
    return await record_consent(
        command or a_consent(), uow, may_act=kw.get("may_act", anyone), clock=lambda: NOW
    )  # type: ignore[arg-type]


async def withdraw(uow: FakeUnitOfWork, command: WithdrawConsent | None = None) -> ConsentAnswer:
    return await withdraw_consent(command or a_withdrawal(), uow, may_act=anyone, clock=lambda: NOW)  # type: ignore[arg-type]


async def deposit(uow: FakeUnitOfWork, recipient: Any = CONSUMER) -> LetterDeposited | LetterRejected:
    command = SubmitLetter(
        correlation_id=uuid4(),
        sender=DEMO_SENDER,
        recipient=recipient,
        main_document=Document(filename="lettre.pdf", content=demo_pdf()),
    )
    await submit_letter(command, uow, store=FakeStore(), limits=LIMITS)  # type: ignore[arg-type]
    outcome = uow.published[-1]
    assert isinstance(outcome, LetterDeposited | LetterRejected)
    return outcome


# ------------------------------------------------------------------- normalisation


def test_addresses_match_whatever_their_case_and_unicode_form() -> None:
    assert email_key(" Camille.MARTIN@Exemple.EXAMPLE ") == "camille.martin@exemple.example"
    # NFKC: a full-width letter and a composed accent are the letters people mean.
    assert email_key("ｃamille@exemple.example") == "camille@exemple.example"
    assert email_key("Ame\u0301lie@exemple.example") == email_key("amélie@exemple.example")
    # Case folding beyond lower(): ß is ss.
    assert email_key("STRAßE@exemple.example") == email_key("strasse@exemple.example")


def test_one_history_per_sender_and_address() -> None:
    key = email_key("camille.martin@exemple.example")
    assert consent_subject("acme", key) == consent_subject("acme", key)
    assert consent_subject("acme", key) != consent_subject("other", key)


# ------------------------------------------------------------------------ the rule


async def test_a_letter_to_a_consumer_without_consent_is_refused_saying_how_to_fix_it() -> None:
    outcome = await deposit(FakeUnitOfWork())

    assert isinstance(outcome, LetterRejected)
    [problem] = outcome.problems
    assert problem.field == "recipient.kind"
    assert "CPCE L.100" in problem.reason
    assert "RecordConsent" in problem.reason and "professional" in problem.reason


async def test_a_consumer_is_the_default_kind_of_recipient() -> None:
    recipient = CONSUMER.model_dump(exclude={"kind"})
    outcome = await deposit(FakeUnitOfWork(), recipient)

    assert isinstance(outcome, LetterRejected)
    assert [p.field for p in outcome.problems] == ["recipient.kind"]


async def test_a_letter_to_a_professional_needs_no_consent() -> None:
    outcome = await deposit(FakeUnitOfWork(), CONSUMER.model_copy(update={"kind": "professional"}))

    assert isinstance(outcome, LetterDeposited)
    assert outcome.recipient.kind == "professional"


async def test_an_unknown_kind_of_recipient_is_refused_by_field() -> None:
    outcome = await deposit(FakeUnitOfWork(), CONSUMER.model_copy(update={"kind": "company"}))

    assert isinstance(outcome, LetterRejected)
    assert [p.field for p in outcome.problems] == ["recipient.kind"]
    assert "consumer" in outcome.problems[0].reason


async def test_once_consent_is_recorded_the_same_letter_is_taken_the_address_matched_caselessly() -> None:
    uow = FakeUnitOfWork()
    assert (await record(uow)).recorded

    outcome = await deposit(uow)

    assert isinstance(outcome, LetterDeposited)
    assert outcome.recipient.kind == "consumer"


async def test_after_withdrawal_letters_are_refused_again() -> None:
    uow = FakeUnitOfWork()
    await record(uow)
    assert isinstance(await deposit(uow), LetterDeposited)
    assert (await withdraw(uow)).recorded

    outcome = await deposit(uow)

    assert isinstance(outcome, LetterRejected)
    assert "withdrawn" in outcome.problems[0].reason


async def test_consent_to_one_sender_does_not_serve_another() -> None:
    uow = FakeUnitOfWork()
    await record(uow, a_consent(sender_id="another-sender"))

    assert isinstance(await deposit(uow), LetterRejected)


async def test_a_deposit_reads_the_history_under_a_shared_hold() -> None:
    uow = FakeUnitOfWork()
    await deposit(uow)

    assert uow.consents.holds == [(SENDER, "camille.martin@exemple.example", True)]


# ------------------------------------------------------------------ the registry


async def test_a_recorded_consent_keeps_the_text_its_hash_and_is_published_for_sealing() -> None:
    uow = FakeUnitOfWork()
    answer = await record(uow)

    [row] = uow.consents.rows
    [event] = uow.published
    assert isinstance(event, ConsentRecorded)
    assert row.text == TEXT and event.text == TEXT
    assert answer.text_sha256 == row.text_sha256 == event.text_sha256
    assert event.correlation_id == answer.subject_id == consent_subject(SENDER, row.email_key)
    assert (row.channel, row.reference, row.recorded_at) == ("web_form", "form-2026-117", NOW)
    assert row.email == "Camille.Martin@Exemple.example"  # as given; matched by its key


async def test_history_is_append_only_and_the_latest_entry_is_the_current_state() -> None:
    uow = FakeUnitOfWork()
    first = await record(uow)
    await withdraw(uow)
    second = await record(uow, a_consent(given_at=NOW - timedelta(minutes=5), channel="paper"))

    history = await consent_history(uow, SENDER, "CAMILLE.martin@exemple.example")  # type: ignore[arg-type]

    assert [c.consent_id for c in history] == [first.consent_id, second.consent_id]
    assert history[0].withdrawn_at == NOW - timedelta(hours=1)
    assert history[0].withdrawal_channel == "email"
    assert history[1].current
    assert [type(m) for m in uow.published] == [ConsentRecorded, ConsentWithdrawn, ConsentRecorded]
    assert isinstance(await deposit(uow), LetterDeposited)


async def test_only_the_sender_itself_may_record_for_itself() -> None:
    uow = FakeUnitOfWork()
    answer = await record(uow, may_act=nobody)

    assert not answer.recorded
    assert [p.field for p in answer.problems] == ["sender_id"]
    assert uow.consents.rows == [] and uow.published == []


async def test_a_consent_is_refused_by_field_when_incomplete_or_in_the_future() -> None:
    uow = FakeUnitOfWork()
    command = a_consent(email="not an address", channel="sms", text="  ", given_at=NOW + timedelta(days=1))

    answer = await record(uow, command)

    assert not answer.recorded
    assert [p.field for p in answer.problems] == ["email", "given_at", "channel", "text"]
    assert uow.consents.rows == []


async def test_a_consent_without_a_time_zone_is_refused() -> None:
    answer = await record(FakeUnitOfWork(), a_consent(given_at=datetime(2026, 3, 1, 10, 0)))

    assert [p.field for p in answer.problems] == ["given_at"]


async def test_the_text_may_span_lines_but_not_hide_characters() -> None:
    assert (await record(FakeUnitOfWork(), a_consent(text="Ligne 1\r\nLigne 2\tfin"))).recorded
    answer = await record(FakeUnitOfWork(), a_consent(text="J'accepte\u202e"))
    assert [p.field for p in answer.problems] == ["text"]


async def test_nothing_to_withdraw_is_refused() -> None:
    uow = FakeUnitOfWork()
    answer = await withdraw(uow)

    assert not answer.recorded
    assert [p.field for p in answer.problems] == ["email"]
    await record(uow)
    await withdraw(uow)
    assert not (await withdraw(uow)).recorded  # withdrawn already


async def test_a_withdrawal_before_the_consent_was_given_is_refused() -> None:
    uow = FakeUnitOfWork()
    await record(uow)

    answer = await withdraw(uow, a_withdrawal(withdrawn_at=NOW - timedelta(days=30)))

    assert [p.field for p in answer.problems] == ["withdrawn_at"]
