"""Seal-key rotation (docs/OPERATIONS.md): `lre rotate-seal-key` checks the new key end to end
before the signer is switched to it; a letter whose records were sealed partly with the old
key and partly with the new one verifies with `lre verify`, each seal carrying its own
certificate; and once the old certificate is revoked (the test PKI's `seal-retired`, revoked
on 2026-06-01), the rule is the timestamp's: a record timestamped before the revocation stays
valid, one timestamped after it is reported as sealed by a revoked certificate."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from certomancer.registry import ServiceLabel
from pyhanko.sign.timestamps import TimeStamper

from signer.adapters.bundle import write_bundle
from signer.adapters.sealing import CadesSealer, load_signer
from signer.domain.evidence import EvidenceEvent, SealAssurance, build_record
from signer.domain.verification import Bundle, StoredRecord
from signer.entrypoints import cli
from tests.support.pki import TestPki

LETTER = UUID("22222222-2222-4222-8222-222222222222")
REVOKED_ON = datetime(2026, 6, 1, tzinfo=UTC)  # seal-retired, deploy/pki/certomancer.yml
BEFORE_REVOCATION = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
AFTER_REVOCATION = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
# A letter still open (no event settling its fate, so no checkpoint is due): deposited, then
# notified by several channels.
EVENTS = [
    EvidenceEvent.submission_acceptance,
    EvidenceEvent.notification_for_acceptance,
    EvidenceEvent.notification_for_acceptance,
    EvidenceEvent.notification_for_acceptance,
]


def sealer(pki: TestPki, label: str, stamps: TimeStamper) -> CadesSealer:
    key = load_signer(pki.key_file(label), cert_file=pki.cert_file(label), chain_files=pki.chain_files)
    return CadesSealer(key, stamps)


def sealed_letter(pki: TestPki, old_key_stamped_at: datetime) -> Bundle:
    """Records 1-2 sealed by the retired key (timestamped as of `old_key_stamped_at`), then the
    rotation, records 3-4 by the current key (timestamped now)."""
    bundle = Bundle()
    previous = None
    for seq, event in enumerate(EVENTS, start=1):
        body, previous = build_record(
            evidence_id=uuid4(),
            event=event,
            event_time=datetime.now(UTC),
            letter_id=LETTER,
            item_number="799273987130",
            details={},
            policy_id="urn:lre:policy:test",
            seq=seq,
            previous_sha256=previous,
            seal=SealAssurance(sealed=True),
        )
        bundle.records.append(StoredRecord(f"records/{seq:04d}.json", body))
    halves = (
        (bundle.records[:2], sealer(pki, "seal-retired", pki.timestamper(at=old_key_stamped_at))),
        (bundle.records[2:], sealer(pki, "seal", pki.timestamper())),
    )
    for records, key in halves:

        async def seal_all(records: list[StoredRecord] = records, key: CadesSealer = key) -> list[bytes]:
            try:
                return [await key.seal(record.body) for record in records]
            finally:
                await key.close()

        for record, seal in zip(records, asyncio.run(seal_all()), strict=True):
            bundle.seals[record.name] = seal
    return bundle


def written(bundle: Bundle, directory: Path) -> str:
    write_bundle(directory, bundle)
    return str(directory)


@pytest.fixture
def interm_crl(test_pki: TestPki, tmp_path: Path) -> str:
    """The intermediate CA's CRL as published now: it lists seal-retired as revoked."""
    crl = test_pki.arch.service_registry.get_crl(ServiceLabel("interm"), at_time=datetime.now(UTC))
    path = tmp_path / "interm.crl"
    path.write_bytes(crl.dump())
    return str(path)


