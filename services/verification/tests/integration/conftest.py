"""The verification desk in-process on the real parts (RabbitMQ, PostgreSQL, SeaweedFS):
its bus handlers, inbound SMTP server, HTTP routes (called through ASGI) and a clock the
tests move."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
import pytest
from faststream.rabbit import RabbitBroker

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER
from deploy.local.seaweed import SeaweedS3
from lre_shared.contracts import (
    AddIdentityDocument,
    DocumentChannel,
    IdentityDocumentAdded,
    LetterDeposited,
    Message,
    OpenVerificationCase,
    Reply,
    StoredDocument,
    VerificationCaseOpened,
)
from tests.support.bus import eventually, publish, running
from tests.support.documents import blank_pdf, image
from verification.bootstrap import Desk, build
from verification.entrypoints.desk_token import LOCAL_AUDIENCE, LOCAL_ISSUER, ensure_local_keys, issue_token
from verification.settings import VerificationSettings

R = TypeVar("R", bound=Reply)
MOBILE = "+33612345678"
LANDLINE = "+33142000000"
TWILIO_TOKEN = "twilio-auth-token-for-tests"
TWILIO_SID = "AC" + "0" * 32


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class RunningDesk:
    desk: Desk
    clock: Clock
    keys: Path
    amqp_url: str
    http: httpx.AsyncClient

    @property
    def pool(self) -> Any:
        return self.desk.runtime.pool

    def token(self, subject: str = "alice", roles: tuple[str, ...] = ("agent",), minutes: float = 60) -> str:
        # Token lifetimes are checked against the real time, not the desk's test clock.
        return issue_token(self.keys, subject, list(roles), minutes=minutes)

    def auth(self, subject: str = "alice", roles: tuple[str, ...] = ("agent",)) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(subject, roles)}"}

    async def ask(self, query: Message, answer: type[R]) -> R:
        async with RabbitBroker(self.amqp_url) as broker:
            response = await broker.request(
                query.to_json(),
                exchange=query.exchange,
                routing_key=query.routing_key,
                correlation_id=str(query.message_id),
                message_id=str(query.message_id),
                timeout=20.0,
            )
        return answer.model_validate_json(response.body)

    async def open_case(
        self,
        letter: LetterDeposited,
        channel: DocumentChannel = DocumentChannel.upload,
        code_channel: Literal["email", "sms"] = "email",
        code_address: str | None = None,
    ) -> VerificationCaseOpened:
        """What the pickup site asks when the recipient chooses the one-time code."""
        address = code_address or (str(letter.recipient.email) if code_channel == "email" else MOBILE)
        query = OpenVerificationCase(
            correlation_id=letter.correlation_id,
            item_number=letter.item_number,
            document_channel=channel,
            code_channel=code_channel,
            code_address=address,
        )
        return await self.ask(query, VerificationCaseOpened)

    async def open_with_document(self, letter: LetterDeposited, pdf: bytes) -> uuid.UUID:
        """A case for `letter` (its code by SMS) with one identity document, `pdf`, taken."""
        opened = await self.open_case(letter, code_channel="sms")
        added = await self.ask(
            AddIdentityDocument(
                correlation_id=letter.correlation_id,
                case_id=opened.case_id,
                filename="cni.pdf",
                content=pdf,
            ),
            IdentityDocumentAdded,
        )
        assert added.accepted, added.reason
        assert opened.case_id is not None
        return opened.case_id

    async def deposit(self, policy: str = "default", **recipient: Any) -> LetterDeposited:
        """Deposit a letter to the demo recipient with `recipient`'s fields changed."""
        event = deposited(policy, **recipient)
        await publish(self.amqp_url, event)

        async def known() -> bool:
            found = await self.pool.fetchval(
                "SELECT 1 FROM letters WHERE letter_id = $1", event.correlation_id
            )
            return bool(found)

        await eventually(known)
        return event


def deposited(policy: str = "default", **recipient: Any) -> LetterDeposited:
    return LetterDeposited.model_validate(
        {
            "correlation_id": uuid.uuid4(),
            "item_number": f"{uuid.uuid4().int % 10**12:012d}",
            "sender": DEMO_SENDER,
            "recipient": DEMO_RECIPIENT.model_copy(
                update={"mobile": MOBILE, "landline": LANDLINE} | recipient
            ),
            "documents": (
                StoredDocument(
                    document_id=uuid.uuid4(), filename="mise-en-demeure.pdf", size=1234, sha256="c" * 64
                ),
            ),
            "verification_policy": policy,
            "deposited_at": datetime(2026, 3, 1, tzinfo=UTC),
        }
    )


def desk_settings(
    amqp_url: str, database_url: str, s3: SeaweedS3, keys: Path, **overrides: Any
) -> VerificationSettings:
    values: dict[str, Any] = {
        "amqp_url": amqp_url,
        "database_url": database_url,
        "http_port": 0,
        "code_hmac_key": "c" * 32,
        "document_key": "d" * 40,
        "s3_endpoint": s3.endpoint,
        "s3_access_key": s3.access_key,
        "s3_secret_key": s3.secret_key,
        "identity_bucket": "desk-" + uuid.uuid4().hex[:12],
        "oidc_issuer": LOCAL_ISSUER,
        "oidc_audience": LOCAL_AUDIENCE,
        "oidc_jwks_file": ensure_local_keys(keys),
        "inbound_smtp_port": 0,
        "inbound_email": "identite@desk.example",
        "inbound_fax_senders": ("fax.example",),
        "inbound_mms": "+33700000000",
        "inbound_fax": "+33100000000",
        "own_url": "https://desk.example",
        "twilio_account_sid": TWILIO_SID,
        "twilio_auth_token": TWILIO_TOKEN,
        "max_document_bytes": 64 * 1024,
    }
    return VerificationSettings.model_validate(values | overrides)


@asynccontextmanager
async def started_desk(
    amqp_url: str, database_url: str, s3: SeaweedS3, keys: Path, **overrides: Any
) -> AsyncIterator[RunningDesk]:
    clock = Clock()
    built = build(desk_settings(amqp_url, database_url, s3, keys, **overrides), clock=clock)
    transport = httpx.ASGITransport(app=built.site())
    async with (
        running(built.runtime, amqp_url),
        httpx.AsyncClient(transport=transport, base_url="https://desk.example") as http,
    ):
        try:
            yield RunningDesk(built, clock, keys, amqp_url, http)
        finally:
            await built.runtime.shutdown()


@pytest.fixture
def start_desk(
    amqp_url: str, database_url: str, s3: SeaweedS3, tmp_path: Path
) -> Callable[..., AbstractAsyncContextManager[RunningDesk]]:
    """Starts a desk with some settings changed: `async with start_desk(name=value) as desk`."""

    def start(**overrides: Any) -> AbstractAsyncContextManager[RunningDesk]:
        return started_desk(amqp_url, database_url, s3, tmp_path / "desk-keys", **overrides)

    return start


@pytest.fixture
async def desk(
    start_desk: Callable[..., AbstractAsyncContextManager[RunningDesk]],
) -> AsyncIterator[RunningDesk]:
    async with start_desk() as running_desk:
        yield running_desk


@dataclass(frozen=True)
class Samples:
    """Small well-formed files of each accepted type, and one of none."""

    pdf: bytes = field(default_factory=blank_pdf)
    png: bytes = field(default_factory=lambda: image("PNG"))
    jpeg: bytes = field(default_factory=lambda: image("JPEG"))
    exe: bytes = b"MZ\x90\x00" + bytes(200)


@pytest.fixture
def files() -> Samples:
    return Samples()
