"""The whole journey under load: deposit, notice, pickup decisions, signed receipts, evidence.

    uv run python bench/journey.py [--letters 2000] [--replicas 1|2] [--runs 1]   # or: make bench-journey
    uv run python bench/journey.py --attach --amqp-url ... --pickup-url ... (see --help)

Public API (also used by tests/e2e/test_scale_out.py and the fault tests in tests/faults/)::

    from bench.journey import OwnPlatform, Plan, Target, run_journey
    from bench.checker import Check

    with OwnPlatform.started(replicas=2, workdir=tmp_path) as own:
        result = asyncio.run(run_journey(own.target, Plan(letters=40)))
        # own.running: tests.support.running.RunningPlatform (stop/start a service or one replica
        # while a run goes on: own.running.stop("signer"), own.running.start("signer", own.env),
        # own.running.stop("signer", replica=2), own.running.start("signer", own.env, replica=2),
        # own.running.start("signer", own.env, fault="...") as tests/support/faulty_service.py knows;
        # these block: from inside a running loop, `await asyncio.to_thread(own.running.stop, ...)`)
    assert result.check.lost == 0 and result.check.doubled == 0
    print(result.result_line())   # RESULT journey_letters_per_s=... notice_p99_ms=... lost=... doubled=...

- `Plan(letters=2000, refused_share=0.1, unclaimed_share=0.1, reminded_share=0.0, visitors=24,
  deposit_rate=None, timeout_seconds=1800, check_wait_seconds=300, seed=1)`: how many letters;
  which share the recipients refuse and which they leave unclaimed (the rest they accept and
  sign); for which share the first reminder is made due at once (the notifier's `reminders`
  row moved to now; the recipient decides once it is queued: exactly one reminder round is
  then expected); how many recipients are on the pickup site at once; deposits per second
  (None: as fast as the broker confirms).
- `Target(amqp_url, pickup_url, stores: bench.checker.Stores, pki_dir, sender_id)`: where a
  platform is; `pki_dir` holds the demo recipient's TEST certificate (`recipient.key.pem`,
  `recipient.cert.pem`, `interm.cert.pem`: `make run`'s var/pki, or the test PKI's directory).
- `OwnPlatform.started(replicas=1, workdir=None, extra_env=None)`: a context manager starting a
  platform of the driver's own, as `make run` starts one but isolated (its own RabbitMQ virtual
  host, databases `lrej<random>_<service>`, its own SeaweedFS, SMTP catcher, test PKI and
  ports), with `replicas` processes of every service (two pickup sites behind
  `deploy/local/balancer.py`; `<SERVICE>_DB_POOL_SIZE` = 10 / replicas, at least 4, so a
  service holds about as many database connections in all); `extra_env` goes to every
  service. Everything is stopped and removed on leaving.
- `run_journey(target, plan, *, letters=None, log=True) -> Journey` (log: progress lines on
  stdout; letters: `letters_of(plan)` made beforehand, for a caller that may cancel the run):
  deposits through `lre_shared.sender.SenderClient`,
  gets each item number from the deposit's outcome, drives each recipient over HTTP on the
  pickup site (item number, identity, then accept and sign the AR with the personal
  certificate, or refuse, or nothing: the letter's window is moved into the past in the
  pickup database, as tests/e2e/test_sender_events.py does, and the pickup sweeper marks it
  unclaimed), waits for every letter's final evidence, then runs `bench.checker.check`.
- `Journey`: `letters`, `seconds` (first deposit to last final evidence), `letters_per_s`,
  `notice_p50_ms`, `notice_p99_ms` (deposit sent → notice email in the SMTP catcher),
  `ar_p50_ms`, `ar_p99_ms` (acceptance answered → ReceiptAcknowledgement recorded by the
  signer), `late_checks` (asks from the page saying the signature is being checked: the
  signer's check outlasted `PICKUP_RECEIPT_CHECK_TIMEOUT_SECONDS`, the recipient comes back
  for the outcome), `upload_retries` (signed ARs uploaded again because the site asked for
  them again or failed, as a recipient would), `retried_requests` (requests a recipient
  tried again, with back-off and a bounded number of times, because the site did not answer
  or answered 500/502/504: a service or its database restarting), `check: bench.checker.Check` (its `problems`
  start with `driver: <letter id> ...` for a letter whose journey failed on the driver's side),
  `report()` and `result_line()`.

The last line printed by the command is exactly
`RESULT journey_letters_per_s=<n> notice_p99_ms=<n> lost=<n> doubled=<n>`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from uuid import UUID

ROOT = Path(__file__).resolve().parent.parent
# bench/pickup.py bears the pickup service's name: run as a script, this folder must not
# shadow the service's package.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import asyncpg  # noqa: E402
import httpx  # noqa: E402

from bench.checker import (  # noqa: E402
    FINAL,
    Check,
    Fate,
    KeptConnection,
    Letter,
    MailFolder,
    Stores,
    check,
    fetch,
    patiently,
    settled,
)
from deploy.local import platform  # noqa: E402
from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf  # noqa: E402
from lre_shared.contracts import Document, SubmitLetter  # noqa: E402
from lre_shared.sender import SenderClient  # noqa: E402
from tests.support.running import RunningPlatform  # noqa: E402

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
IDENTITY = {  # the demo recipient as a person types it: accents, case and abbreviations vary
    "company": "societe EXEMPLE sas",
    "last_name": "MARTIN",
    "first_name": "Camille",
    "address": "12, av. de l'Opera",
    "postcode": "75001",
    "city": "PARIS",
}


@dataclass(frozen=True)
class Plan:
    letters: int = 2000
    refused_share: float = 0.1
    unclaimed_share: float = 0.1
    reminded_share: float = 0.0  # letters whose first reminder is made due at once (scale-out check)
    visitors: int = 24  # recipients on the pickup site at once
    deposit_rate: float | None = None  # deposits a second; None: as fast as the broker confirms
    timeout_seconds: float = 1800.0
    check_wait_seconds: float = 300.0
    seed: int = 1

    def fates(self) -> list[Fate]:
        refused = round(self.letters * self.refused_share)
        unclaimed = round(self.letters * self.unclaimed_share)
        fates = [Fate.refused] * refused + [Fate.unclaimed] * unclaimed
        fates += [Fate.accepted] * (self.letters - len(fates))
        random.Random(self.seed).shuffle(fates)
        return fates


@dataclass(frozen=True)
class Target:
    amqp_url: str
    pickup_url: str
    stores: Stores
    pki_dir: Path  # recipient.key.pem, recipient.cert.pem, interm.cert.pem (TEST certificate)
    sender_id: str = DEMO_SENDER.id


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@dataclass
class Journey:
    letters: int
    seconds: float
    notice_ms: list[float]
    ar_ms: list[float]
    check: Check
    deposit_seconds: float = 0.0
    upload_retries: int = 0
    late_checks: int = 0
    retried_requests: int = 0  # recipients' requests tried again (site down or erring)

    @property
    def letters_per_s(self) -> float:
        return self.letters / self.seconds if self.seconds else 0.0

    @property
    def notice_p50_ms(self) -> float:
        return percentile(self.notice_ms, 50)

    @property
    def notice_p99_ms(self) -> float:
        return percentile(self.notice_ms, 99)

    @property
    def ar_p50_ms(self) -> float:
        return percentile(self.ar_ms, 50)

    @property
    def ar_p99_ms(self) -> float:
        return percentile(self.ar_ms, 99)

    def report(self) -> str:
        return (
            f"{self.letters} letters in {self.seconds:.1f} s (deposits sent in {self.deposit_seconds:.1f} s):"
            f" {self.letters_per_s:.2f} letters/s end to end\n"
            f"deposit → notice email: p50 {self.notice_p50_ms:.0f} ms, p99 {self.notice_p99_ms:.0f} ms"
            f" ({len(self.notice_ms)} notices)\n"
            f"acceptance → AR evidence: p50 {self.ar_p50_ms:.0f} ms, p99 {self.ar_p99_ms:.0f} ms"
            f" ({len(self.ar_ms)} signed ARs; {self.late_checks} asks from the page saying the"
            f" signature is being checked; {self.upload_retries} uploads asked again; "
            f"{self.retried_requests} requests tried again while the site was down or erring)\n"
            f"{self.check.summary()}"
        )

    def result_line(self) -> str:
        return (
            f"RESULT journey_letters_per_s={self.letters_per_s:.2f} notice_p99_ms={self.notice_p99_ms:.0f}"
            f" lost={self.check.lost} doubled={self.check.doubled}"
        )


# ----------------------------------------------------------------- the recipients


def _sign(pdf: bytes, pki_dir: str) -> bytes:
    """In a worker process: the AR signed (PAdES) with the demo recipient's TEST certificate,
    as `python -m deploy.local.sign_receipt` signs it (no timestamp: the signer judges the
    signature at upload)."""
    from deploy.local.sign_receipt import sign

    return asyncio.run(sign(pdf, Path(pki_dir), "recipient", None))


class JourneyError(RuntimeError):
    pass


def _csrf(page: httpx.Response) -> str:
    match = CSRF.search(page.text)
    if match is None:
        raise JourneyError(f"no CSRF token on {page.url} ({page.status_code}): {page.text[:300]}")
    return match.group(1)


async def _retried(site: httpx.AsyncClient, path: str, deadline: float) -> httpx.Response:
    """What waits on another service's answer says 503 until it comes (the site waits
    `PICKUP_REQUEST_TIMEOUT_SECONDS` for it each time): the recipient comes back, less and less
    often, until the run's deadline."""
    pause = 0.2
    while True:
        answer = await site.get(path)
        if answer.status_code != 503 or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(pause)
        pause = min(5.0, pause * 2)


