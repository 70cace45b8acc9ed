"""A sender follows its letters on one queue: the five services as `make run` configures them
(test PKI), two sender systems connected as their own broker users, each with its queue
`lre.sender.<id>` bound `<id>.#` to `lre.senders.events` (`lre-senders add`'s own code). One
sender's letters go down every path (accepted, AR signed with a personal certificate and
downloaded; refused; left unclaimed past its window; a deposit refused by the archive) while
the other deposits too: the first sender's queue holds every event of its own letters, each
letter's numbered 1, 2, 3... in the order they arrive, and nothing of the other's. The
recipient's side is driven over HTTP on the pickup site, as a browser would."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable

import asyncpg
import httpx
import pytest

from deploy.local.demo import DEMO_RECIPIENT, demo_pdf
from lre_shared import sender_cli
from lre_shared.contracts import Document, Sender, SenderEvent, SenderEventKind, SubmitLetter
from lre_shared.sender import SenderClient
from tests.browser.recipient_tools import sign_with_certificate
from tests.support.pki import TestPki
from tests.support.running import RunningPlatform
from tests.support.senders import SenderUser, sender_user
from tests.support.site import csrf, retried

pytestmark = pytest.mark.e2e

Kind = SenderEventKind


@pytest.fixture(scope="module")
def platform_running(services: RunningPlatform, test_pki: TestPki) -> RunningPlatform:
    # The pickup's sweeper marks letters past their window unclaimed every second.
    return services.start_on_test_pki(test_pki, {"PICKUP_UNCLAIMED_SWEEP_SECONDS": "1"})


@pytest.fixture
async def alice(platform_running: RunningPlatform) -> AsyncIterator[SenderUser]:
    async with sender_user(platform_running.amqp_url) as made:
        yield made


@pytest.fixture
async def bob(platform_running: RunningPlatform) -> AsyncIterator[SenderUser]:
    async with sender_user(platform_running.amqp_url) as made:
        yield made


class Followed:
    """What a sender's `events()` gave so far, by letter, in the order it came."""

    def __init__(self) -> None:
        self.by_letter: dict[uuid.UUID, list[SenderEvent]] = defaultdict(list)
        self.every: list[SenderEvent] = []
        self.task: asyncio.Task[None] | None = None

    def kinds(self, letter_id: uuid.UUID) -> list[Kind]:
        return [e.event for e in self.by_letter[letter_id]]

    async def until(self, holds: Callable[[], bool], what: str) -> None:
        for _ in range(600):
            if holds():
                return
            if self.task is not None and self.task.done():
                self.task.result()  # following stopped: why
            await asyncio.sleep(0.2)
        raise AssertionError(f"{what}: {dict(self.by_letter)}")


@pytest.fixture
async def followed(alice: SenderUser) -> AsyncIterator[Followed]:
    """Alice's queue, followed from the start by `SenderClient.events()`."""
    found = Followed()

    async def follow() -> None:
        async with SenderClient(alice.amqp_url, alice.sender_id) as client:
            async for event in client.events():
                found.every.append(event)
                found.by_letter[event.correlation_id].append(event)

    found.task = asyncio.create_task(follow())
    yield found
    found.task.cancel()
    await asyncio.gather(found.task, return_exceptions=True)


def a_letter(user: SenderUser, *, pdf: bytes | None = None) -> SubmitLetter:
    return SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=Sender(id=user.sender_id, name="Cabinet Suivi", email="greffe@suivi.example"),
        recipient=DEMO_RECIPIENT.model_copy(
            update={"email": f"suivi-{uuid.uuid4().hex[:8]}@exemple.example"}
        ),
        main_document=Document(filename="lettre.pdf", content=pdf or demo_pdf("Suivi " + uuid.uuid4().hex)),
        idempotency_key=f"dossier-{uuid.uuid4().hex[:8]}",
    )


