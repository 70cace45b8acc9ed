"""Proofs on demand (CPCE R.53-3 IV), as deployed: the five services configured as `make run`
configures them, on the test PKI. A sender system's letter is deposited and refused; the
sender lists its proofs (deposit, refusal, envelope) and downloads each one, and the evidence
bundle, on the bus with its own broker user and over HTTP with its API key (`lre-senders key
issue`); the bundle passes `lre verify`. Another sender learns nothing of the letter (404), a
revoked key opens nothing (401), and `lre-send proofs` does it all from a shell."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from minio.error import S3Error

from deploy.local import platform
from deploy.local.demo import DEMO_RECIPIENT, demo_pdf
from deploy.local.seaweed import SeaweedS3
from lre_shared import sender_cli
from lre_shared.contracts import Document, ProofKind, Sender, SubmitLetter
from lre_shared.sender import ProofUnavailable, SenderClient, submit_letter
from signer.entrypoints import cli
from tests.support.fixtures import SmtpServer
from tests.support.pki import TestPki
from tests.support.running import RunningPlatform
from tests.support.senders import SenderUser, sender_user
from tests.support.site import csrf, plain_text

pytestmark = pytest.mark.e2e

KINDS = ("deposit", "refusal", "envelope")  # the proofs of a refused letter
EXPORTS_BUCKET = "lre-exports"  # the signer's default


@dataclass(frozen=True)
class Letter:
    letter_id: uuid.UUID
    item_number: str
    idempotency_key: str
    proofs: dict[str, str]  # kind -> SHA-256, as the signer keeps them


@pytest.fixture(scope="module")
def platform_running(services: RunningPlatform, test_pki: TestPki) -> RunningPlatform:
    return services.start_on_test_pki(test_pki)


@pytest.fixture(scope="module")
async def acme(platform_running: RunningPlatform) -> AsyncIterator[SenderUser]:
    async with sender_user(platform_running.amqp_url) as made:
        yield made


@pytest.fixture(scope="module")
async def rival(platform_running: RunningPlatform) -> AsyncIterator[SenderUser]:
    async with sender_user(platform_running.amqp_url) as made:
        yield made


def lre_senders(platform_running: RunningPlatform, *argv: str) -> subprocess.CompletedProcess[str]:
    """The operator's `lre-senders`, with the archive's settings as the platform gives them."""
    env = {**os.environ, **platform.service_environment(platform_running.config, "archive")}
    return subprocess.run(
        [sys.executable, "-c", "from archive.entrypoints.admin import run; run()", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def issue_key(platform_running: RunningPlatform, sender_id: str) -> tuple[str, str]:
    """A new API key of the sender, and its key id."""
    issued = lre_senders(platform_running, "key", "issue", sender_id, "--label", "e2e")
    assert issued.returncode == 0, issued.stderr
    key_id = re.search(r"key id: ([0-9a-f-]{36})", issued.stderr)
    assert key_id, issued.stderr
    return issued.stdout.strip(), key_id.group(1)


async def proofs_kept(platform_running: RunningPlatform, letter_id: uuid.UUID) -> dict[str, str]:
    """The letter's proofs once the refusal's and the envelope are issued and all in the bucket."""
    signer = await asyncpg.connect(platform_running.database_url("signer"))
    try:
        for _ in range(600):
            rows = await signer.fetch(
                "SELECT kind, sha256, archived_at FROM proofs WHERE letter_id = $1", letter_id
            )
            if {r["kind"] for r in rows} == set(KINDS) and all(r["archived_at"] for r in rows):
                return {r["kind"]: r["sha256"] for r in rows}
            await asyncio.sleep(0.2)
    finally:
        await signer.close()
    raise AssertionError(f"the proofs of letter {letter_id} were not all issued and archived")


@pytest.fixture(scope="module")
async def letter(platform_running: RunningPlatform, smtp: SmtpServer, acme: SenderUser) -> Letter:
    """A letter of `acme`, deposited, notified and refused by its recipient on the site."""
    recipient = DEMO_RECIPIENT.model_copy(update={"email": f"proofs-{uuid.uuid4().hex[:8]}@exemple.example"})
    key = f"dossier-{uuid.uuid4().hex[:8]}"
    command = SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=Sender(id=acme.sender_id, name="ACME SAS", email="legal@acme.example"),
        recipient=recipient,
        main_document=Document(filename="mise-en-demeure.pdf", content=demo_pdf("Preuves " + key)),
        idempotency_key=key,
    )
    # Deposited by the platform's own user (trusted to act for any sender), as the tests of
    # the journey do: what is under test here is what follows.
    letter_id = await submit_letter(platform_running.amqp_url, command)
    notice = await smtp.store.wait_for_async(lambda m: m["To"] == recipient.email, timeout=60)
    item = re.search(r"Numéro de pli : (\d{12})", plain_text(notice))
    assert item
    async with httpx.AsyncClient(base_url=platform_running.config.pickup_url, follow_redirects=True) as site:
        page = await site.get("/")
        page = await site.post("/", data={"csrf_token": csrf(page), "item_number": item.group(1)})
        page = await site.post(
            "/identite",
            data={
                "csrf_token": csrf(page),
                "company": "Société Exemple SAS",
                "last_name": "Martin",
                "first_name": "Camille",
                "address": "12 avenue de l'Opéra",
                "postcode": "75001",
                "city": "Paris",
            },
        )
        assert page.url.path == "/decision", page.text
        page = await site.post("/decision", data={"csrf_token": csrf(page), "decision": "refuser"})
        assert page.status_code == 200
    return Letter(letter_id, item.group(1), key, await proofs_kept(platform_running, letter_id))


@pytest.fixture(scope="module")
def acme_key(platform_running: RunningPlatform, acme: SenderUser) -> str:
    return issue_key(platform_running, acme.sender_id)[0]


def archive_url(platform_running: RunningPlatform) -> str:
    return f"http://127.0.0.1:{platform_running.config.ports['archive']}"


async def test_the_sender_lists_and_downloads_each_proof_and_the_bundle_on_the_bus(
    acme: SenderUser, letter: Letter, test_pki: TestPki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with SenderClient(acme.amqp_url, acme.sender_id) as client:
        listed = await client.proofs(letter.letter_id)
        files = {kind: await client.proof(letter.letter_id, ProofKind(kind), tmp_path) for kind in KINDS}
        bundle = await client.proof(letter.letter_id, "bundle", tmp_path / "bundle.zip")

    assert {p.kind.value: p.sha256 for p in listed.proofs} == letter.proofs
    assert all(p.size > 0 and p.filename.endswith(".pdf") for p in listed.proofs)
    for kind, path in files.items():
        content = path.read_bytes()
        assert content.startswith(b"%PDF-")
        assert hashlib.sha256(content).hexdigest() == letter.proofs[kind]
    assert files["envelope"].name == f"pli_{letter.item_number}.pdf"

    status = await asyncio.to_thread(cli.main, ["verify", str(bundle), "--trust", str(test_pki.root_file)])

    out = capsys.readouterr()
    assert status == 0, out.err
    assert "VERIFIED" in out.out


async def test_the_sender_gets_the_same_over_http_with_its_api_key(
    platform_running: RunningPlatform,
    letter: Letter,
    acme_key: str,
    test_pki: TestPki,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    auth = {"authorization": f"Bearer {acme_key}"}
    base = f"/senders/letters/{letter.letter_id}"
    async with httpx.AsyncClient(base_url=archive_url(platform_running), headers=auth) as api:
        listed = await api.get(f"{base}/proofs")
        evidence = await api.get(f"{base}/evidence")
        redirects = {kind: await api.get(f"{base}/proofs/{kind}") for kind in KINDS}
        bundle_redirect = await api.get(f"{base}/bundle")
        # A client that follows the redirect itself: the key does not go on to the store.
        followed = await api.get(f"{base}/proofs/deposit", follow_redirects=True)
    async with httpx.AsyncClient() as store:
        downloads = {kind: await store.get(r.headers["location"]) for kind, r in redirects.items()}
        bundle = await store.get(bundle_redirect.headers["location"])

    assert listed.status_code == 200
    assert {p["kind"]: p["sha256"] for p in listed.json()["proofs"]} == letter.proofs
    assert evidence.status_code == 200
    events = [r["event"] for r in evidence.json()["records"]]
    assert events[0] == "SubmissionAcceptance" and "ConsignmentRejection" in events
    for kind, answer in redirects.items():
        assert answer.status_code == 302
        assert answer.json()["sha256"] == letter.proofs[kind]
        assert downloads[kind].status_code == 200
        assert hashlib.sha256(downloads[kind].content).hexdigest() == letter.proofs[kind]
    assert followed.status_code == 200
    assert hashlib.sha256(followed.content).hexdigest() == letter.proofs["deposit"]
    assert bundle.status_code == 200
    assert hashlib.sha256(bundle.content).hexdigest() == bundle_redirect.json()["sha256"]
    saved = tmp_path / "evidence.zip"
    saved.write_bytes(bundle.content)

    status = await asyncio.to_thread(cli.main, ["verify", str(saved), "--trust", str(test_pki.root_file)])

    out = capsys.readouterr()
    assert status == 0, out.err
    assert "VERIFIED" in out.out


async def test_another_sender_learns_nothing_of_the_letter(
    platform_running: RunningPlatform, letter: Letter, rival: SenderUser, tmp_path: Path
) -> None:
    rival_key, _ = issue_key(platform_running, rival.sender_id)
    base = f"/senders/letters/{letter.letter_id}"
    auth = {"authorization": f"Bearer {rival_key}"}
    async with httpx.AsyncClient(base_url=archive_url(platform_running), headers=auth) as api:
        answers = [
            await api.get(f"{base}/{path}") for path in ("proofs", "proofs/deposit", "bundle", "evidence")
        ]
        unknown = await api.get(f"/senders/letters/{uuid.uuid4()}/proofs")
    async with SenderClient(rival.amqp_url, rival.sender_id) as client:
        listed = await client.proofs(letter.letter_id)
        with pytest.raises(ProofUnavailable):
            await client.proof(letter.letter_id, "bundle", tmp_path)

    assert [a.status_code for a in answers] == [404, 404, 404, 404]
    assert {a.json()["reason"] for a in answers} == {unknown.json()["reason"]}
    assert unknown.status_code == 404
    assert listed.proofs == ()
    assert await asyncio.to_thread(lambda: list(tmp_path.iterdir())) == []


async def test_a_revoked_key_opens_nothing(
    platform_running: RunningPlatform, letter: Letter, acme: SenderUser
) -> None:
    key, key_id = issue_key(platform_running, acme.sender_id)
    path = f"/senders/letters/{letter.letter_id}/proofs"
    async with httpx.AsyncClient(base_url=archive_url(platform_running)) as api:
        before = await api.get(path, headers={"authorization": f"Bearer {key}"})
        revoked = lre_senders(platform_running, "key", "revoke", key_id)
        after = await api.get(path, headers={"authorization": f"Bearer {key}"})
        upload = await api.post(
            "/uploads", json={"filename": "a.pdf"}, headers={"authorization": f"Bearer {key}"}
        )
    listing = lre_senders(platform_running, "key", "list", acme.sender_id)

    assert before.status_code == 200
    assert revoked.returncode == 0, revoked.stderr
    assert (after.status_code, upload.status_code) == (401, 401)
    assert "API key" in after.json()["reason"]
    line = next(line for line in listing.stdout.splitlines() if line.startswith(key_id))
    assert "revoked" in line and "last used" in line
    assert key not in listing.stdout  # only the prefix is ever shown


async def test_lre_send_proofs_lists_and_downloads_with_the_senders_own_broker_user(
    acme: SenderUser, letter: Letter, test_pki: TestPki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--amqp-url", acme.amqp_url, "--sender-id", acme.sender_id]
    listing, err = io.StringIO(), io.StringIO()
    listed = await sender_cli.run(["proofs", *common, letter.idempotency_key], stdout=listing, stderr=err)
    got = io.StringIO()
    fetched = await sender_cli.run(
        ["proofs", *common, str(letter.letter_id), "--get", "bundle", "--out", str(tmp_path)],
        stdout=got,
        stderr=err,
    )

    assert (listed, fetched) == (0, 0), err.getvalue()
    for kind, sha256 in letter.proofs.items():
        assert re.search(rf"^  {kind}\s.*sha256 {sha256}$", listing.getvalue(), re.MULTILINE)
    bundle = Path(got.getvalue().strip())
    assert bundle == tmp_path / f"evidence_{letter.letter_id}.zip"

    status = await asyncio.to_thread(cli.main, ["verify", str(bundle), "--trust", str(test_pki.root_file)])

    assert status == 0, capsys.readouterr().err


def test_exports_go_to_a_bucket_that_forgets_them_never_to_the_locked_one(
    letter: Letter, acme_key: str, platform_running: RunningPlatform, s3: SeaweedS3
) -> None:
    client = s3.client()
    lifecycle = client.get_bucket_lifecycle(EXPORTS_BUCKET)
    assert lifecycle is not None
    (rule,) = lifecycle.rules
    assert rule.expiration is not None
    assert (rule.status, rule.expiration.days) == ("Enabled", 1)
    with pytest.raises(S3Error):  # no object lock: an export can be deleted
        client.get_object_lock_config(EXPORTS_BUCKET)
    exported = [o.object_name for o in client.list_objects(EXPORTS_BUCKET, prefix="exports/", recursive=True)]
    assert any(name.endswith(f"evidence_{letter.letter_id}.zip") for name in exported)
    evidence = [o.object_name for o in client.list_objects("lre-evidence", prefix="exports/", recursive=True)]
    assert evidence == []
