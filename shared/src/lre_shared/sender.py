"""What a sender system needs to deposit letters and follow them: one call each.

    async with SenderClient(amqp_url, "acme") as client:
        # CPCE L.100: before the first letter to a consumer, their consent (once).
        await client.record_consent(email, given_at=when, channel="web_form", text=agreed_text)
        command = await client.letter(recipient, Path("letter.pdf"), sender=sender)
        await client.send(command)
        outcome = await client.outcome(command)          # item number, or every problem
        status = await client.status(command.correlation_id)
        evidence = await client.evidence(command.correlation_id)

Documents up to `EMBED_UP_TO` (512 KiB) travel inside the `SubmitLetter`; larger ones are
uploaded first through a presigned PUT URL (`RequestUpload`), declared with
the letter id and their SHA-256 so the store keeps them where they land, and referenced by
upload id. Commands are published persistent, confirmed and mandatory, and queries asked, as
every service publishes and asks (`lre_shared.bus`), to the senders' exchange
`lre.senders.commands` with the AMQP `user_id` of the URL's broker user: the sender's own user
(`lre-senders add`), which the broker checks and the platform believes;
outcomes (`deposited` or `rejected`) are read from the sender's own events on
`lre.senders.events`, on a temporary queue of the client's (`lre-send.<sender id>.<uuid>`),
bound before anything is sent.

Every other fact of the sender's letters (notices, acceptance, refusal, unclaimed, signed
receipt, download, expiry, proofs) is on the sender's durable queue `lre.sender.<sender id>`:

    async with aclosing(client.events()) as events:
        async for event in events:                 # SenderEvent, in order per letter
            ...                                    # acknowledged when this body returns

The command line (`lre-send send | bulk | status`) is `lre_shared.sender_cli`.
"""

from __future__ import annotations

import asyncio
import hashlib
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Literal, TypeVar
from uuid import UUID

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from aiormq.exceptions import DeliveryError
from faststream.rabbit import Channel, RabbitBroker, RabbitQueue
from pydantic import ValidationError

from lre_shared.bus import Publisher, ask, broker_user
from lre_shared.contracts import (
    ConsentAnswer,
    Document,
    EvidenceListed,
    GetLetterStatus,
    IssueProofLink,
    LetterStatus,
    ListEvidence,
    ListProofs,
    Message,
    NoticeChannel,
    Problem,
    ProofKind,
    ProofLinkIssued,
    ProofsListed,
    RecordConsent,
    RequestUpload,
    SenderEvent,
    SenderEventKind,
    SignatureMethod,
    SubmitLetter,
    SubmittedRecipient,
    SubmittedSender,
    UploadGranted,
    WithdrawConsent,
)
from lre_shared.topology import (
    SENDERS_COMMANDS_EXCHANGE,
    SENDERS_EVENTS_EXCHANGE,
    sender_queue,
    sender_routing_key,
)

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
        # Persistent, confirmed, mandatory, with the sender's trace context in its headers; to
        # the senders' exchange, as the URL's broker user, which the broker checks.
        await Publisher(broker).publish(
            command, exchange=SENDERS_COMMANDS_EXCHANGE, user_id=broker_user(amqp_url)
        )
    finally:
        await broker.stop()
    return command.correlation_id


class UploadRefused(Exception):
    """The archive granted no upload, or the store refused the PUT."""