class PatientTransport(httpx.AsyncBaseTransport):
    """The recipients' browser as people use it: when the site does not answer or answers
    with a server error (a service restarting, its database down), they try again a little
    later, `tries` times at most; what they send is what they sent. A 503 is the site's own
    "not yet" (see `_retried`) and is left to the caller."""

    def __init__(self, inner: httpx.AsyncBaseTransport, tries: int = 40) -> None:
        self.inner = inner
        self.tries = tries  # 40 tries with back-off: about three minutes
        self.retried = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pause = 0.2
        for _ in range(self.tries - 1):
            try:
                response = await self.inner.handle_async_request(request)
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                pass
            else:
                if response.status_code not in (500, 502, 504):
                    return response
                await response.aclose()
            self.retried += 1
            await asyncio.sleep(pause)
            pause = min(5.0, pause * 2)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Recipients:
    """The recipients' side over HTTP: one cookie jar each, connections shared (as many as
    visitors; through a balancer, each lands on any replica)."""

    def __init__(self, target: Target, plan: Plan, signing: ProcessPoolExecutor, deadline: float) -> None:
        self.target = target
        self.deadline = deadline  # time.monotonic() by which the run gives up
        self.plan = plan
        self.signing = signing
        self.gate = asyncio.Semaphore(plan.visitors)
        self.transport = PatientTransport(
            httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_connections=plan.visitors, max_keepalive_connections=plan.visitors)
            )
        )
        self.accepted_at: dict[uuid.UUID, float] = {}
        self.upload_retries = 0  # signed ARs uploaded again, the site asking for them again
        self.late_checks = 0  # visits of the page saying the signature is being checked

    def site(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.target.pickup_url,
            transport=self.transport,
            follow_redirects=True,
            timeout=120.0,
            trust_env=False,
        )

    async def identified(self, site: httpx.AsyncClient, item_number: str) -> httpx.Response:
        page = await site.get("/")
        page = await site.post("/", data={"csrf_token": _csrf(page), "item_number": item_number})
        if page.url.path != "/identite":
            raise JourneyError(f"item {item_number}: {page.url.path} after the item number")
        page = await site.post("/identite", data={"csrf_token": _csrf(page), **IDENTITY})
        if page.url.path != "/decision":
            raise JourneyError(f"item {item_number}: {page.url.path} after the identity")
        return page

    async def accept_and_sign(self, letter_id: uuid.UUID, item_number: str) -> None:
        deadline = self.deadline
        async with self.gate:
            site = self.site()
            page = await self.identified(site, item_number)
            page = await site.post("/decision", data={"csrf_token": _csrf(page), "decision": "accepter"})
            self.accepted_at[letter_id] = time.time()
            if page.url.path != "/signature":
                raise JourneyError(f"item {item_number}: {page.url.path} after accepting")
            page = await site.get("/signature/certificat")
            receipt = await _retried(site, "/signature/certificat/avis.pdf", deadline)
            if receipt.status_code != 200:
                raise JourneyError(f"item {item_number}: the AR answered {receipt.status_code}")
        # Signing happens off the site, as a recipient's desktop signer would.
        signed = await asyncio.get_running_loop().run_in_executor(
            self.signing, _sign, receipt.content, str(self.target.pki_dir)
        )
        while True:
            async with self.gate:
                answer = await site.post(
                    "/signature/certificat",
                    data={"csrf_token": _csrf(page)},
                    files={"receipt": ("ar_signe.pdf", signed, "application/pdf")},
                )
            while answer.status_code == 202 and time.monotonic() < deadline:
                # The signer's check outlasted the site's wait (PICKUP_RECEIPT_CHECK_TIMEOUT_SECONDS):
                # the page says the signature is being checked; the recipient asks again with
                # its button.
                self.late_checks += 1
                await asyncio.sleep(2.0)
                async with self.gate:
                    answer = await site.post(
                        "/signature/certificat/verification", data={"csrf_token": _csrf(answer)}
                    )
            if answer.url.path == "/courrier":
                return
            if answer.status_code not in (409, 500, 502, 503, 504) or time.monotonic() > deadline:
                raise JourneyError(
                    f"item {item_number}: {answer.status_code} {answer.url.path} after the signed AR:"
                    f" {answer.text[:300]}"
                )
            # The site asks for the signed AR again (the upload it kept for a late check is on
            # another replica, say) or failed: the recipient uploads the same signed AR once more.
            self.upload_retries += 1
            await asyncio.sleep(5.0)
            page = await site.get("/signature/certificat")

    async def refuse(self, item_number: str) -> None:
        async with self.gate:
            site = self.site()
            page = await self.identified(site, item_number)
            page = await site.post("/decision", data={"csrf_token": _csrf(page), "decision": "refuser"})
            if page.status_code != 200:
                raise JourneyError(f"item {item_number}: refusing answered {page.status_code}")

    async def aclose(self) -> None:
        await self.transport.aclose()


