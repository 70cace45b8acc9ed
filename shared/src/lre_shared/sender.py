"""What a sender system needs to deposit letters and follow them: one call each.

    async with SenderClient(amqp_url, "acme") as client:
        command = await client.letter(recipient, Path("letter.pdf"), sender=sender)
        await client.send(command)
        outcome = await client.outcome(command)          # item number, or every problem
        status = await client.status(command.correlation_id)
        evidence = await client.evidence(command.correlation_id)

Documents up to `EMBED_UP_TO` (512 KiB) travel inside the `SubmitLetter`; larger ones are
uploaded first through a presigned PUT URL (`RequestUpload`), declared with
the letter id and their SHA-256 so the store keeps them where they land, and referenced by
upload id. Commands are published persistent, confirmed and mandatory to the archive's
command exchange, and queries asked, as every service publishes and asks (`lre_shared.bus`);
outcomes (`LetterDeposited` or `LetterRejected`) are read from the archive's event exchange on
a queue of the client's own, bound before anything is sent.

The command line (`lre-send send | bulk | status`) is `lre_shared.sender_cli`.
"""

from __future__ import annotations

import asyncio
import hashlib
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TypeVar
from uuid import UUID

from aio_pika.abc import AbstractIncomingMessage
from aiormq.exceptions import DeliveryError
from faststream.rabbit import Channel, RabbitBroker, RabbitQueue

from lre_shared.bus import Publisher, ask
from lre_shared.contracts import (
    Document,
    EvidenceListed,
    GetLetterStatus,
    LetterDeposited,
    LetterRejected,
    LetterStatus,
    ListEvidence,
    Message,
    NoticeChannel,
    Problem,
    RequestUpload,
    SignatureMethod,
    SubmitLetter,
    SubmittedRecipient,
    SubmittedSender,
    UploadGranted,
)
from lre_shared.topology import Service, events_exchange

R = TypeVar("R", bound=Message)

EMBEDDED_LIMIT = 1024 * 1024  # the archive's default MAX_EMBEDDED_BYTES
# Below the archive's limit all the same: base64 in JSON costs about 6.5 ms of CPU a MiB to
# encode and decode (and a large message weighs on the broker's queues), where an upload
# costs a fixed exchange plus one read of the bytes by the archive; at 1 MiB the upload is
# the cheaper way (`bench/deposit.py`, deposits per second against raw puts: 0.56 by
# upload, 0.49 embedded), at 64 KiB embedding is (0.2 ms).
EMBED_UP_TO = 512 * 1024


def _broker(amqp_url: str) -> RabbitBroker:
    # Confirmed and mandatory: a message no queue takes comes back and raises.
    return RabbitBroker(
        amqp_url, default_channel=Channel(publisher_confirms=True, on_return_raises=True), logger=None
    )


async def submit_letter(amqp_url: str, command: SubmitLetter) -> UUID:
    """Publish `command` and return the letter id once the broker has confirmed it."""
    broker = _broker(amqp_url)
    await broker.connect()
    try:
        # Persistent, confirmed, mandatory, with the sender's trace context in its headers.
        await Publisher(broker).publish(command)
    finally:
        await broker.stop()
    return command.correlation_id


class UploadRefused(Exception):
    """The archive granted no upload, or the store refused the PUT."""


class NotTaken(Exception):
    """No queue took the command: the archive is not set up on this broker."""


@dataclass(frozen=True)
class Outcome:
    """How the archive answered a deposit."""

    letter_id: UUID
    item_number: str | None = None
    problems: tuple[Problem, ...] = ()

    @property
    def deposited(self) -> bool:
        return self.item_number is not None


