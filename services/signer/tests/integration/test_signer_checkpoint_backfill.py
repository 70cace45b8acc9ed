"""Letters settled before the signer sealed checkpoints: their bundles are refused by
`lre verify` until the signer, at its next start, seals the checkpoint of each one's chain;
two replicas doing it at once seal one checkpoint per letter."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

from lre_shared.contracts import LetterDeposited, LetterRefused, now_utc
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
from signer.adapters.postgres import Transactions
from signer.adapters.seal_check import check_seal
from signer.adapters.sealing import CadesSealer
from signer.domain.checkpoint import LetterCheckpoint
from signer.domain.verification import StoredRecord
from signer.service_layer.checkpoints import backfill_checkpoints
from tests.support.pki import TestPki

pytestmark = pytest.mark.integration


async def settle_without_checkpoint(pki: TestPki, amqp_url: str, database_url: str) -> LetterDeposited:
    """A letter deposited and refused, whose checkpoint is then taken away: as a letter settled
    before the signer sealed checkpoints."""
    runtime = await start(sealed_settings(pki, amqp_url, database_url), amqp_url)
    letter = deposited()
    try:
        await publish(amqp_url, letter)
        await wait_for_records(runtime.pool, letter.correlation_id, 1)
        await publish(
            amqp_url,
            LetterRefused(
                correlation_id=letter.correlation_id, item_number=letter.item_number, refused_at=now_utc()
            ),
        )
        await wait_for_records(runtime.pool, letter.correlation_id, 2)
        await runtime.pool.execute(
            "DELETE FROM letter_checkpoints WHERE letter_id = $1", letter.correlation_id
        )
    finally:
        await stop(runtime)
    return letter


async def wait_for_checkpoint(pool: asyncpg.Pool, letter_id: uuid.UUID) -> None:
    deadline = asyncio.get_running_loop().time() + 30.0
    while not await pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM letter_checkpoints WHERE letter_id = $1)", letter_id
    ):
        assert asyncio.get_running_loop().time() < deadline, f"no checkpoint for letter {letter_id}"
        await asyncio.sleep(0.1)


def export(letter_id: uuid.UUID, out: Path, database_url: str) -> Path:
    document = out.parent / "mise-en-demeure.pdf"
    document.write_bytes(DOCUMENT)
    exported = lre_export(letter_id, out, database_url, document)
    assert exported.returncode == 0, exported.stderr
    return out


async def test_a_letter_settled_without_a_checkpoint_gets_one_at_the_next_start_and_its_bundle_verifies(
    test_pki: TestPki, amqp_url: str, database_url: str, tmp_path: Path
) -> None:
    letter = await settle_without_checkpoint(test_pki, amqp_url, database_url)
    before = lre_verify(export(letter.correlation_id, tmp_path / "before", database_url), test_pki.root_file)

    runtime = await start(sealed_settings(test_pki, amqp_url, database_url), amqp_url)
    try:
        await wait_for_checkpoint(runtime.pool, letter.correlation_id)
    finally:
        await stop(runtime)
    after = lre_verify(export(letter.correlation_id, tmp_path / "after", database_url), test_pki.root_file)

    assert before.returncode == 1
    assert "FAIL  checkpoint.json: missing: record 2 settles the letter's fate" in before.stderr
    assert after.returncode == 0, after.stderr
    assert "checkpoint.json: the chain ends at record 2, as the checkpoint states" in after.stdout
    assert "checkpoint.json: seal intact, by LRE TEST Provider evidence seal" in after.stdout


async def test_two_replicas_backfilling_at_once_seal_one_checkpoint_per_letter(
    test_pki: TestPki, amqp_url: str, database_url: str
) -> None:
    letter = await settle_without_checkpoint(test_pki, amqp_url, database_url)
    sealer = CadesSealer.from_files(
        test_pki.key_file("seal"),
        tsa_url=test_pki.tsa_url,
        cert_file=test_pki.cert_file("seal"),
        chain_files=test_pki.chain_files,
    )
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=4)
    assert pool is not None
    try:
        await asyncio.gather(*(backfill_checkpoints(Transactions(pool), sealer, batch=2) for _ in range(2)))
        rows = await pool.fetch(
            "SELECT statement, seal FROM letter_checkpoints WHERE letter_id = $1", letter.correlation_id
        )
        last = await pool.fetchval(
            "SELECT record FROM evidence WHERE letter_id = $1 ORDER BY seq DESC LIMIT 1",
            letter.correlation_id,
        )
        async with Transactions(pool)() as uow:
            missing = await uow.checkpoints.missing(1000)
    finally:
        await pool.close()
        await sealer.close()
    (row,) = rows
    statement = bytes(row["statement"])
    report = await check_seal(
        StoredRecord("checkpoint.json", statement),
        bytes(row["seal"]),
        claims_sealed=True,
        trust_roots=[test_pki.cert("root")],
    )

    assert LetterCheckpoint.parse(statement) == LetterCheckpoint.of(
        letter.correlation_id, 2, StoredRecord("r", bytes(last)).sha256
    )
    assert report.failures == []
    assert letter.correlation_id not in missing