async def let_the_window_close(pickup: asyncpg.Pool, letter_id: uuid.UUID) -> None:
    """Time passes for this letter: its 15-day window (CPCE R.53-3) closed the day before
    yesterday (as tests/e2e/test_sender_events.py moves it); the pickup sweeper then marks it
    unclaimed (non réclamée)."""
    for _ in range(600):
        moved = await patiently(
            lambda: pickup.execute(
                "UPDATE letters SET deadline = current_date - 2"
                " WHERE letter_id = $1 AND first_notice_at IS NOT NULL",
                letter_id,
            )
        )
        if moved == "UPDATE 1":
            return
        await asyncio.sleep(0.5)
    raise JourneyError(f"the pickup site never heard of the notice of {letter_id}")


async def make_reminder_due(notifier: asyncpg.Pool, letter_id: uuid.UUID) -> None:
    """The letter's first reminder falls due now (three days early), for the notifier's
    replicas to race for; exactly one round must follow."""
    for _ in range(600):
        moved = await patiently(
            lambda: notifier.execute(
                "UPDATE reminders SET next_at = now() WHERE letter_id = $1 AND stopped IS NULL", letter_id
            )
        )
        if moved == "UPDATE 1":
            break
        await asyncio.sleep(0.5)
    else:
        raise JourneyError(f"the notifier never scheduled the reminders of {letter_id}")
    # The recipient decides once the reminder is queued (a decision first would stop it).
    for _ in range(600):
        if await patiently(
            lambda: notifier.fetchval(
                "SELECT count(*) FROM notices WHERE letter_id = $1 AND command->>'kind' = 'reminder'",
                letter_id,
            )
        ):
            return
        await asyncio.sleep(0.5)
    raise JourneyError(f"the notifier never queued the reminder made due for {letter_id}")


