"""Fixtures of the browser tests: the five services, one Chromium, a fresh tab per visitor,
and letters deposited through the bus whose notices arrive at the SMTP catcher."""

from __future__ import annotations

import asyncio
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, async_playwright

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from deploy.local.seaweed import SeaweedS3
from lre_shared.contracts import Document, NoticeChannel, Recipient, Sender, SubmitLetter
from lre_shared.sender import SenderClient, submit_letter
from tests.browser.harness import Walk, launch, missing_tools, screenshot_root
from tests.browser.letters import Deposit, Letter, Visitor
from tests.browser.recipient_tools import notice_text
from tests.support import infra
from tests.support.fixtures import SmtpServer, TwilioApi
from tests.support.pki import TestPki, test_pki
from tests.support.running import RunningPlatform, platform_config

__all__ = ["test_pki"]

# A phone's screen, as a recipient reading the notice on their phone sees the site.
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}
SCREENSHOTS_TAKEN: list[Path] = []  # directories this run wrote
ITEM_NUMBER = re.compile(r"Numéro de pli : (\d{12})")
ITEM_NUMBER_EN = re.compile(r"[Ii]tem number: (\d{12})")


@pytest.fixture(scope="session", autouse=True)
def _browser_tools() -> None:
    if problem := missing_tools():
        pytest.fail(problem, pytrace=False)


# Package scope: the platform (its virtual host and ~120 quorum queues) is gone before the
# next package's platforms start, so the broker never holds two suites' queues at once.
@pytest.fixture(scope="package")
def platform_running(
    postgres_server: str,
    db_prefix: str,
    s3: SeaweedS3,
    smtp: SmtpServer,
    twilio_api: TwilioApi,
    test_pki: TestPki,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningPlatform]:
    """The five services as `make run` configures them (the test PKI, SMS and calls to Prism,
    faxes through the SMTP catcher, DKIM-signed email), started once for all the browser tests
    on a virtual host and databases of their own. Two settings of a test run: the waiting page
    of the one-time-code path asks for news every 5 s, and letters past their window are
    looked for every second."""
    logs = tmp_path_factory.mktemp("logs-browser")
    with infra.rabbitmq_url() as amqp_url:
        running = RunningPlatform(
            platform_config(
                amqp_url,
                postgres_server,
                db_prefix,
                s3,
                smtp,
                "browser",
                twilio_api.url,
                logs / "dkim" / "key.pem",
            ),
            logs,
        )
        try:
            # The OpenID provider too: agents sign in to the desk console and recipients prove
            # their identity on the pickup site with it, as on `make run`.
            running.with_oidc().start_on_test_pki(
                test_pki, {"PICKUP_WAITING_REFRESH_SECONDS": "5", "PICKUP_UNCLAIMED_SWEEP_SECONDS": "1"}
            )
            yield running
        finally:
            running.stop_all()


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await launch(playwright)
        yield chromium
        await chromium.close()


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Path:
    test_name: str = request.node.name
    directory = screenshot_root() / test_name
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    SCREENSHOTS_TAKEN.append(directory)
    return directory


@pytest.fixture
def senders() -> list[str]:
    """The names of the senders of the letters this test deposited."""
    return []


@pytest.fixture
async def visitor(
    browser: Browser, platform_running: RunningPlatform, screenshots: Path, senders: list[str]
) -> AsyncIterator[Visitor]:
    """Open a tab of a new visitor (own cookies, own downloads); every one is checked at the end."""
    contexts = []
    walks: list[Walk] = []

    async def open_tab(name: str, phone: bool = False) -> Walk:
        context = await browser.new_context(
            base_url=platform_running.config.pickup_url,
            locale="fr-FR",
            accept_downloads=True,
            **(PHONE if phone else {}),
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        directory = screenshots / name if name else screenshots
        directory.mkdir(parents=True, exist_ok=True)
        # CPCE R.53-3: no page shows a sender before the letter is accepted (`steps.accept`).
        walk = Walk(await context.new_page(), directory, hidden=list(senders))
        walks.append(walk)
        return walk

    yield open_tab
    for context in contexts:
        await context.close()
    for walk in walks:
        walk.finish()


@pytest.fixture
def deposit(platform_running: RunningPlatform, smtp: SmtpServer, senders: list[str]) -> Deposit:
    """Deposit a letter with the sender's name unique to it; wait for its notice by email
    (`notice=False`: for its item number from the sender's status instead). `alerts` are the
    sender's extra channels, `recipient` changes the declared recipient."""

    async def deposit_letter(
        attachments: int = 0,
        alerts: tuple[NoticeChannel, ...] = (),
        notice: bool = True,
        **recipient_changes: Any,
    ) -> Letter:
        tag = uuid.uuid4().hex[:8]
        sender = DEMO_SENDER.model_copy(update={"name": f"Cabinet Témoin {tag}"})
        senders.append(sender.name)
        recipient = DEMO_RECIPIENT.model_copy(
            update={"email": f"browser-{tag}@exemple.example"} | recipient_changes
        )
        main = Document(filename="mise-en-demeure.pdf", content=demo_pdf(f"Mise en demeure {tag}"))
        extra = tuple(
            Document(filename=f"annexe-{n}.pdf", content=demo_pdf(f"Annexe {n} {tag}"))
            for n in range(1, attachments + 1)
        )
        command = SubmitLetter(
            correlation_id=uuid.uuid4(),
            sender=sender,
            recipient=recipient,
            main_document=main,
            attachments=extra,
            alert_channels=(NoticeChannel.email, *alerts),
            idempotency_key=f"browser-{tag}",
        )
        letter_id = await submitted(platform_running.amqp_url, command)
        if notice:
            mail = await smtp.store.wait_for_async(lambda m: m["To"] == recipient.email, timeout=60)
            found = ITEM_NUMBER.search(notice_text(mail)) or ITEM_NUMBER_EN.search(notice_text(mail))
            assert found, notice_text(mail)
            item_number = found.group(1)
        else:
            mail, item_number = EmailMessage(), await deposited_item_number(platform_running, letter_id)
        return Letter(
            letter_id=letter_id,
            item_number=item_number,
            sender=Sender.model_validate(sender.model_dump()),
            recipient=Recipient.model_validate(recipient.model_dump()),
            documents={d.filename: d.content for d in (main, *extra)},
            notice=mail,
        )

    return deposit_letter


async def deposited_item_number(platform: RunningPlatform, letter_id: uuid.UUID) -> str:
    """The item number, as the sender learns it from its status query."""
    async with SenderClient(platform.amqp_url, DEMO_SENDER.id) as client:
        for _ in range(150):
            status = await client.status(letter_id)
            if status.item_number:
                return status.item_number
            await asyncio.sleep(0.2)
    raise AssertionError(f"{letter_id} was never numbered")


async def submitted(amqp_url: str, command: SubmitLetter) -> uuid.UUID:
    """Submit as a sender system does: a broker that does not confirm within 30 s is asked
    again (a loaded broker may leave a new connection hanging); the idempotency key makes
    the archive take the letter once."""
    for _ in range(3):
        try:
            return await asyncio.wait_for(submit_letter(amqp_url, command), timeout=30)
        except TimeoutError:
            continue
    raise AssertionError("the broker confirmed no submission in 3 tries")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SCREENSHOTS_TAKEN:
        terminalreporter.write_line(f"browser screenshots of this run: {screenshot_root()}")