async def deposited(client: SenderClient, command: SubmitLetter) -> str:
    await client.send(command)
    outcome = await client.outcome(command, timeout=60)
    assert outcome is not None and outcome.item_number is not None, outcome
    return outcome.item_number


async def identified(site: httpx.AsyncClient, item_number: str) -> httpx.Response:
    page = await site.get("/")
    page = await site.post("/", data={"csrf_token": csrf(page), "item_number": item_number})
    r = DEMO_RECIPIENT
    identity = {
        "company": r.company or "",
        "last_name": r.last_name,
        "first_name": r.first_name,
        "address": r.address,
        "postcode": r.postcode,
        "city": r.city,
    }
    page = await site.post("/identite", data={"csrf_token": csrf(page), **identity})
    assert page.url.path == "/decision", page.text
    return page


async def accept_sign_and_download(platform: RunningPlatform, pki: TestPki, item_number: str) -> None:
    async with httpx.AsyncClient(base_url=platform.config.pickup_url, follow_redirects=True) as site:
        page = await identified(site, item_number)
        page = await site.post("/decision", data={"csrf_token": csrf(page), "decision": "accepter"})
        assert page.url.path == "/signature", page.text
        page = await site.get("/signature/certificat")
        receipt = await retried(site, "/signature/certificat/avis.pdf")
        assert receipt.status_code == 200, receipt.text
        signed = await sign_with_certificate(pki, "recipient", receipt.content)
        page = await site.post(
            "/signature/certificat",
            data={"csrf_token": csrf(page)},
            files={"receipt": ("ar_signe.pdf", io.BytesIO(signed), "application/pdf")},
        )
        assert page.url.path == "/courrier", page.text
        download = await retried(site, "/courrier/tout.zip")
        assert download.status_code == 200, download.text


async def refuse(platform: RunningPlatform, item_number: str) -> None:
    async with httpx.AsyncClient(base_url=platform.config.pickup_url, follow_redirects=True) as site:
        page = await identified(site, item_number)
        page = await site.post("/decision", data={"csrf_token": csrf(page), "decision": "refuser"})
        assert page.status_code == 200, page.text


async def let_the_window_close(platform: RunningPlatform, letter_id: uuid.UUID) -> None:
    """Time passes for this letter: its 15-day window (CPCE R.53-3) closed the day before
    yesterday, once the pickup site has heard of the notice that sets it."""
    conn = await asyncpg.connect(platform.database_url("pickup"))
    try:
        for _ in range(300):
            moved = await conn.execute(
                "UPDATE letters SET deadline = current_date - 2"
                " WHERE letter_id = $1 AND first_notice_at IS NOT NULL",
                letter_id,
            )
            if moved == "UPDATE 1":
                return
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    raise AssertionError(f"the pickup site never heard of the notice of {letter_id}")


def numbered_in_order(events: list[SenderEvent]) -> bool:
    return [e.sequence for e in events] == list(range(1, len(events) + 1))


