"""Bundles that cannot be cut short: once a letter's fate is settled the signer seals where its
chain ends (a checkpoint, superseded by each later record), the bundle carries it, and
`lre verify` refuses a bundle missing any record it counts, out of order, or with a
checkpoint that is not this letter's or not as sealed. The log as a whole gets signed tree
heads (RFC 6962)."""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from lre_shared.contracts import (
    LetterDeposited,
    LetterRefused,
    Message,
    NoticeChannel,
    NoticeFailed,
    NoticeSent,
    now_utc,
)
from services.signer.tests.integration.test_signer_proofs_on_events import lre_export
from services.signer.tests.integration.test_signer_seals import (
    DOCUMENT,
    deposited,
    lre_verify,
    publish,
    sealed_settings,
    start,
    stop,
    wait_for_records,
)
from signer.adapters.bundle import load_bundle
from signer.adapters.postgres import Transactions
from signer.adapters.seal_check import check_seal
from signer.adapters.sealing import CadesSealer
from signer.domain.checkpoint import LetterCheckpoint, TreeHead
from signer.domain.verification import StoredRecord
from signer.service_layer.tree_heads import sign_tree_head
from tests.support.pki import TestPki

pytestmark = pytest.mark.integration


def refused_then_bounced(letter: LetterDeposited) -> list[Message]:
    """Notice sent, letter refused (its fate settled: a checkpoint), then a late bounce of the
    notice (a record after the settling one: a new checkpoint)."""
    notice_id, email = uuid.uuid4(), letter.recipient.email
    return [
        NoticeSent(
            correlation_id=letter.correlation_id,
            notice_id=notice_id,
            item_number=letter.item_number,
            channel=NoticeChannel.email,
            address=email,
            sent_at=now_utc(),
            provider_message_id=f"<{uuid.uuid4().hex}@lre.example>",
        ),
        LetterRefused(
            correlation_id=letter.correlation_id, item_number=letter.item_number, refused_at=now_utc()
        ),
        NoticeFailed(
            correlation_id=letter.correlation_id,
            notice_id=notice_id,
            item_number=letter.item_number,
            channel=NoticeChannel.email,
            address=email,
            reason="SMTP 550: mailbox unavailable",
            permanent=True,
        ),
    ]


@dataclass
class Settled:
    bundle: Path  # the letter's bundle, as `lre export-bundle` writes it
    other: Path  # another settled letter's bundle
    letter: LetterDeposited
    checkpoint_sizes: list[int]  # the letter's stored checkpoint after each record


@pytest.fixture
async def settled(test_pki: TestPki, amqp_url: str, database_url: str, tmp_path: Path) -> Settled:
    runtime = await start(sealed_settings(test_pki, amqp_url, database_url), amqp_url)
    letters = [deposited(), deposited()]
    sizes: list[int] = []
    try:
        for n, letter in enumerate(letters):
            await publish(amqp_url, letter)
            await wait_for_records(runtime.pool, letter.correlation_id, 1)
            for count, message in enumerate(refused_then_bounced(letter), start=2):
                await publish(amqp_url, message)
                await wait_for_records(runtime.pool, letter.correlation_id, count)
                if n == 0:
                    sizes.append(
                        await runtime.pool.fetchval(
                            "SELECT coalesce(max(size), 0) FROM letter_checkpoints WHERE letter_id = $1",
                            letter.correlation_id,
                        )
                    )
    finally:
        await stop(runtime)
    document = tmp_path / "mise-en-demeure.pdf"
    document.write_bytes(DOCUMENT)
    out = [tmp_path / f"bundle-{n}" for n in range(2)]
    for letter, path in zip(letters, out, strict=True):
        exported = lre_export(letter.correlation_id, path, database_url, document)
        assert exported.returncode == 0, exported.stderr
    return Settled(out[0], out[1], letters[0], sizes)


def drop(bundle: Path, seq: int) -> None:
    (bundle / "records" / f"{seq:04d}.json").unlink()
    (bundle / "records" / f"{seq:04d}.seal.json").unlink()


async def test_a_settled_letter_gets_a_checkpoint_that_each_later_record_supersedes(settled: Settled) -> None:
    statement = (settled.bundle / "checkpoint.json").read_bytes()
    records = sorted((settled.bundle / "records").glob("[0-9][0-9][0-9][0-9].json"))

    # no checkpoint while the letter awaits an answer; one at the refusal; a new one after
    assert settled.checkpoint_sizes == [0, 3, 4]
    assert LetterCheckpoint.parse(statement) == LetterCheckpoint.of(
        settled.letter.correlation_id, 4, StoredRecord("r", records[-1].read_bytes()).sha256
    )
    assert (settled.bundle / "checkpoint.seal.json").exists()


async def test_lre_verify_accepts_the_intact_bundle_of_a_settled_letter(
    settled: Settled, test_pki: TestPki
) -> None:
    result = lre_verify(settled.bundle, test_pki.root_file)

    assert result.returncode == 0, result.stderr
    assert "checkpoint.json: the chain ends at record 4, as the checkpoint states" in result.stdout
    assert "checkpoint.json: seal intact, by LRE TEST Provider evidence seal" in result.stdout


async def test_lre_verify_accepts_the_bundle_of_a_settled_letter_as_a_zip(
    settled: Settled, test_pki: TestPki
) -> None:
    archive = shutil.make_archive(str(settled.bundle), "zip", settled.bundle.parent, settled.bundle.name)

    result = lre_verify(Path(archive), test_pki.root_file)

    assert result.returncode == 0, result.stderr
    assert "checkpoint.json: the chain ends at record 4" in result.stdout


