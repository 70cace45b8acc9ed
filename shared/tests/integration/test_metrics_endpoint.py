"""`/metrics`: a service's Prometheus counters move as its bus handles messages."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic_settings import SettingsConfigDict

from lre_shared.bus import Bus, PermanentError, Transaction
from lre_shared.contracts import EvidenceRecorded, now_utc
from lre_shared.runtime import ServiceApp, ServiceRuntime, build_app
from lre_shared.settings import ServiceSettings
from lre_shared.topology import Service, queue_name
from tests.support.bus import eventually

pytestmark = pytest.mark.integration


class MetricsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LRE_METRICS_TEST_", frozen=True)


@pytest.fixture
def pool(messaging_pool: asyncpg.Pool) -> asyncpg.Pool:
    return messaging_pool


@pytest.fixture
def root_logging() -> Iterator[None]:
    # build_app configures the process's logging (JSON on stderr); give pytest its own back.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


async def refuse_odd_letters(event: EvidenceRecorded, tx: Transaction) -> None:
    if event.record_sha256.startswith("1"):
        raise PermanentError("refused for the test")


@pytest.fixture
async def service(
    amqp_url: str, database_url: str, pool: asyncpg.Pool, root_logging: None
) -> AsyncIterator[tuple[Bus, ServiceApp]]:
    settings = MetricsSettings(amqp_url=amqp_url, database_url=database_url, http_port=0)
    bus = Bus(settings, Service.signer, consumer=f"test-metrics-{uuid.uuid4().hex[:8]}")
    bus.subscribe(EvidenceRecorded, refuse_odd_letters)
    app = build_app(ServiceRuntime(bus=bus, migrations=Path("unused")))
    await bus.start(pool)  # the bus alone, without the app's lifespan (no migrations to run)
    yield bus, app
    await bus.stop()


def evidence(digest: str) -> EvidenceRecorded:
    return EvidenceRecorded(
        correlation_id=uuid.uuid4(),
        evidence_id=uuid.uuid4(),
        event="SubmissionAcceptance",
        event_time=now_utc(),
        record_sha256=digest * 64,
        previous_sha256=None,
    )


async def scrape(app: ServiceApp) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def test_the_metrics_endpoint_counts_handled_and_dead_lettered_messages(
    service: tuple[Bus, ServiceApp],
) -> None:
    bus, app = service
    queue = queue_name(bus.consumer, EvidenceRecorded)
    await bus.publisher.publish(evidence("0"))
    await bus.publisher.publish(evidence("1"))

    async def both_consumed() -> bool:
        return bus.stats.handled == 1 and bus.stats.dead_lettered == 1

    await eventually(both_consumed)
    samples = await scrape(app)

    def messages(outcome: str) -> float:
        return samples.get(("lre_messages_total", (("outcome", outcome), ("queue", queue))), 0.0)

    assert messages("handled") == 1
    assert messages("dead_lettered") == 1
    assert messages("duplicate") == 0
    # Both went through the handler, the refused one too.
    assert samples[("lre_handler_seconds_count", (("queue", queue),))] == 2
    # The broker's count of what waits in the dead-letter queue, read at the scrape.
    assert samples[("lre_dead_letter_messages", (("queue", queue),))] == 1


async def test_with_a_token_configured_metrics_answer_only_the_scraper_that_presents_it(
    amqp_url: str, database_url: str, root_logging: None
) -> None:
    settings = MetricsSettings(
        amqp_url=amqp_url, database_url=database_url, http_port=0, metrics_token="scrape-me-please"
    )
    bus = Bus(settings, Service.signer, consumer=f"test-metrics-{uuid.uuid4().hex[:8]}")
    app = build_app(ServiceRuntime(bus=bus, migrations=Path("unused")))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        anonymous = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"authorization": "Bearer guess"})
        right = await client.get("/metrics", headers={"authorization": "Bearer scrape-me-please"})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert "lre_messages_total" in right.text
