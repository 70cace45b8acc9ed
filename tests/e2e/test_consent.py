"""The consent registry (CPCE L.100) through the five services, as `make run` configures them:
a letter to a recipient who is not a professional is refused until the sender records the
recipient's consent, taken once it has, refused again after a withdrawal; the letter deposited
meanwhile stands; the signer seals each consent and withdrawal as evidence; and a sender
records consents only for itself, as the broker says who is speaking."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import quote, unquote, urlsplit

import asyncpg
import pytest

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from lre_shared.clock import now_utc
from lre_shared.contracts import Document, SubmitLetter
from lre_shared.sender import Outcome, SenderClient
from tests.support.pki import TestPki
from tests.support.running import RunningPlatform

pytestmark = pytest.mark.e2e

TEXT = (
    "J'accepte de recevoir les lettres recommandées électroniques du Cabinet Démo Avocats"
    " à l'adresse indiquée.\nFait en ligne, formulaire n° 117."
)


@pytest.fixture(scope="module")
def platform_running(services: RunningPlatform, test_pki: TestPki) -> RunningPlatform:
    return services.start_on_test_pki(test_pki)


def consumer() -> dict[str, str]:
    """A person, not a professional: the recipient kind by default (CPCE L.100)."""
    return {"email": f"consent-{uuid.uuid4().hex[:8]}@exemple.example", "kind": "consumer", "company": ""}


def letter(recipient: dict[str, str]) -> SubmitLetter:
    return SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT.model_copy(update=recipient),
        main_document=Document(
            filename="mise-en-demeure.pdf", content=demo_pdf("Consent " + uuid.uuid4().hex)
        ),
    )


async def deposit(client: SenderClient, recipient: dict[str, str]) -> Outcome:
    command = letter(recipient)
    await client.send(command)
    outcome = await client.outcome(command, timeout=60)
    assert outcome is not None, "the archive did not answer the deposit"
    return outcome


async def test_a_letter_to_a_consumer_without_consent_is_refused_saying_how_to_fix_it(
    platform_running: RunningPlatform,
) -> None:
    async with SenderClient(platform_running.amqp_url, DEMO_SENDER.id) as client:
        outcome = await deposit(client, consumer())

    assert not outcome.deposited
    [problem] = outcome.problems
    assert problem.field == "recipient.kind"
    assert "CPCE L.100" in problem.reason
    assert "lre-send consent record" in problem.reason and "professional" in problem.reason


async def test_consent_lets_the_letter_in_and_its_withdrawal_refuses_the_next_while_the_first_stands(
    platform_running: RunningPlatform,
) -> None:
    recipient = consumer()
    async with SenderClient(platform_running.amqp_url, DEMO_SENDER.id) as client:
        recorded = await client.record_consent(
            recipient["email"].upper(),  # matched caselessly
            given_at=now_utc() - timedelta(days=2),
            channel="web_form",
            text=TEXT,
            reference="form-117",
        )
        assert recorded.recorded, recorded.problems
        accepted = await deposit(client, recipient)
        assert accepted.deposited, accepted.problems

        withdrawn = await client.withdraw_consent(recipient["email"], withdrawn_at=now_utc(), channel="email")
        assert withdrawn.recorded, withdrawn.problems
        refused = await deposit(client, recipient)
        first = await client.status(accepted.letter_id)

    assert not refused.deposited
    assert [p.field for p in refused.problems] == ["recipient.kind"]
    assert "withdrawn" in refused.problems[0].reason
    # Judged at the deposit, once: the letter taken before the withdrawal stands.
    assert first.state == "deposited" and first.item_number == accepted.item_number


async def test_the_signer_seals_each_consent_and_withdrawal_in_the_chain_of_that_address(
    platform_running: RunningPlatform,
) -> None:
    recipient = consumer()
    async with SenderClient(platform_running.amqp_url, DEMO_SENDER.id) as client:
        recorded = await client.record_consent(
            recipient["email"], given_at=now_utc() - timedelta(hours=1), channel="paper", text=TEXT
        )
        assert recorded.subject_id is not None
        # A withdrawal comes later in life; the two facts travel on separate queues, so one sent
        # at once could be sealed first (each record keeps its own time either way).
        await sealed_records(platform_running, recorded.subject_id, 1)
        await client.withdraw_consent(recipient["email"], withdrawn_at=now_utc(), channel="paper")

        records = await sealed_records(platform_running, recorded.subject_id, 2)
        listed = await client.evidence(recorded.subject_id)

    assert [r["event"] for r in records] == ["ConsentRecorded", "ConsentWithdrawn"]
    assert all(r["seal"] is not None for r in records)  # CAdES with the test TSA's timestamp
    given = json.loads(records[0]["record"])
    assert given["event_uri"] == "urn:lre:evidence-event:ConsentRecorded"
    assert given["details"]["text"] == TEXT
    assert given["details"]["text_sha256"] == recorded.text_sha256
    assert given["details"]["sender_id"] == DEMO_SENDER.id
    assert json.loads(records[1]["record"])["previous_sha256"] == given_digest(records[0])
    assert [e.event for e in listed.records] == ["ConsentRecorded", "ConsentWithdrawn"]


def given_digest(row: asyncpg.Record) -> str:
    return str(row["record_sha256"])


async def sealed_records(
    platform_running: RunningPlatform, subject: uuid.UUID, count: int
) -> list[asyncpg.Record]:
    signer = await asyncpg.connect(platform_running.database_url("signer"))
    try:
        for _ in range(300):
            rows = await signer.fetch(
                "SELECT event, record, record_sha256, seal FROM evidence WHERE letter_id = $1 ORDER BY seq",
                subject,
            )
            if len(rows) >= count:
                return list(rows)
            await asyncio.sleep(0.2)
    finally:
        await signer.close()
    raise AssertionError(f"the signer sealed {len(rows)} of {count} consent records of {subject}")


@pytest.fixture
def own_broker_user(platform_running: RunningPlatform) -> Iterator[tuple[str, str]]:
    """A sender system's own broker user on the platform's virtual host, and its AMQP URL."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("needs rabbitmqctl to add a broker user")
    parts = urlsplit(platform_running.amqp_url)
    vhost = unquote(parts.path.lstrip("/")) or "/"
    user, password = f"consent-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(16)
    subprocess.run(["rabbitmqctl", "-q", "add_user", user, password], check=True, capture_output=True)
    try:
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
            check=True,
            capture_output=True,
        )
        netloc = f"{quote(user)}:{quote(password)}@{parts.hostname}:{parts.port or 5672}"
        yield user, parts._replace(netloc=netloc).geturl()
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_user", user], capture_output=True)


async def test_a_sender_records_consent_for_itself_only(own_broker_user: tuple[str, str]) -> None:
    user, url = own_broker_user
    email = consumer()["email"]

    async with SenderClient(url, DEMO_SENDER.id) as posing:
        for_another = await posing.record_consent(email, given_at=now_utc(), channel="email", text=TEXT)
    async with SenderClient(url, user) as itself:
        for_itself = await itself.record_consent(email, given_at=now_utc(), channel="email", text=TEXT)

    assert not for_another.recorded
    assert [p.field for p in for_another.problems] == ["sender_id"]
    assert for_itself.recorded, for_itself.problems