class ProofUnavailable(Exception):
    """No download for that proof: none issued yet, or not a letter of this sender."""


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
        # A queue of this client's own, under the one prefix a sender's broker user may
        # create, taking the outcomes of the sender's deposits only.
        outcomes = await self._broker.declare_queue(
            RabbitQueue(f"lre-send.{self.sender_id}.{uuid.uuid4()}", exclusive=True, auto_delete=True)
        )
        for kind in (SenderEventKind.deposited, SenderEventKind.rejected):
            await outcomes.bind(SENDERS_EVENTS_EXCHANGE, routing_key=sender_routing_key(self.sender_id, kind))
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
            await Publisher(self._connected()).publish(
                command, exchange=SENDERS_COMMANDS_EXCHANGE, user_id=self.broker_user
            )
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

    async def events(
        self, *, limit: int | None = None, idle: float | None = None, prefetch: int = 100
    ) -> AsyncGenerator[SenderEvent, None]:
        """Every fact of this sender's letters, from its durable queue `lre.sender.<sender id>`
        (bound `<sender id>.#` when the sender is registered), as they come: waits for more,
        ends after `limit` events or `idle` seconds without one.

        Each event is acknowledged once the loop's body returns for it (when the next one is
        asked for, or the limit ends the loop): at least once, so an event whose body did not
        finish (an exception, a `break`, a crash) comes again, to this or another consumer.
        Deduplicate by `message_id`; order a letter's events by `sequence` (from 1, without
        gaps: a gap is an event still to come). Close the iterator (`contextlib.aclosing`) to
        give back at once what was received and not acknowledged.
        """
        # A connection of its own, not robust: once it drops, the events it held go back to
        # the queue and acknowledging them is no longer possible; the caller starts again.
        connection = await aio_pika.connect(self.amqp_url)
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=prefetch)
            # Passive: the queue is the platform's (`lre-senders add`), never this client's.
            queue = await channel.get_queue(sender_queue(self.sender_id), ensure=True)
            received: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
            await queue.consume(received.put)
            given = 0
            while limit is None or given < limit:
                try:
                    message = await asyncio.wait_for(received.get(), idle)
                except TimeoutError:
                    return
                try:
                    event = SenderEvent.model_validate_json(message.body)
                except ValidationError:
                    await message.reject(requeue=False)  # not a sender event: it never will be
                    continue
                yield event
                await message.ack()
                given += 1
        finally:
            await connection.close()

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
        query = ListEvidence(correlation_id=letter_id, sender_id=self.sender_id)
        return await self.ask(query, EvidenceListed)

    async def proofs(self, letter_id: UUID) -> ProofsListed:
        """The letter's sealed proofs (CPCE R.53-3 IV: kept for the sender at least a year), as
        the signer lists them: empty for a letter with none yet, or not this sender's."""
        return await self.ask(ListProofs(correlation_id=letter_id, sender_id=self.sender_id), ProofsListed)

    async def proof(self, letter_id: UUID, kind: ProofKind | Literal["bundle"], dest: Path) -> Path:
        """Download one proof PDF (`kind`), or the letter's evidence bundle ("bundle": the zip
        `lre verify` checks), through the short-lived link the signer issues, into `dest` (a
        directory, or a file path); its SHA-256 checked. Returns the file written."""
        link = await self.ask(
            IssueProofLink(correlation_id=letter_id, sender_id=self.sender_id, kind=kind), ProofLinkIssued
        )
        if not link.url:
            raise ProofUnavailable(f"{letter_id} {kind}: {link.reason}")
        content = await asyncio.to_thread(_get, link.url)
        if link.sha256 is not None and hashlib.sha256(content).hexdigest() != link.sha256:
            raise ProofUnavailable(f"{letter_id} {kind}: the download does not match its SHA-256")
        into_folder = await asyncio.to_thread(dest.is_dir)
        target = dest / (link.filename or f"{kind}.pdf") if into_folder else dest
        await asyncio.to_thread(target.write_bytes, content)
        return target

    # ------------------------------------------------------------------ consent

    async def record_consent(
        self,
        email: str,
        *,
        given_at: datetime,
        channel: str,
        text: str,
        reference: str | None = None,
    ) -> ConsentAnswer:
        """Record that the recipient at `email` agreed to receive this sender's electronic
        registered letters (CPCE L.100: needed before a letter to a recipient who is not a
        professional): when, how (web_form, email, paper, contract, in_person), the exact text
        agreed to, and the sender's own reference. The answer says recorded, or every problem."""
        command = RecordConsent(
            correlation_id=uuid.uuid4(),
            sender_id=self.sender_id,
            email=email,
            given_at=given_at,
            channel=channel,
            text=text,
            reference=reference,
        )
        return await self.ask(command, ConsentAnswer)

    async def withdraw_consent(self, email: str, *, withdrawn_at: datetime, channel: str) -> ConsentAnswer:
        """Record that the recipient withdrew their consent: letters deposited from now on are
        refused; those deposited already stand."""
        command = WithdrawConsent(
            correlation_id=uuid.uuid4(),
            sender_id=self.sender_id,
            email=email,
            withdrawn_at=withdrawn_at,
            channel=channel,
        )
        return await self.ask(command, ConsentAnswer)

    async def ask(self, query: Message, answer: type[R], timeout: float | None = None) -> R:
        """Request/reply, as a service asks (`lre_shared.bus.ask`): TimeoutError when no answer
        comes in time, or when nothing takes the query; `lre_shared.bus.QueryRefused` at once
        when the platform refuses the query as malformed (the message names the field)."""
        return await ask(
            self._connected(),
            query,
            answer,
            timeout=timeout or self.timeout,
            exchange=SENDERS_COMMANDS_EXCHANGE,
            user_id=self.broker_user,
        )

    # ----------------------------------------------------------------- plumbing

    @property
    def broker_user(self) -> str:
        """The broker user this client connects as: the AMQP `user_id` of all it sends. The
        broker refuses any other, and the platform answers only about this user's letters
        (unless the platform trusts it to act for every sender)."""
        return broker_user(self.amqp_url)

    def _connected(self) -> RabbitBroker:
        if self._broker is None:
            raise RuntimeError("use the client in `async with`")
        return self._broker

    async def _on_outcome(self, message: AbstractIncomingMessage) -> None:
        try:
            event = SenderEvent.model_validate_json(message.body)
        except ValidationError:
            return  # not an event this client knows: nothing waits for it
        if event.sender_id != self.sender_id:
            return
        for waiting in self._waiting:
            if event.event is SenderEventKind.deposited:
                # A deposit repeated under its idempotency key is announced under the first
                # letter's id: the key tells it is this one.
                same_key = waiting.idempotency_key is not None and waiting.idempotency_key == (
                    event.idempotency_key
                )
                if waiting.letter_id == event.correlation_id or same_key:
                    _settle(waiting, Outcome(event.correlation_id, event.item_number))
            elif event.event is SenderEventKind.rejected and waiting.letter_id == event.correlation_id:
                _settle(waiting, Outcome(event.correlation_id, problems=event.problems))


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 (the signer's URL)
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        raise ProofUnavailable(f"the store refused the download ({exc.code})") from exc


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
