"""Sealing throughput: the signer's path against a naive pyHanko loop, in the same run.

    uv run python bench/sign.py [--proofs 20] [--rounds 3] [--records 5000] [--concurrency 320]

Needs nothing running: the TSA, OCSP and CRLs are served by this process.

Both paths seal the same proof PDF (an envelope `pli_<number>.pdf`) PAdES B-LT, with the same
time-stamping authority: the TEST-ONLY certomancer PKI of `deploy/pki/certomancer.yml`,
served on 127.0.0.1 by this process (keys generated into a temporary directory).

- **signer**: `signer.adapters.pdf.PadesSealer`, as the service runs it: the key loaded once,
  a fixed room for the signature, revocation data fetched once and shared for minutes.
- **naive**: a textbook pyHanko loop: for every proof, load the key from its files, build a
  fresh validation context (fetch the OCSP responses and CRLs again), let pyHanko estimate
  the signature size (a trial signature), sign.

The paths run alternately, `--rounds` times each; `seal_ratio` is the median signer rate over
the median naive rate. Then `--records` evidence records are sealed (CAdES + RFC 3161
timestamp each) through `signer.adapters.sealing.CadesSealer`, `--concurrency` at a time, as
the service's consumers would (prefetch 64 on each of its 5 queues: 320 in flight); records
that arrive while a batch is being sealed share the next batch's seal and timestamp, each
with its Merkle inclusion proof: `evidence_per_s`.

Last line: `RESULT seal_ratio=<signer/naive> evidence_per_s=<n>`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields as sig_fields
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, SimpleSigner
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko_certvalidator import ValidationContext

from signer.adapters.pdf import PadesSealer, render_pdf
from signer.adapters.sealing import CadesSealer, load_signer, timestamper
from signer.domain.evidence import EvidenceEvent, SealAssurance, build_record
from signer.domain.proofs import DocumentFact, EvidenceFact, LetterFacts, Party, Provider, envelope

if TYPE_CHECKING:
    from tests.support.pki import TestPki

ROOT = Path(__file__).resolve().parents[1]
PROVIDER = Provider(
    "LRE Démo SAS (fictif)",
    "RCS Paris 000 000 000 (fictif)",
    "1 rue de l'Exemple, 75001 Paris, France",
    "urn:lre:policy:fr_lre:v1",
    SealAssurance(sealed=True),
)


def proof_pdf() -> bytes:
    facts = LetterFacts(
        item_number="799273987130",
        sender=Party("ACME SAS", "legal@acme.example"),
        recipient=Party("Camille Martin", "camille.martin@example.org"),
        deposited_at=datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
        documents=(DocumentFact("mise-en-demeure.pdf", "a" * 64),),
        policy_id="urn:lre:policy:fr_lre:v1",
    )
    events = [
        EvidenceFact(event, datetime(2025, 3, 1, 9 + n, tzinfo=UTC), str(uuid.uuid4()), "b" * 64)
        for n, event in enumerate(
            [
                EvidenceEvent.submission_acceptance,
                EvidenceEvent.notification_for_acceptance,
                EvidenceEvent.consignment_acceptance,
                EvidenceEvent.content_handover,
            ]
        )
    ]
    return render_pdf(envelope(facts, events, SealAssurance(sealed=True)), PROVIDER)


def naive_seal(pki: TestPki, pdf: bytes) -> bytes:
    signer = SimpleSigner.load(  # type: ignore[no-untyped-call]
        str(pki.key_file("seal")), str(pki.cert_file("seal")), ca_chain_files=[str(pki.cert_file("interm"))]
    )
    metadata = PdfSignatureMetadata(
        field_name="Signature",
        subfilter=sig_fields.SigSeedSubFilter.PADES,
        embed_validation_info=True,
        validation_context=ValidationContext(trust_roots=[pki.cert("root")], allow_fetching=True),
        md_algorithm="sha256",
    )
    output = PdfSigner(metadata, signer=signer, timestamper=HTTPTimeStamper(pki.tsa_url)).sign_pdf(
        IncrementalPdfFileWriter(BytesIO(pdf))
    )
    sealed: bytes = output.getvalue()
    return sealed


def rate(seal: Callable[[], bytes], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        seal()
    return count / (time.perf_counter() - started)


async def evidence_rate(sealer: CadesSealer, records: int, concurrency: int) -> float:
    letter = uuid.uuid4()
    bodies = [
        build_record(
            evidence_id=uuid.uuid4(),
            event=EvidenceEvent.notification_for_acceptance,
            event_time=datetime.now(UTC),
            letter_id=letter,
            item_number="799273987130",
            details={"channel": "email", "address": "camille.martin@example.org"},
            policy_id="urn:lre:policy:fr_lre:v1",
            seq=n + 2,
            previous_sha256="c" * 64,
            seal=sealer.assurance,
        )[0]
        for n in range(records)
    ]
    gate = asyncio.Semaphore(concurrency)

    async def one(body: bytes) -> None:
        async with gate:
            await sealer.seal(body)

    started = time.perf_counter()
    await asyncio.gather(*(one(body) for body in bodies))
    return records / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--proofs", type=int, default=20, help="proofs sealed per round and path")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=320)
    args = parser.parse_args(argv)
    # The naive loop leaves an aiohttp session per fresh validation context to the garbage
    # collector; asyncio would log each one.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    if str(ROOT) not in sys.path:  # run as a script: the test PKI lives in the repository's tests/
        sys.path.insert(0, str(ROOT))
    from tests.support.pki import running_pki

    with (
        tempfile.TemporaryDirectory(prefix="lre-bench-pki-") as directory,
        running_pki(Path(directory)) as pki,
    ):
        pdf = proof_pdf()
        signer = load_signer(
            pki.key_file("seal"), cert_file=pki.cert_file("seal"), chain_files=pki.chain_files
        )
        pades = PadesSealer(
            signer, timestamper(pki.tsa_url), trust_roots=[pki.cert("root")], provider=PROVIDER
        )
        pades.seal_blocking(pdf)  # warm-up: imports, first fetches
        naive_seal(pki, pdf)
        ours: list[float] = []
        theirs: list[float] = []
        for round_number in range(1, args.rounds + 1):
            ours.append(rate(lambda: pades.seal_blocking(pdf), args.proofs))
            theirs.append(rate(lambda: naive_seal(pki, pdf), args.proofs))
            print(f"round {round_number}: signer {ours[-1]:.1f} proofs/s, naive {theirs[-1]:.1f} proofs/s")
        ratio = statistics.median(ours) / statistics.median(theirs)

        cades = CadesSealer(signer, timestamper(pki.tsa_url))
        per_s = asyncio.run(evidence_rate(cades, args.records, args.concurrency))
        asyncio.run(cades.close())
        print(f"evidence: {args.records} records sealed and timestamped, {per_s:.0f} records/s")
    print(f"RESULT seal_ratio={ratio:.2f} evidence_per_s={per_s:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