# ----------------------------------------------------------------- the run


def letters_of(plan: Plan) -> list[Letter]:
    """The letters of one run: their identities, fates and recipients' addresses."""
    tag = secrets.token_hex(3)
    reminded = set(
        random.Random(plan.seed + 1).sample(range(plan.letters), round(plan.letters * plan.reminded_share))
    )
    return [
        Letter(uuid.uuid4(), fate, f"j{tag}-{i:05d}@exemple.example", reminded=i in reminded)
        for i, fate in enumerate(plan.fates())
    ]


async def run_journey(
    target: Target, plan: Plan, *, letters: list[Letter] | None = None, log: bool = True
) -> Journey:
    """Deposit `plan.letters` letters (`letters`, made by `letters_of(plan)` beforehand by a
    caller that may cancel the run and still wants to judge what it sent), drive their
    recipients, wait for every final evidence record, then check every store (bench.checker)."""

    def say(text: str) -> None:
        if log:
            print(text, flush=True)

    letters = letters if letters is not None else letters_of(plan)
    pdf = demo_pdf("Lettre du banc d'essai " + secrets.token_hex(3))
    by_address = {letter.recipient_email: letter for letter in letters}
    mails = MailFolder(target.stores.mail_dir)
    mails.scan()  # what was there before this run is not this run's
    notice_at: dict[uuid.UUID, float] = {}
    noticed: dict[uuid.UUID, asyncio.Event] = {letter.letter_id: asyncio.Event() for letter in letters}
    deposited_at: dict[uuid.UUID, float] = {}
    failures: list[str] = []
    deadline = time.monotonic() + plan.timeout_seconds

    async def watch_mail() -> None:
        while True:
            for mail in await asyncio.to_thread(mails.scan):
                letter = by_address.get(mail.to)
                if letter is not None and letter.letter_id not in notice_at:
                    notice_at[letter.letter_id] = mail.received_at
                    noticed[letter.letter_id].set()
            await asyncio.sleep(0.2)

    pickup_db = await asyncpg.create_pool(target.stores.database_urls["pickup"], min_size=1, max_size=4)
    notifier_db = await asyncpg.create_pool(target.stores.database_urls["notifier"], min_size=1, max_size=2)
    signer_db = KeptConnection(target.stores.database_urls["signer"])
    # Spawned, not forked: the driver runs threads (mail folder scans) that a fork would copy
    # mid-lock.
    signing = ProcessPoolExecutor(
        max_workers=max(1, min(2, os.cpu_count() or 1)), mp_context=multiprocessing.get_context("spawn")
    )
    recipients = Recipients(target, plan, signing, deadline)
    watcher = asyncio.create_task(watch_mail())
    started = time.time()
    try:
        async with SenderClient(target.amqp_url, target.sender_id, timeout=plan.timeout_seconds) as client:

            async def journey(index: int, letter: Letter) -> None:
                command = SubmitLetter(
                    correlation_id=letter.letter_id,
                    sender=DEMO_SENDER.model_copy(update={"id": target.sender_id}),
                    recipient=DEMO_RECIPIENT.model_copy(update={"email": letter.recipient_email}),
                    main_document=Document(filename="lettre.pdf", content=pdf),
                )
                deposited_at[letter.letter_id] = time.time()
                await client.send(command)
                outcome = await client.outcome(command, timeout=max(1.0, deadline - time.monotonic()))
                if outcome is None or outcome.item_number is None:
                    raise JourneyError(f"{letter.letter_id}: no deposit outcome ({outcome})")
                # The recipient acts once the notice is in their mailbox.
                await asyncio.wait_for(
                    noticed[letter.letter_id].wait(), max(1.0, deadline - time.monotonic())
                )
                if letter.reminded:
                    await make_reminder_due(notifier_db, letter.letter_id)
                if letter.fate is Fate.accepted:
                    await recipients.accept_and_sign(letter.letter_id, outcome.item_number)
                elif letter.fate is Fate.refused:
                    await recipients.refuse(outcome.item_number)
                else:
                    await let_the_window_close(pickup_db, letter.letter_id)

            async def guarded(index: int, letter: Letter) -> None:
                try:
                    await journey(index, letter)
                except Exception as exc:  # one letter's failure is counted, the others go on
                    failures.append(f"{letter.letter_id} ({letter.fate}): {type(exc).__name__}: {exc}")

            tasks = []
            for index, letter in enumerate(letters):
                tasks.append(asyncio.create_task(guarded(index, letter)))
                if plan.deposit_rate:
                    await asyncio.sleep(max(0.0, started + (index + 1) / plan.deposit_rate - time.time()))
                elif index % 50 == 49:
                    await asyncio.sleep(0)  # let the first ones go while the rest are queued
            say(f"{plan.letters} deposits queued in {time.time() - started:.1f} s")
            progress = asyncio.create_task(_progress(target, letters, say, signer_db))
            try:
                await asyncio.wait_for(asyncio.gather(*tasks), max(1.0, deadline - time.monotonic()))
            finally:
                progress.cancel()
        deposit_seconds = max(deposited_at.values(), default=started) - started
        say(f"recipients done after {time.time() - started:.1f} s; waiting for every final record")
        failed = {UUID(failure.split(" ", 1)[0]) for failure in failures}
        waited = [letter for letter in letters if letter.letter_id not in failed]
        await _wait_final(target, waited, deadline, signer_db)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await recipients.aclose()
        signing.shutdown(wait=True, cancel_futures=True)
        await pickup_db.close()
        await notifier_db.close()
        await signer_db.close()

    finals = await _final_times(target, letters)
    ended = max(finals.values(), default=time.time())
    ar_ms = [
        (finals[letter_id] - accepted) * 1000
        for letter_id, accepted in recipients.accepted_at.items()
        if letter_id in finals
    ]
    notice_ms = [(notice_at[i] - deposited_at[i]) * 1000 for i in notice_at if i in deposited_at]
    say(f"checking every store ({len(letters)} letters)")
    checked = await check(target.stores, letters, wait_seconds=plan.check_wait_seconds, mails=mails)
    for failure in failures:
        checked.problems.insert(0, f"driver: {failure}")
    return Journey(
        letters=len(letters),
        seconds=ended - started,
        notice_ms=notice_ms,
        ar_ms=ar_ms,
        check=checked,
        deposit_seconds=deposit_seconds,
        upload_retries=recipients.upload_retries,
        late_checks=recipients.late_checks,
        retried_requests=recipients.transport.retried,
    )