async def test_lre_verify_refuses_a_bundle_cut_short_naming_the_missing_record(
    settled: Settled, test_pki: TestPki
) -> None:
    drop(settled.bundle, 4)

    result = lre_verify(settled.bundle, test_pki.root_file)

    assert result.returncode == 1
    assert (
        "FAIL  record 4: missing: the checkpoint counts 4 records and the bundle ends at record 3:"
        " the bundle was cut short"
    ) in result.stderr


async def test_lre_verify_refuses_a_bundle_with_a_record_dropped_from_the_middle(
    settled: Settled, test_pki: TestPki
) -> None:
    drop(settled.bundle, 2)

    result = lre_verify(settled.bundle, test_pki.root_file)

    assert result.returncode == 1
    assert "FAIL  record 2: missing from the chain: record 3 follows record 1" in result.stderr


async def test_lre_verify_refuses_reordered_records(settled: Settled, test_pki: TestPki) -> None:
    records = settled.bundle / "records"
    for suffix in (".json", ".seal.json"):
        second, third = records / f"0002{suffix}", records / f"0003{suffix}"
        body = second.read_bytes()
        second.write_bytes(third.read_bytes())
        third.write_bytes(body)

    result = lre_verify(settled.bundle, test_pki.root_file)

    assert result.returncode == 1
    assert (
        "FAIL  records/0002.json: holds record 3, not record 2: the records were reordered" in result.stderr
    )
    assert (
        "FAIL  records/0003.json: holds record 2, not record 3: the records were reordered" in result.stderr
    )


async def test_lre_verify_refuses_another_letters_checkpoint(settled: Settled, test_pki: TestPki) -> None:
    for name in ("checkpoint.json", "checkpoint.seal.json"):
        shutil.copyfile(settled.other / name, settled.bundle / name)
    other = LetterCheckpoint.parse((settled.other / "checkpoint.json").read_bytes())

    result = lre_verify(settled.bundle, test_pki.root_file)

    assert result.returncode == 1
    assert (
        f"FAIL  checkpoint.json: the checkpoint of letter {other.letter_id}, not of this bundle's letter"
        f" ({settled.letter.correlation_id}): it was taken from another bundle"
    ) in result.stderr


async def test_lre_verify_refuses_a_checkpoint_whose_length_was_altered(
    settled: Settled, test_pki: TestPki
) -> None:
    checkpoint = settled.bundle / "checkpoint.json"
    sealed = LetterCheckpoint.parse(checkpoint.read_bytes())
    checkpoint.write_bytes(LetterCheckpoint(sealed.letter_id, 3, sealed.last_sha256).statement())
    drop(settled.bundle, 4)

    result = lre_verify(settled.bundle, test_pki.root_file)

    assert result.returncode == 1
    assert (
        "FAIL  checkpoint.json: its seal does not match it: the checkpoint was altered after sealing"
    ) in result.stderr


async def test_lre_verify_refuses_a_settled_letters_bundle_without_its_checkpoint(
    settled: Settled, test_pki: TestPki
) -> None:
    drop(settled.bundle, 4)
    (settled.bundle / "checkpoint.json").unlink()
    (settled.bundle / "checkpoint.seal.json").unlink()

    result = lre_verify(settled.bundle, test_pki.root_file)

    assert result.returncode == 1
    assert "FAIL  checkpoint.json: missing: record 3 settles the letter's fate" in result.stderr


async def test_a_signed_tree_head_covers_every_record_of_the_log_and_its_seal_holds(
    test_pki: TestPki, amqp_url: str, database_url: str
) -> None:
    sealer = CadesSealer.from_files(
        test_pki.key_file("seal"),
        tsa_url=test_pki.tsa_url,
        cert_file=test_pki.cert_file("seal"),
        chain_files=test_pki.chain_files,
    )
    runtime = await start(
        sealed_settings(test_pki, amqp_url, database_url).model_copy(update={"log_tree_head_seconds": None}),
        amqp_url,
    )
    try:
        await sign_tree_head(Transactions(runtime.pool), sealer)  # whatever came before this test
        letter = deposited()
        await publish(amqp_url, letter)
        await wait_for_records(runtime.pool, letter.correlation_id, 1)
        head = await sign_tree_head(Transactions(runtime.pool), sealer)
        digests = [
            r["record_sha256"]
            for r in await runtime.pool.fetch(
                "SELECT record_sha256 FROM evidence WHERE log_index IS NOT NULL ORDER BY log_index"
            )
        ]
        stored = await runtime.pool.fetchrow(
            "SELECT statement, seal FROM log_tree_heads ORDER BY tree_size DESC LIMIT 1"
        )
        in_log = await runtime.pool.fetchval(
            "SELECT log_index IS NOT NULL FROM evidence WHERE letter_id = $1", letter.correlation_id
        )
        bundle = await load_bundle(runtime.pool, letter.correlation_id)
    finally:
        await stop(runtime)
        await sealer.close()
    report = await check_seal(
        StoredRecord("tree-head", bytes(stored["statement"])),
        bytes(stored["seal"]),
        claims_sealed=True,
        trust_roots=[test_pki.cert("root")],
    )

    assert head is not None and in_log
    # positions once given never change: the head's tree is a prefix of the log (RFC 6962 §2.1.2)
    assert head.root == TreeHead.over(digests[: head.tree_size], head.timestamp).root
    assert json.loads(stored["statement"])["tree_size"] >= head.tree_size
    assert report.failures == []
    assert bundle.checkpoint is None  # not settled: no letter checkpoint yet
