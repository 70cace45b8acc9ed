"""Who speaks for a sender: the broker's word, not the message's.

Each sender system connects to RabbitMQ as its own user (`lre-senders add`); what it publishes
carries the AMQP `user_id`, which the broker checks against the connection (a forged one
closes the channel) and the consumer reads (`lre_shared.bus.publisher_user`). The archive
takes a deposit, grants an upload or says where a letter stands only for the sender the
publisher acts for: its own user, or a user the platform trusts to act for every sender
(`ARCHIVE_TRUSTED_PUBLISHERS`: the platform's tooling, the dead-letter replayer).

A deposit in another sender's name is refused (ETSI EN 319 522 SubmissionRejection, field
`sender.id`) to whoever published it, never to the sender it named, and nothing is stored. A
status asked about another sender's letter is answered as for a letter never sent: nobody
learns that a letter of another sender exists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any
from uuid import UUID

from archive.service_layer.handlers import malformed_rejection, refuse_malformed_deposit, reject
from archive.service_layer.ports import UnitOfWork
from archive.service_layer.status import get_letter_status
from archive.service_layer.uploads import UploadDesk, request_upload
from lre_shared.bus import Fault, PermanentError, acts_for, publisher_user
from lre_shared.contracts import (
    GetLetterStatus,
    LetterRejected,
    LetterStatus,
    Message,
    Problem,
    RequestUpload,
    SubmitLetter,
    UploadGranted,
)
from lre_shared.jsonscan import top_level_members

Deposit = Callable[[SubmitLetter, UnitOfWork], Awaitable[Message | None]]


def not_yours(claimed: str) -> Problem:
    user = publisher_user()
    return Problem(
        field="sender.id",
        reason=f"this connection's broker user ({user}) may not act for sender {claimed!r}:"
        " deposit with the sender's own broker user (`lre-senders add`), under its own id",
    )


def refusal_addressee() -> str:
    """Whoever published the message being handled: a refusal goes back to it. Without a
    broker user there is no one to tell (the message is dead-lettered)."""
    user = publisher_user()
    if user is None:
        raise PermanentError(
            "the message carries no AMQP user_id: publish with the user_id of the connection's"
            " broker user (the broker checks it), as lre_shared.sender does"
        )
    return user


async def deposit_as_publisher(
    command: SubmitLetter, uow: UnitOfWork, *, trusted: Collection[str], deposit: Deposit
) -> Message | None:
    """`deposit` the letter if the publisher acts for its sender; else refuse it to the publisher."""
    claimed = command.sender.id.strip()
    if acts_for(claimed, trusted):
        return await deposit(command, uow)
    await reject(
        uow,
        LetterRejected(
            correlation_id=command.correlation_id,
            sender_id=refusal_addressee(),
            problems=(not_yours(claimed),),
            idempotency_key=command.idempotency_key,
        ),
    )
    return None


async def refuse_malformed_as_publisher(
    body: bytes, faults: tuple[Fault, ...], uow: UnitOfWork, *, trusted: Collection[str]
) -> bool:
    """A deposit that does not parse (`refuse_malformed_deposit`), refused to the sender it
    names only when the publisher acts for that sender; otherwise to the publisher itself, with
    the `sender.id` problem too. False (dead-lettered) when there is no one to tell."""
    members = top_level_members(body, ("correlation_id", "sender", "idempotency_key"))
    claimed = _claimed_sender(members)
    publisher = publisher_user()
    if (claimed is not None and acts_for(claimed, trusted)) or (
        publisher is not None and publisher in trusted
    ):
        return await refuse_malformed_deposit(body, faults, uow)
    if publisher is None:
        return False
    try:
        letter_id = UUID(str(members["correlation_id"]))
    except (ValueError, TypeError, KeyError):
        return False
    first = (not_yours(claimed),) if claimed is not None else ()
    await reject(uow, malformed_rejection(letter_id, publisher, faults, members, first))
    return True


def _claimed_sender(members: dict[str, Any]) -> str | None:
    sender = members.get("sender")
    found = sender.get("id") if isinstance(sender, dict) else None
    return (found.strip() or None) if isinstance(found, str) else None


async def status_for_publisher(
    query: GetLetterStatus, uow: UnitOfWork, *, trusted: Collection[str]
) -> LetterStatus:
    """`get_letter_status` for a sender the publisher acts for; for any other, unknown."""
    if not acts_for(query.sender_id.strip(), trusted):
        return LetterStatus(correlation_id=query.correlation_id, state="unknown")
    return await get_letter_status(query, uow)


async def upload_for_publisher(
    query: RequestUpload, uow: UnitOfWork, *, trusted: Collection[str], desk: UploadDesk
) -> UploadGranted:
    """`request_upload` for a sender the publisher acts for; for any other, no upload, and why."""
    if not acts_for(query.sender_id.strip(), trusted):
        return UploadGranted(
            correlation_id=query.correlation_id,
            reason=not_yours(query.sender_id.strip()).reason,
            max_bytes=desk.limits.document_bytes,
        )
    return await request_upload(query, uow, desk=desk)
