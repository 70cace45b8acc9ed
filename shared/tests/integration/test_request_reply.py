"""Request/reply against a real RabbitMQ: asks of one connection run side by side, and an
answer that comes after its asker stopped waiting is dropped quietly."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import asyncpg
import pytest
from pydantic_settings import SettingsConfigDict

from lre_shared.bus import Bus, PermanentError, QueryRefused, Transaction
from lre_shared.contracts import DownloadLinkIssued, IssueDownloadLink, IssueZipLink, ZipLinkIssued, now_utc
from lre_shared.settings import ServiceSettings
from lre_shared.topology import Service
from tests.support import infra

pytestmark = pytest.mark.integration

SLOW_SECONDS = 2.0
UNKNOWABLE = uuid.UUID(int=1)


class AskingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LRE_ASKING_TEST_", frozen=True)


@pytest.fixture(scope="module")
def amqp_url() -> Iterator[str]:
    with infra.rabbitmq_url() as url:
        yield url


@pytest.fixture
async def bus(amqp_url: str, database_url: str, messaging_pool: asyncpg.Pool) -> AsyncIterator[Bus]:
    """A service answering download links at once and zip links after `SLOW_SECONDS`."""
    settings = AskingSettings(amqp_url=amqp_url, database_url=database_url, http_port=0)
    bus = Bus(settings, Service.archive, consumer=f"test-ask-{uuid.uuid4().hex[:8]}")

    async def link(query: IssueDownloadLink, tx: Transaction) -> DownloadLinkIssued:
        if query.document_id == UNKNOWABLE:
            raise PermanentError("this document can never be linked")
        return DownloadLinkIssued(
            correlation_id=query.correlation_id,
            document_id=query.document_id,
            url=f"https://s3.example/{query.document_id}",
            expires_at=now_utc() + timedelta(minutes=5),
        )

    async def zip_link(query: IssueZipLink, tx: Transaction) -> ZipLinkIssued:
        await asyncio.sleep(SLOW_SECONDS)
        return ZipLinkIssued(
            correlation_id=query.correlation_id, url=f"https://zip.example/{query.correlation_id}"
        )

    bus.subscribe(IssueDownloadLink, link, idempotent=False)
    bus.subscribe(IssueZipLink, zip_link, idempotent=False)
    await bus.start(messaging_pool)
    yield bus
    await bus.stop()


def download(document_id: uuid.UUID) -> IssueDownloadLink:
    return IssueDownloadLink(correlation_id=uuid.uuid4(), document_id=document_id)


async def test_a_slow_ask_holds_up_no_other_ask_of_the_same_connection(bus: Bus) -> None:
    slow = asyncio.create_task(bus.ask(IssueZipLink(correlation_id=uuid.uuid4()), ZipLinkIssued, timeout=20))
    await asyncio.sleep(0.2)  # the slow ask is out first
    documents = [uuid.uuid4() for _ in range(5)]

    answers = await asyncio.gather(*(bus.ask(download(d), DownloadLinkIssued, timeout=20) for d in documents))

    # All five answered while the slow one was still being worked on.
    assert not slow.done()
    assert [answer.url for answer in answers] == [f"https://s3.example/{d}" for d in documents]
    assert (await slow).url.startswith("https://zip.example/")


async def test_an_answer_after_its_asker_gave_up_is_dropped_at_info_and_asks_go_on(
    bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    query = IssueZipLink(correlation_id=uuid.uuid4())
    with caplog.at_level(logging.INFO):
        with pytest.raises(TimeoutError):
            await bus.ask(query, ZipLinkIssued, timeout=0.5)
        await asyncio.sleep(SLOW_SECONDS + 0.5)  # the answer comes, to nobody

    dropped = [r for r in caplog.records if r.getMessage().startswith("a reply came after its asker")]
    assert [getattr(r, "message_id", None) for r in dropped] == [str(query.message_id)]
    assert dropped[0].levelno == logging.INFO
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    document_id = uuid.uuid4()
    answer = await bus.ask(download(document_id), DownloadLinkIssued, timeout=10)
    assert answer.document_id == document_id


async def test_the_same_query_asked_twice_at_once_answers_both_askers(bus: Bus) -> None:
    query = download(uuid.uuid4())

    first, second = await asyncio.gather(
        bus.ask(query, DownloadLinkIssued, timeout=10), bus.ask(query, DownloadLinkIssued, timeout=10)
    )

    assert first.url == second.url == f"https://s3.example/{query.document_id}"


async def test_a_query_that_is_dead_lettered_fails_its_asker_at_once_with_the_reason(bus: Bus) -> None:
    started = asyncio.get_running_loop().time()

    with pytest.raises(QueryRefused, match="this document can never be linked"):
        await bus.ask(download(UNKNOWABLE), DownloadLinkIssued, timeout=20)

    assert asyncio.get_running_loop().time() - started < 10  # told, not waited out


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
async def test_a_malformed_query_fails_its_asker_at_once_naming_the_field(bus: Bus) -> None:
    # Built without validation, as a sender system's own code might send it.
    query = IssueDownloadLink.model_construct(
        message_id=uuid.uuid4(), correlation_id=uuid.uuid4(), created_at=now_utc(), document_id="not-an-id"
    )

    with pytest.raises(QueryRefused, match="malformed IssueDownloadLink: document_id"):
        await bus.ask(query, DownloadLinkIssued, timeout=20)