async def _progress(target: Target, letters: list[Letter], say: object, signer: KeptConnection) -> None:
    assert callable(say)
    while True:
        await asyncio.sleep(10)
        done, _ = await settled(target.stores, letters, signer)
        say(f"  … {done}/{len(letters)} letters settled")


async def _wait_final(target: Target, letters: list[Letter], deadline: float, signer: KeptConnection) -> None:
    while time.monotonic() < deadline:
        done, _ = await settled(target.stores, letters, signer)
        if done == len(letters):
            return
        await asyncio.sleep(0.5)


async def _final_times(target: Target, letters: list[Letter]) -> dict[uuid.UUID, float]:
    """When the signer recorded each letter's final record (epoch seconds), or issued the last
    proof PDF of it, if later: a letter is through when its sender has every proof."""
    rows = await fetch(
        target.stores.database_urls["signer"],
        "SELECT letter_id, event, recorded_at FROM evidence WHERE letter_id = ANY($1::uuid[])"
        " AND event = ANY($2::text[])",
        [letter.letter_id for letter in letters],
        list(FINAL.values()),
    )
    fate = {letter.letter_id: letter.fate for letter in letters}
    found: dict[uuid.UUID, datetime] = {}
    for row in rows:
        if FINAL[fate[row["letter_id"]]] == row["event"]:
            found[row["letter_id"]] = min(row["recorded_at"], found.get(row["letter_id"], row["recorded_at"]))
    proofs = await fetch(
        target.stores.database_urls["signer"],
        "SELECT letter_id, max(created_at) AS at FROM proofs WHERE letter_id = ANY($1::uuid[])"
        " GROUP BY letter_id",
        [letter.letter_id for letter in letters],
    )
    for row in proofs:
        if row["letter_id"] in found:
            found[row["letter_id"]] = max(found[row["letter_id"]], row["at"])
    return {letter_id: at.timestamp() for letter_id, at in found.items()}