async def test_a_sender_s_queue_holds_every_event_of_its_own_letters_in_order_and_none_of_another_s(
    platform_running: RunningPlatform,
    test_pki: TestPki,
    alice: SenderUser,
    bob: SenderUser,
    followed: Followed,
) -> None:
    async with (
        SenderClient(alice.amqp_url, alice.sender_id, timeout=60) as client,
        SenderClient(bob.amqp_url, bob.sender_id, timeout=60) as other,
    ):
        signed, refused, unclaimed = a_letter(alice), a_letter(alice), a_letter(alice)
        rejected = a_letter(alice, pdf=b"PK\x03\x04 a zip, not a PDF")
        bobs = a_letter(bob)
        numbers = {c.correlation_id: await deposited(client, c) for c in (signed, refused, unclaimed)}
        await other.send(bobs)
        assert (await other.outcome(bobs, timeout=60)) is not None
        await client.send(rejected)
        outcome = await client.outcome(rejected, timeout=60)
        assert outcome is not None and not outcome.deposited

        # Every letter is noticed before anything is decided (the window starts with it).
        await followed.until(
            lambda: all(
                Kind.notice_sent in followed.kinds(c.correlation_id) for c in (signed, refused, unclaimed)
            ),
            "a notice of every letter",
        )
        await accept_sign_and_download(platform_running, test_pki, numbers[signed.correlation_id])
        await refuse(platform_running, numbers[refused.correlation_id])
        await let_the_window_close(platform_running, unclaimed.correlation_id)

    await followed.until(
        lambda: (
            {Kind.accepted, Kind.receipt_signed, Kind.downloaded}
            <= set(followed.kinds(signed.correlation_id))
            and Kind.refused in followed.kinds(refused.correlation_id)
            and Kind.unclaimed in followed.kinds(unclaimed.correlation_id)
            and followed.kinds(rejected.correlation_id) == [Kind.rejected]
        ),
        "every fact of every letter",
    )

    # The proofs follow their facts: one for each decision, never the PDF itself (the envelope
    # may come before or after the decision's own, each issued as soon as it is rendered).
    def proof_kinds(letter_id: uuid.UUID) -> set[str | None]:
        return {
            e.proof_kind for e in followed.by_letter.get(letter_id, []) if e.event is Kind.proof_available
        }

    await followed.until(
        lambda: all(
            {"deposit", decision} <= proof_kinds(c.correlation_id)
            for c, decision in ((signed, "receipt"), (refused, "refusal"), (unclaimed, "non_claim"))
        ),
        "the deposit's proof and the decision's, for every letter",
    )

    assert {e.sender_id for e in followed.every} == {alice.sender_id}
    assert bobs.correlation_id not in followed.by_letter
    for command in (signed, refused, unclaimed, rejected):
        events = followed.by_letter[command.correlation_id]
        assert numbered_in_order(events), [(e.sequence, e.event.value) for e in events]
        assert events[0].event in (Kind.deposited, Kind.rejected)
        assert {e.idempotency_key for e in events} == {command.idempotency_key}
        assert all(e.item_number == numbers.get(command.correlation_id) for e in events)
    signed_kinds = followed.kinds(signed.correlation_id)
    assert signed_kinds.index(Kind.accepted) < signed_kinds.index(Kind.receipt_signed)
    assert signed_kinds.index(Kind.receipt_signed) < signed_kinds.index(Kind.downloaded)
    assert Kind.refused not in signed_kinds and Kind.unclaimed not in signed_kinds
    proofs = {
        e.proof_kind
        for c in (signed, refused, unclaimed)
        for e in followed.by_letter[c.correlation_id]
        if e.event is Kind.proof_available
    }
    assert {"deposit", "receipt", "refusal", "non_claim"} <= proofs
    notice = next(e for e in followed.by_letter[signed.correlation_id] if e.event is Kind.notice_sent)
    assert notice.channel == "email"
    [rejection] = followed.by_letter[rejected.correlation_id]
    assert rejection.problems and rejection.item_number is None


async def test_lre_send_events_prints_one_json_line_an_event_then_acknowledges_it(
    platform_running: RunningPlatform, alice: SenderUser
) -> None:
    rejected = a_letter(alice, pdf=b"not a PDF")
    async with SenderClient(alice.amqp_url, alice.sender_id, timeout=60) as client:
        await client.send(rejected)
        assert (await client.outcome(rejected)) is not None

    options = ("--amqp-url", alice.amqp_url, "--sender-id", alice.sender_id)
    out, err = io.StringIO(), io.StringIO()
    code = await sender_cli.run(["events", *options, "--count", "1"], stdout=out, stderr=err)
    again = io.StringIO()
    await sender_cli.run(["events", *options, "--idle", "2"], stdout=again, stderr=err)

    assert code == 0, err.getvalue()
    [line] = out.getvalue().splitlines()
    event = SenderEvent.model_validate_json(line)
    assert (event.correlation_id, event.event, event.sequence) == (rejected.correlation_id, Kind.rejected, 1)
    assert again.getvalue() == ""  # acknowledged: not given twice