@dataclass
class _Waiting:
    letter_id: UUID
    idempotency_key: str | None
    done: asyncio.Future[Outcome] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class SenderClient:
    """One sender system's connection to the platform (see the module's docstring)."""

    def __init__(
        self,
        amqp_url: str,
        sender_id: str,
        *,
        embedded_limit: int = EMBED_UP_TO,
        timeout: float = 15.0,
    ) -> None:
        self.amqp_url = amqp_url
        self.sender_id = sender_id
        self.embedded_limit = embedded_limit
        self.timeout = timeout
        self._broker: RabbitBroker | None = None
        self._waiting: list[_Waiting] = []

    async def __aenter__(self) -> SenderClient:
        self._broker = _broker(self.amqp_url)
        await self._broker.connect()
        outcomes = await self._broker.declare_queue(
            RabbitQueue(f"lre-send.{uuid.uuid4()}", exclusive=True, auto_delete=True)
        )
        for message_type in (LetterDeposited, LetterRejected):
            await outcomes.bind(events_exchange(Service.archive), routing_key=message_type.routing_key)
        await outcomes.consume(self._on_outcome, no_ack=True)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._broker is not None:
            await self._broker.stop()
            self._broker = None

    # ---------------------------------------------------------------- deposits

    async def letter(
        self,
        recipient: SubmittedRecipient,
        main: Path,
        *,
        sender: SubmittedSender,
        attachments: tuple[Path, ...] = (),
        alert_channels: tuple[NoticeChannel, ...] = (NoticeChannel.email,),
        signature_methods: tuple[SignatureMethod, ...] = (
            SignatureMethod.certificate,
            SignatureMethod.one_time_code,
        ),
        verification_policy: str = "default",
        idempotency_key: str | None = None,
        letter_id: UUID | None = None,
    ) -> SubmitLetter:
        """A `SubmitLetter` from files: small ones embedded, larger ones uploaded first."""
        letter_id = letter_id or uuid.uuid4()
        main_document, main_upload = await self._document(main, letter_id)
        embedded: list[Document] = []
        uploaded: list[UUID] = []
        for path in attachments:
            document, upload_id = await self._document(path, letter_id)
            if document is not None:
                embedded.append(document)
            elif upload_id is not None:
                uploaded.append(upload_id)
        return SubmitLetter.model_validate(
            {
                "correlation_id": letter_id,
                "sender": sender,
                "recipient": recipient,
                "main_document": main_document,
                "main_upload_id": main_upload,
                "attachments": tuple(embedded),
                "attachment_upload_ids": tuple(uploaded),
                "alert_channels": alert_channels,
                "signature_methods": signature_methods,
                "verification_policy": verification_policy,
                "idempotency_key": idempotency_key,
            }
        )

    async def _document(self, path: Path, letter_id: UUID) -> tuple[Document | None, UUID | None]:
        content = await asyncio.to_thread(path.read_bytes)
        if len(content) <= self.embedded_limit:
            return Document(filename=path.name, content=content), None
        return None, await self.upload(path.name, content, letter_id)

    async def upload(self, filename: str, content: bytes, letter_id: UUID) -> UUID:
        """Upload one document through a presigned URL; returns the upload id to reference."""
        grant = await self.ask(
            RequestUpload(
                correlation_id=letter_id,
                sender_id=self.sender_id,
                filename=filename,
                size=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
            ),
            UploadGranted,
        )
        if grant.upload_id is None:
            raise UploadRefused(f"{filename}: {grant.reason}")
        status = await asyncio.to_thread(_put, grant.url, content, grant.headers)
        # 412: these very bytes are there already (the same document, uploaded for this letter
        # before): the deposit checks them against their hash all the same.
        if status not in (200, 412):
            raise UploadRefused(f"{filename}: the store refused the upload ({status})")
        return grant.upload_id

    async def send(self, command: SubmitLetter) -> None:
        """Publish a deposit (persistent, confirmed, mandatory); its outcome follows."""
        try:
            await Publisher(self._connected()).publish(command)
        except DeliveryError as exc:
            raise NotTaken(f"no queue takes {command.routing_key}: is the archive running?") from exc
        self._waiting.append(_Waiting(command.correlation_id, command.idempotency_key))

    async def outcome(self, command: SubmitLetter, timeout: float | None = None) -> Outcome | None:
        """The archive's answer to a sent deposit; None if none came within `timeout`."""
        waiting = next((w for w in self._waiting if w.letter_id == command.correlation_id), None)
        if waiting is None:
            raise ValueError(f"letter {command.correlation_id} was not sent by this client")
        try:
            return await asyncio.wait_for(asyncio.shield(waiting.done), timeout or self.timeout)
        except TimeoutError:
            return None

    # ------------------------------------------------------------------ queries

    async def status(self, letter_id: UUID | None = None, idempotency_key: str | None = None) -> LetterStatus:
        """Where a deposit of this sender stands, by letter id or idempotency key."""
        query = GetLetterStatus(
            correlation_id=letter_id or uuid.uuid4(),
            sender_id=self.sender_id,
            idempotency_key=idempotency_key,
        )
        return await self.ask(query, LetterStatus)

    async def evidence(self, letter_id: UUID) -> EvidenceListed:
        """The letter's evidence records, as the signer lists them (TimeoutError if it does not answer)."""
        return await self.ask(ListEvidence(correlation_id=letter_id), EvidenceListed)

    async def ask(self, query: Message, answer: type[R], timeout: float | None = None) -> R:
        """Request/reply, as a service asks (`lre_shared.bus.ask`): TimeoutError when no answer
        comes in time, or when nothing takes the query."""
        return await ask(self._connected(), query, answer, timeout=timeout or self.timeout)

    # ----------------------------------------------------------------- plumbing

    def _connected(self) -> RabbitBroker:
        if self._broker is None:
            raise RuntimeError("use the client in `async with`")
        return self._broker

    async def _on_outcome(self, message: AbstractIncomingMessage) -> None:
        if message.routing_key == LetterDeposited.routing_key:
            deposited = LetterDeposited.model_validate_json(message.body)
            if deposited.sender.id != self.sender_id:
                return
            for waiting in self._waiting:
                # A deposit repeated under its idempotency key is announced under the first
                # letter's id: the key tells it is this one.
                same_key = waiting.idempotency_key is not None and waiting.idempotency_key == (
                    deposited.idempotency_key
                )
                if waiting.letter_id == deposited.correlation_id or same_key:
                    _settle(waiting, Outcome(deposited.correlation_id, deposited.item_number))
        elif message.routing_key == LetterRejected.routing_key:
            rejected = LetterRejected.model_validate_json(message.body)
            for waiting in self._waiting:
                if waiting.letter_id == rejected.correlation_id:
                    _settle(waiting, Outcome(rejected.correlation_id, problems=rejected.problems))


def _put(url: str, content: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=content, headers=headers, method="PUT")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 (the archive's URL)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _settle(waiting: _Waiting, outcome: Outcome) -> None:
    if not waiting.done.done():
        waiting.done.set_result(outcome)