def test_rotate_seal_key_checks_the_new_key_then_names_it_keeping_the_old_root(
    test_pki: TestPki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "signer.env"
    old_root = tmp_path / "old-root.pem"
    old_root.write_bytes(test_pki.root_file.read_bytes())
    settings.write_text(
        f"SIGNER_SEAL_KEY_FILE={test_pki.key_file('seal-retired')}\n"
        f"SIGNER_SEAL_ROOT_FILES='{json.dumps([str(old_root)])}'\n"
        f"SIGNER_TSA_URL={test_pki.tsa_url}\n"
    )

    status = cli.main(
        [
            "rotate-seal-key",
            "--key-file", str(test_pki.key_file("seal")),
            "--cert-file", str(test_pki.cert_file("seal")),
            "--chain", str(test_pki.chain_files[0]),
            "--trust", str(test_pki.root_file),
            "--tsa-url", test_pki.tsa_url,
            "--env-file", str(settings),
        ]
    )  # fmt: skip

    out = capsys.readouterr().out
    assert status == 0, out
    assert "probe: seal intact, by LRE TEST Provider evidence seal" in out
    assert "ROTATED" in out
    lines = dict(line.split("=", 1) for line in settings.read_text().splitlines())
    assert lines["SIGNER_SEAL_KEY_FILE"].strip("'") == str(test_pki.key_file("seal").resolve())
    assert lines["SIGNER_SEAL_CERT_FILE"].strip("'") == str(test_pki.cert_file("seal").resolve())
    assert json.loads(lines["SIGNER_SEAL_ROOT_FILES"].strip("'")) == [
        str(old_root),
        str(test_pki.root_file.resolve()),
    ]
    assert lines["SIGNER_TSA_URL"] == test_pki.tsa_url


def test_rotate_seal_key_refuses_a_key_whose_seal_does_not_chain_to_the_roots(
    test_pki: TestPki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "signer.env"
    settings.write_text("SIGNER_SEAL_KEY_FILE=/old/seal.key.pem\n")

    status = cli.main(
        [
            "rotate-seal-key",
            "--key-file", str(test_pki.key_file("rogue-recipient")),
            "--cert-file", str(test_pki.cert_file("rogue-recipient")),
            "--trust", str(test_pki.root_file),
            "--tsa-url", test_pki.tsa_url,
            "--env-file", str(settings),
        ]
    )  # fmt: skip

    assert status == 1
    assert "NOT ROTATED" in capsys.readouterr().err
    assert settings.read_text() == "SIGNER_SEAL_KEY_FILE=/old/seal.key.pem\n"


def test_records_sealed_before_and_after_a_rotation_all_verify(
    test_pki: TestPki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = written(sealed_letter(test_pki, BEFORE_REVOCATION), tmp_path / "bundle")

    status = cli.main(["verify", bundle, "--trust", str(test_pki.root_file)])

    out = capsys.readouterr()
    assert status == 0, out.err
    out = out.out
    for seq in (1, 2):
        assert f"records/{seq:04d}.json: seal intact, by LRE TEST Provider evidence seal (retired key)" in out
    for seq in (3, 4):
        assert f"records/{seq:04d}.json: seal intact, by LRE TEST Provider evidence seal\n" in out
    assert "chain: 4 records, positions 1 to 4, no gap" in out


def test_a_record_timestamped_before_the_old_keys_revocation_stays_valid(
    test_pki: TestPki, tmp_path: Path, interm_crl: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = written(sealed_letter(test_pki, BEFORE_REVOCATION), tmp_path / "bundle")

    status = cli.main(["verify", bundle, "--trust", str(test_pki.root_file), "--crl", interm_crl])

    out = capsys.readouterr().out
    assert status == 0, out
    assert (
        f"records/0001.json: seal certificate revoked on {REVOKED_ON.isoformat()} (superseded), after the"
        f" record's timestamp {BEFORE_REVOCATION.isoformat()}: the record stays valid"
    ) in out
    assert "records/0003.json: seal certificate not revoked" in out


def test_a_record_timestamped_after_the_old_keys_revocation_is_reported(
    test_pki: TestPki, tmp_path: Path, interm_crl: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = written(sealed_letter(test_pki, AFTER_REVOCATION), tmp_path / "bundle")

    status = cli.main(["verify", bundle, "--trust", str(test_pki.root_file), "--crl", interm_crl])

    err = capsys.readouterr().err
    assert status == 1
    assert (
        f"records/0001.json: its seal certificate (CN=LRE TEST Provider evidence seal (retired key),"
        f"O=LRE TEST Provider,C=FR) was revoked on {REVOKED_ON.isoformat()} (superseded), before the"
        f" record's timestamp {AFTER_REVOCATION.isoformat()}: the seal is not valid"
    ) in err
    assert "records/0003.json: seal certificate not revoked" in err
    assert "NOT VERIFIED" in err