# ----------------------------------------------------------------- a platform of its own


def wait_port(port: int, process: subprocess.Popen[bytes], what: str, log_path: Path) -> None:
    from tests.support import infra

    for _ in range(1200):  # two minutes: a busy machine starts the test PKI slowly
        if infra.port_open("127.0.0.1", port):
            return
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"{what} does not answer on 127.0.0.1:{port}; see {log_path}")


def spawn(module: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", *module],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


@dataclass
class OwnPlatform:
    """A platform of the driver's own (see the module's docstring)."""

    target: Target
    running: RunningPlatform
    workdir: Path
    env: dict[str, str]  # what every service was started with beyond its configuration

    @classmethod
    @contextlib.contextmanager
    def started(
        cls, replicas: int = 1, workdir: Path | None = None, extra_env: Mapping[str, str] | None = None
    ) -> Iterator[OwnPlatform]:
        from deploy.local.mailcatcher import free_port
        from deploy.local.seaweed import start_seaweed, stop_seaweed
        from tests.support import infra

        workdir = Path(workdir or tempfile.mkdtemp(prefix="lre-journey-"))
        logs = workdir / "logs"
        with contextlib.ExitStack() as stack:
            amqp_url = stack.enter_context(infra.rabbitmq_url())
            postgres = stack.enter_context(infra.postgres_server_url())
            prefix = f"lrej{secrets.token_hex(3)}"
            stack.callback(lambda: asyncio.run(infra.drop_databases(postgres, prefix)))
            for _ in range(5):
                # Below the kernel's ephemeral range; SeaweedFS's admin gRPC sits at base+10008.
                base = infra.free_port_block(11, 20000, 22500)
                if not infra.port_open("127.0.0.1", base + 10008):
                    break
            s3, weed = start_seaweed(
                workdir / "s3",
                base,
                "jrn" + secrets.token_hex(6),
                secrets.token_urlsafe(24),
                logs / "weed.log",
            )
            stack.callback(stop_seaweed, weed.pid)
            mail_dir = workdir / "mail"
            smtp_port = free_port()
            mail = spawn(
                [
                    "deploy.local.mailcatcher",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(smtp_port),
                    "--dir",
                    str(mail_dir),
                ],
                logs / "mail.log",
            )
            stack.callback(platform.stop_process, mail.pid, 5)
            wait_port(smtp_port, mail, "the SMTP catcher", logs / "mail.log")
            pki_port = free_port()
            pki_dir = workdir / "pki"
            pki = spawn(
                ["deploy.local.pki", "--dir", str(pki_dir), "--port", str(pki_port)], logs / "pki.log"
            )
            stack.callback(platform.stop_process, pki.pid, 5)
            wait_port(pki_port, pki, "the test PKI", logs / "pki.log")
            config = platform.PlatformConfig(
                infra=platform.Infrastructure(
                    amqp_url=amqp_url,
                    postgres_url=postgres,
                    s3_endpoint=s3.endpoint,
                    s3_access_key=s3.access_key,
                    s3_secret_key=s3.secret_key,
                    smtp_host="127.0.0.1",
                    smtp_port=smtp_port,
                ),
                database_prefix=prefix,
                ports=platform.default_ports(infra.free_port_block(5, 23000, 32000)),
                session_secret=secrets.token_urlsafe(48),
                dkim_key_file=workdir / "dkim" / "key.pem",
                pki=platform.LocalPki(pki_dir, f"http://127.0.0.1:{pki_port}"),
            )
            running = RunningPlatform(config, logs).with_replicas(replicas)
            stack.callback(running.stop_all)
            # The pickup sweeper looks for letters past their window every second (a moved
            # clock is seen at once); the notifier for due reminders too.
            env = {"PICKUP_UNCLAIMED_SWEEP_SECONDS": "1", "NOTIFIER_REMINDER_POLL_SECONDS": "1"}
            # As many database connections a service in all as with one process (10 by default):
            # replicas share the service's database server, whose `max_connections` is finite.
            pool = str(max(4, 10 // replicas))
            env |= {f"{service.upper()}_DB_POOL_SIZE": pool for service in platform.SERVICES}
            env |= dict(extra_env or {})
            running.start_all(env)
            stores = Stores(
                database_urls={service: running.database_url(service) for service in platform.SERVICES},
                s3_endpoint=s3.endpoint,
                s3_access_key=s3.access_key,
                s3_secret_key=s3.secret_key,
                mail_dir=mail_dir,
            )
            yield cls(Target(amqp_url, config.pickup_url, stores, pki_dir), running, workdir, env)


# ----------------------------------------------------------------- command line


def _attached(args: argparse.Namespace) -> Target:
    urls = dict(item.split("=", 1) for item in args.database_url)
    missing = {"archive", "notifier", "pickup", "signer"} - set(urls)
    if missing:
        raise SystemExit(f"--attach needs --database-url for {', '.join(sorted(missing))}")
    for needed in ("s3_endpoint", "s3_access_key", "s3_secret_key", "mail_dir", "amqp_url", "pickup_url"):
        if not getattr(args, needed):
            raise SystemExit(f"--attach needs --{needed.replace('_', '-')}")
    return Target(
        amqp_url=args.amqp_url,
        pickup_url=args.pickup_url,
        stores=Stores(urls, args.s3_endpoint, args.s3_access_key, args.s3_secret_key, Path(args.mail_dir)),
        pki_dir=Path(args.pki_dir),
        sender_id=args.sender_id,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/journey.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--letters", type=int, default=2000)
    parser.add_argument("--replicas", type=int, default=1, help="processes of every service (own platform)")
    parser.add_argument("--runs", type=int, default=1, help="runs on the same platform; medians printed")
    parser.add_argument("--visitors", type=int, default=24, help="recipients on the site at once")
    parser.add_argument("--rate", type=float, default=None, help="deposits a second (default: unpaced)")
    parser.add_argument("--refused", type=float, default=0.1, help="share of letters refused")
    parser.add_argument("--unclaimed", type=float, default=0.1, help="share of letters left unclaimed")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds a run may take")
    parser.add_argument("--workdir", type=Path, default=None, help="own platform's data and logs (kept)")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the own platform's services (e.g. SIGNER_CONSUME_BATCH=1); repeatable",
    )
    attach = parser.add_argument_group("attach to a running platform (instead of starting one)")
    attach.add_argument("--attach", action="store_true")
    attach.add_argument("--amqp-url")
    attach.add_argument("--pickup-url")
    attach.add_argument("--database-url", action="append", default=[], metavar="SERVICE=URL")
    attach.add_argument("--s3-endpoint")
    attach.add_argument("--s3-access-key")
    attach.add_argument("--s3-secret-key")
    attach.add_argument("--mail-dir", help="the SMTP catcher's folder of .eml files")
    attach.add_argument("--pki-dir", default=str(ROOT / "var" / "pki"))
    attach.add_argument("--sender-id", default=DEMO_SENDER.id)
    args = parser.parse_args(argv)
    plan = Plan(
        letters=args.letters,
        refused_share=args.refused,
        unclaimed_share=args.unclaimed,
        visitors=args.visitors,
        deposit_rate=args.rate,
        timeout_seconds=args.timeout,
    )

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwinds the platform's ExitStack: everything is stopped

    signal.signal(signal.SIGTERM, terminate)
    runs: list[Journey] = []
    with contextlib.ExitStack() as stack:
        if args.attach:
            target = _attached(args)
        else:
            started = time.monotonic()
            extra_env = dict(item.split("=", 1) for item in args.env)
            own = stack.enter_context(OwnPlatform.started(args.replicas, args.workdir, extra_env))
            target = own.target
            print(
                f"platform of {args.replicas} process(es) a service up in {time.monotonic() - started:.0f} s"
                f" (logs in {own.workdir / 'logs'})",
                flush=True,
            )
        for run in range(1, args.runs + 1):
            print(f"run {run}/{args.runs}: {plan.letters} letters", flush=True)
            journey = asyncio.run(run_journey(target, plan))
            print(journey.report(), flush=True)
            for problem in journey.check.problems[:20]:
                print("  " + problem)
            runs.append(journey)
    if len(runs) > 1:
        rates = [j.letters_per_s for j in runs]
        p99s = [j.notice_p99_ms for j in runs]
        print(
            f"medians of {len(runs)} runs: {statistics.median(rates):.2f} letters/s"
            f" (runs: {', '.join(f'{r:.2f}' for r in rates)}), notice p99 {statistics.median(p99s):.0f} ms"
            f" (runs: {', '.join(f'{p:.0f}' for p in p99s)}), AR p99"
            f" {statistics.median([j.ar_p99_ms for j in runs]):.0f} ms"
        )
    summary = Journey(
        letters=sum(j.letters for j in runs),
        seconds=0.0,
        notice_ms=[],
        ar_ms=[],
        check=Check(
            lost=sum(j.check.lost for j in runs),
            doubled=sum(j.check.doubled for j in runs),
        ),
    )
    print(
        f"RESULT journey_letters_per_s={statistics.median(j.letters_per_s for j in runs):.2f}"
        f" notice_p99_ms={statistics.median(j.notice_p99_ms for j in runs):.0f}"
        f" lost={summary.check.lost} doubled={summary.check.doubled}"
    )
    return (
        0
        if all(j.check.ok and not any(p.startswith("driver:") for p in j.check.problems) for j in runs)
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())
