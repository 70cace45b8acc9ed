"""The consent registry's rules (CPCE L.100).

CPCE L.100: when the recipient of an electronic registered letter is not a professional, they
must have told the sender that they agree to receive such letters. The archive keeps, per
sender and recipient address, the history of that consent: each consent as given (when, how,
the exact text agreed to and its SHA-256, the sender's reference), each withdrawal (when,
how). The history only grows: a consent given again after a withdrawal is a new entry, and
the latest entry is the current state.

A deposit to a consumer (the default kind of recipient: a sender must say a recipient is a
professional) is taken only while a consent from that sender is current. It is judged at the
deposit, once: a letter deposited stands whatever happens to the consent afterwards.

Addresses are matched as people mean them: Unicode NFKC, then case-folded (`email_key`), so
`Camille.Martin@Exemple.example` and `camille.martin@exemple.example` are one recipient.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import get_args
from uuid import UUID, uuid5

from pydantic import EmailStr, TypeAdapter, ValidationError

from lre_shared.contracts import ConsentChannel, Problem, RecordConsent, SubmittedRecipient, WithdrawConsent
from lre_shared.text import text_fault

CHANNELS: tuple[str, ...] = get_args(ConsentChannel)
MAX_TEXT_CHARS = 20_000
# The sender's clock and ours may differ a little; a consent further in the future is a mistake.
CLOCK_SKEW = timedelta(minutes=5)
# Line breaks and tabs belong in a text agreed to; every other character rule of
# `lre_shared.text` holds (what is read on a proof must be what was recorded).
_LAYOUT = str.maketrans("", "", "\r\n\t")
# One evidence chain per sender and address: its id is derived from both.
_SUBJECTS = UUID("4d6a3c8e-7f0b-5b55-9a0e-2c1d0b6f1c00")
_email = TypeAdapter(EmailStr)


def email_key(email: str) -> str:
    """The address as the registry matches it: trimmed, NFKC, case-folded, NFKC again (case
    folding may leave text that is not normalised)."""
    folded = unicodedata.normalize("NFKC", email.strip()).casefold()
    return unicodedata.normalize("NFKC", folded)


def consent_subject(sender_id: str, key: str) -> UUID:
    """The id of a sender's consent history for one address (`email_key`): the correlation
    id of its events, and so the signer's evidence chain of it."""
    return uuid5(_SUBJECTS, f"{sender_id}\n{key}")


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Consent:
    """One entry of the history: a consent as given, and its withdrawal once there is one."""

    consent_id: UUID
    sender_id: str
    email: str
    email_key: str
    given_at: datetime
    channel: str
    text: str
    text_sha256: str
    reference: str | None
    recorded_at: datetime
    withdrawn_at: datetime | None = None
    withdrawal_channel: str | None = None
    withdrawal_recorded_at: datetime | None = None

    @property
    def current(self) -> bool:
        return self.withdrawn_at is None


def record_problems(
    command: RecordConsent, *, now: datetime, senders: frozenset[str] | None
) -> list[Problem]:
    """Every problem of a consent to record, by field; empty when it can be recorded."""
    problems = [*_party_problems(command.sender_id, command.email, senders)]
    problems.extend(_time_problems("given_at", command.given_at, now))
    problems.extend(_channel_problems("channel", command.channel))
    if not command.text.strip():
        problems.append(Problem(field="text", reason="missing: the exact text the recipient agreed to"))
    elif fault := text_fault(command.text.translate(_LAYOUT), max_chars=MAX_TEXT_CHARS):
        problems.append(Problem(field="text", reason=fault))
    if command.reference is not None and (fault := text_fault(command.reference, max_chars=200)):
        problems.append(Problem(field="reference", reason=fault))
    return problems


def withdrawal_problems(
    command: WithdrawConsent, current: Consent | None, *, now: datetime, senders: frozenset[str] | None
) -> list[Problem]:
    """Every problem of a withdrawal, by field; `current` is the latest entry of the history."""
    problems = [*_party_problems(command.sender_id, command.email, senders)]
    problems.extend(_time_problems("withdrawn_at", command.withdrawn_at, now))
    problems.extend(_channel_problems("channel", command.channel))
    if problems:
        return problems
    if current is None or not current.current:
        problems.append(
            Problem(field="email", reason="no current consent of this recipient to withdraw for this sender")
        )
    elif command.withdrawn_at < current.given_at:
        problems.append(
            Problem(
                field="withdrawn_at",
                reason=f"before the consent was given ({current.given_at.isoformat()})",
            )
        )
    return problems


def deposit_consent_problem(recipient: SubmittedRecipient, current: Consent | None) -> Problem | None:
    """CPCE L.100 at the deposit: a letter to a consumer needs their current consent to this
    sender's electronic registered letters; None when the deposit may go on."""
    if recipient.kind.strip().lower() != "consumer":
        return None
    if current is not None and current.current:
        return None
    address = recipient.email.strip()
    held = (
        "holds no consent"
        if current is None
        else f"holds a consent that was withdrawn on {current.withdrawn_at:%Y-%m-%d}"
    )
    return Problem(
        field="recipient.kind",
        reason=f"CPCE L.100: a recipient who is not a professional must have agreed to receive"
        f" electronic registered letters from the sender, and the registry {held} from this"
        f" sender for {address}. Record the recipient's consent first (RecordConsent,"
        " `lre-send consent record`), or, if they receive this letter for their trade or"
        " profession, declare recipient.kind professional",
    )


def needs_consent(recipient: SubmittedRecipient) -> bool:
    return recipient.kind.strip().lower() == "consumer"


def _party_problems(sender_id: str, email: str, senders: frozenset[str] | None) -> list[Problem]:
    problems: list[Problem] = []
    sender = sender_id.strip()
    if not sender:
        problems.append(Problem(field="sender_id", reason="missing: the sender system's id is required"))
    elif fault := text_fault(sender, max_chars=100):
        problems.append(Problem(field="sender_id", reason=fault))
    elif senders is not None and sender not in senders:
        problems.append(
            Problem(
                field="sender_id",
                reason=f"unknown sender {sender!r}: ask the platform operator to register it",
            )
        )
    address = email.strip()
    if not address:
        problems.append(Problem(field="email", reason="missing: the recipient's email address is required"))
    elif fault := text_fault(address, max_chars=320):
        problems.append(Problem(field="email", reason=fault))
    else:
        try:
            _email.validate_python(address)
        except ValidationError as exc:
            detail = exc.errors()[0]["msg"].removeprefix("value is not a valid email address: ")
            problems.append(
                Problem(field="email", reason=f"{address!r} is not a valid email address: {detail}")
            )
    return problems


def _time_problems(field: str, at: datetime, now: datetime) -> list[Problem]:
    if at.tzinfo is None:
        return [Problem(field=field, reason="give a time zone (e.g. 2025-01-31T10:00:00+01:00)")]
    if at > now + CLOCK_SKEW:
        return [Problem(field=field, reason=f"in the future ({at.isoformat()}); it must have happened")]
    return []


def _channel_problems(field: str, channel: str) -> list[Problem]:
    if channel.strip() in CHANNELS:
        return []
    return [
        Problem(
            field=field,
            reason=f"{channel[:30]!r} is not a channel of consent: {', '.join(CHANNELS)}",
        )
    ]
