"""Proof PDFs: rendered by `lre_shared.documents` (PDF/A-3b, embedded Unicode font, A4),
sealed PAdES with pyHanko.

PAdES B-LT: a CAdES signature with a signature timestamp, and the validation data (the
chain, OCSP responses and CRLs, fetched at sealing time) embedded in the document's DSS,
so the proof verifies offline for as long as its algorithms hold. B-LTA (a document
timestamp over it all) by configuration. The key is loaded once (see `sealing.py`).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from io import BytesIO

from asn1crypto import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields as sig_fields
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, Signer
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.aiohttp_fetchers.util import LazySession

from lre_shared.documents import Attachment, Block, Paragraph, render_document
from signer.adapters.worker_loop import WorkerLoop
from signer.domain.proofs import ProofContent, Provider

MARGIN = 56
FIELD_NAME = "CachetPrestataire"
RECIPIENT_FIELD_NAME = "SignatureDestinataire"  # the field the recipient signs the AR in
RECIPIENT_FIELD_BOX = (MARGIN, MARGIN // 2, MARGIN + 260, MARGIN // 2 + 50)
# Room kept for the CMS signature (chain + timestamp token; validation data goes to the DSS):
# a fixed size spares pyHanko a trial signature to estimate it, for every proof.
SIGNATURE_BYTES = 16_384


def _blocks(content: ProofContent, provider: Provider) -> list[Block]:
    blocks: list[Block] = [Paragraph(content.title, size=15, bold=True), Paragraph("", size=6)]
    for label, value in (*content.fields, *provider.fields()):
        blocks += [Paragraph(label, bold=True), Paragraph(value, indent=16)]
    blocks.append(Paragraph("", size=6))
    blocks += [Paragraph(note, size=9) for note in content.notes]
    return blocks


def attachments(content: ProofContent) -> list[Attachment]:
    """The sealed records the proof attests, named as in a bundle's `records/` folder: the
    record (Source: the proof is rendered from it) and its seal (Supplement)."""
    attached = []
    for record in content.evidence:
        attached.append(
            Attachment(
                record.name,
                record.body,
                f"Enregistrement de preuve n° {record.seq} (evidence record, JSON RFC 8785)",
            )
        )
        if record.seal is not None:
            attached.append(
                Attachment(
                    record.seal_name,
                    record.seal,
                    f"Cachet de l'enregistrement n° {record.seq} (CAdES-T seal, inclusion proof)",
                    relationship="Supplement",
                )
            )
    return attached


def render_pdf(content: ProofContent, provider: Provider) -> bytes:
    """The proof, naming the provider that seals it and carrying the sealed records it
    attests, as a PDF pyHanko can seal in place."""
    return render_document(_blocks(content, provider), title=content.title, attachments=attachments(content))


def render_receipt_form(content: ProofContent, provider: Provider) -> bytes:
    """The AR to sign: the rendered PDF plus, in an incremental update, an empty signature
    field for the recipient at the bottom of its last page. Filling that field is the only
    change the signer accepts to these bytes (see `receipt_check.py`)."""
    # The text stops above the field, so the recipient's signature covers none of it.
    rendered = render_document(
        _blocks(content, provider), title=content.title, bottom=RECIPIENT_FIELD_BOX[3] + 12
    )
    writer = IncrementalPdfFileWriter(BytesIO(rendered))
    sig_fields.append_signature_field(
        writer, sig_fields.SigFieldSpec(RECIPIENT_FIELD_NAME, on_page=-1, box=RECIPIENT_FIELD_BOX)
    )
    # SigFlags 3 (SignaturesExist, AppendOnly) now, as signing would set it: then the
    # signing update changes nothing of ours but the field's value.
    acroform = writer.root["/AcroForm"]
    acroform["/SigFlags"] = generic.NumberObject(3)  # type: ignore[no-untyped-call]
    writer.update_container(acroform)
    out = BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


class PadesSealer:
    """Seals proof PDFs PAdES B-LT (B-LTA when `lta`), with the key loaded once."""

    def __init__(
        self,
        signer: Signer,
        timestamper: TimeStamper,
        *,
        trust_roots: Sequence[x509.Certificate],
        provider: Provider,
        lta: bool = False,
        revocation_cache_seconds: float = 300.0,
        render_processes: int = 0,
    ) -> None:
        self._signer = signer
        self._timestamper = timestamper
        self._trust_roots = list(trust_roots)
        self._provider = provider
        self._lta = lta
        self._cache_seconds = revocation_cache_seconds
        self._context: tuple[float, ValidationContext] | None = None
        self._lock = threading.Lock()
        self._signing = WorkerLoop("proof-signing")
        # One HTTP session for OCSP, CRL and certificate fetches, on the signing loop.
        self._fetchers = AIOHttpFetcherBackend()
        # Rendering (fpdf2, fontTools: pure Python, most of a proof's cost) in processes of its
        # own, spawned (the service runs threads a fork would copy mid-lock), so that it runs on
        # another core while this process seals and consumes.
        self._renderers = (
            ProcessPoolExecutor(max_workers=render_processes, mp_context=multiprocessing.get_context("spawn"))
            if render_processes > 0
            else None
        )

    def _validation_context(self) -> ValidationContext:
        """Shared for a few minutes: OCSP responses and CRLs fetched once serve many proofs
        (each is embedded as it was fetched; an OCSP response is good for its validity period)."""
        with self._lock:
            now = time.monotonic()
            if self._context is None or now - self._context[0] > self._cache_seconds:
                self._context = (
                    now,
                    ValidationContext(
                        trust_roots=self._trust_roots, allow_fetching=True, fetcher_backend=self._fetchers
                    ),
                )
            return self._context[1]

    def _pdf_signer(self) -> PdfSigner:
        context = self._validation_context()
        metadata = PdfSignatureMetadata(
            field_name=FIELD_NAME,
            reason="Cachet du prestataire de lettre recommandée électronique",
            subfilter=sig_fields.SigSeedSubFilter.PADES,
            embed_validation_info=True,
            use_pades_lta=self._lta,
            validation_context=context,
            md_algorithm="sha256",
        )
        return PdfSigner(metadata, signer=self._signer, timestamper=self._timestamper)

    async def _seal(self, pdf: bytes) -> bytes:
        writer = IncrementalPdfFileWriter(BytesIO(pdf))
        output = await self._pdf_signer().async_sign_pdf(writer, bytes_reserved=SIGNATURE_BYTES)
        sealed: bytes = output.getvalue()
        return sealed

    async def _render_and_seal(self, content: ProofContent) -> bytes:
        return await self._seal(render_pdf(content, self._provider))

    async def stop_rendering(self) -> None:
        """End the rendering processes (once nothing is issued any more)."""
        if self._renderers is not None:
            self._renderers.shutdown(wait=False, cancel_futures=True)
            self._renderers = None

    async def seal_proof(self, content: ProofContent) -> bytes:
        """The proof rendered (in a rendering process, or on the signing thread), then sealed
        on the signing thread: the service's event loop is never held up by either."""
        if self._renderers is None:
            return await self._signing.run_async(self._render_and_seal(content))
        loop = asyncio.get_running_loop()
        pdf = await loop.run_in_executor(self._renderers, render_pdf, content, self._provider)
        return await self.seal(pdf)

    def seal_blocking(self, pdf: bytes) -> bytes:
        return self._signing.run(self._seal(pdf))

    async def seal(self, pdf: bytes) -> bytes:
        return await self._signing.run_async(self._seal(pdf))

    async def close(self) -> None:
        """Close the HTTP sessions and stop the signing thread."""
        await self._signing.run_async(self._fetchers.close())  # type: ignore[no-untyped-call]
        session = getattr(self._timestamper, "_session", None)
        if isinstance(session, LazySession):
            await self._signing.run_async(session.close())  # type: ignore[no-untyped-call]
        self._signing.close()
        await self.stop_rendering()
