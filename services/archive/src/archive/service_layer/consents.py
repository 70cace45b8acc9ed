"""Consent registry use cases (CPCE L.100): record a consent, record its withdrawal, read the
history, and the check a deposit to a consumer goes through.

Each change is written with its event (`ConsentRecorded`, `ConsentWithdrawn`) in one
transaction, through the outbox; the signer seals each as an evidence record, chained per
sender and address (`consent_subject`). Only a sender may speak for itself: whether the
publisher of a command acts for its sender is the broker's word (`may_act`, from
`lre_shared.bus.acts_for`), never the message's.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

from archive.domain.consent import (
    Consent,
    consent_subject,
    deposit_consent_problem,
    email_key,
    needs_consent,
    record_problems,
    text_sha256,
    withdrawal_problems,
)
from archive.service_layer.ports import Consents, UnitOfWork
from lre_shared.clock import Clock, now_utc
from lre_shared.contracts import (
    ConsentAnswer,
    ConsentRecorded,
    ConsentWithdrawn,
    Problem,
    RecordConsent,
    SubmittedRecipient,
    WithdrawConsent,
)

# Whether the publisher of the message being handled may act for this sender id.
MayAct = Callable[[str], bool]


def _refused(command: RecordConsent | WithdrawConsent, problems: list[Problem]) -> ConsentAnswer:
    return ConsentAnswer(correlation_id=command.correlation_id, recorded=False, problems=tuple(problems))


def _not_yours(sender_id: str) -> Problem:
    return Problem(
        field="sender_id",
        reason=f"this connection may not act for sender {sender_id!r}: a sender records consents"
        " only for itself, connected as its own broker user",
    )


async def record_consent(
    command: RecordConsent,
    uow: UnitOfWork,
    *,
    may_act: MayAct,
    senders: frozenset[str] | None = None,
    clock: Clock = now_utc,
) -> ConsentAnswer:
    """Record a recipient's consent to the sender's electronic registered letters."""
    now = clock()
    problems = record_problems(command, now=now, senders=senders)
    sender_id = command.sender_id.strip()
    if sender_id and not may_act(sender_id):
        problems.insert(0, _not_yours(sender_id))
    if problems:
        return _refused(command, problems)
    key = email_key(command.email)
    await uow.consents.hold(sender_id, key)
    consent = Consent(
        consent_id=uuid4(),
        sender_id=sender_id,
        email=command.email.strip(),
        email_key=key,
        given_at=command.given_at,
        channel=command.channel.strip(),
        text=command.text,
        text_sha256=text_sha256(command.text),
        reference=(command.reference or "").strip() or None,
        recorded_at=now,
    )
    await uow.consents.add(consent)
    subject = consent_subject(sender_id, key)
    await uow.publish(
        ConsentRecorded(
            correlation_id=subject,
            consent_id=consent.consent_id,
            sender_id=sender_id,
            email=consent.email,
            email_key=key,
            given_at=consent.given_at,
            channel=command.channel.strip(),  # checked: one of CHANNELS
            text=consent.text,
            text_sha256=consent.text_sha256,
            reference=consent.reference,
            recorded_at=now,
        )
    )
    return _recorded(command, consent.consent_id, subject, consent.text_sha256)


async def withdraw_consent(
    command: WithdrawConsent,
    uow: UnitOfWork,
    *,
    may_act: MayAct,
    senders: frozenset[str] | None = None,
    clock: Clock = now_utc,
) -> ConsentAnswer:
    """Record that the recipient withdrew their consent: deposits from now on are refused."""
    now = clock()
    sender_id = command.sender_id.strip()
    if sender_id and not may_act(sender_id):
        return _refused(command, [_not_yours(sender_id)])
    key = email_key(command.email)
    current = None
    if sender_id and key:
        await uow.consents.hold(sender_id, key)
        current = await uow.consents.latest(sender_id, key)
    problems = withdrawal_problems(command, current, now=now, senders=senders)
    if problems or current is None:
        return _refused(command, problems)
    channel = command.channel.strip()
    await uow.consents.record_withdrawal(
        current.consent_id, withdrawn_at=command.withdrawn_at, channel=channel, recorded_at=now
    )
    subject = consent_subject(sender_id, key)
    await uow.publish(
        ConsentWithdrawn(
            correlation_id=subject,
            consent_id=current.consent_id,
            sender_id=sender_id,
            email_key=key,
            withdrawn_at=command.withdrawn_at,
            channel=channel,  # checked: one of CHANNELS
            recorded_at=now,
        )
    )
    return _recorded(command, current.consent_id, subject, current.text_sha256)


def _recorded(
    command: RecordConsent | WithdrawConsent, consent_id: UUID, subject: UUID, text_sha256: str
) -> ConsentAnswer:
    return ConsentAnswer(
        correlation_id=command.correlation_id,
        recorded=True,
        consent_id=consent_id,
        subject_id=subject,
        text_sha256=text_sha256,
    )


async def deposit_consent(
    consents: Consents, sender_id: str, recipient: SubmittedRecipient
) -> Problem | None:
    """CPCE L.100 at the deposit: why a letter to this recipient cannot be taken for want of
    consent, or None. Judged now, once: a withdrawal later leaves the letter deposited. The
    history is held shared until the deposit commits, so a withdrawal waits for it."""
    if not needs_consent(recipient):
        return None
    key = email_key(recipient.email)
    await consents.hold(sender_id, key, shared=True)
    return deposit_consent_problem(recipient, await consents.latest(sender_id, key))


async def consent_history(uow: UnitOfWork, sender_id: str, email: str | None = None) -> list[Consent]:
    """The sender's consent history, oldest first: of one address, or of all of them."""
    return await uow.consents.history(sender_id, None if email is None else email_key(email))
