"""Proof PDFs: rendered here (plain PDF, Helvetica, A4), sealed PAdES with pyHanko.

PAdES B-LT: a CAdES signature with a signature timestamp, and the validation data (the
chain, OCSP responses and CRLs, fetched at sealing time) embedded in the document's DSS,
so the proof verifies offline for as long as its algorithms hold. B-LTA (a document
timestamp over it all) by configuration. The key is loaded once (see `sealing.py`).
"""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Sequence
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

from lre_shared.pdf import assemble
from signer.adapters.worker_loop import WorkerLoop
from signer.domain.proofs import ProofContent

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4, points
MARGIN = 56
FIELD_NAME = "CachetPrestataire"
RECIPIENT_FIELD_NAME = "SignatureDestinataire"  # the field the recipient signs the AR in
# Room kept for the CMS signature (chain + timestamp token; validation data goes to the DSS):
# a fixed size spares pyHanko a trial signature to estimate it, for every proof.
SIGNATURE_BYTES = 16_384


def _text(value: str) -> bytes:
    """A PDF string in WinAnsiEncoding (cp1252 holds every French letter, « », — and €)."""
    encoded = value.encode("cp1252", errors="replace")
    return b"(" + encoded.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _lines(content: ProofContent) -> list[tuple[str, int, str]]:
    """(font, size, text) lines, top to bottom."""
    lines: list[tuple[str, int, str]] = [("F2", 15, line) for line in textwrap.wrap(content.title, 60)]
    lines.append(("F1", 8, ""))
    for label, value in content.fields:
        lines.append(("F2", 10, label))
        lines += [
            ("F1", 10, "    " + part) for part in textwrap.wrap(value, 88, break_long_words=True) or [""]
        ]
    lines.append(("F1", 8, ""))
    for note in content.notes:
        lines += [("F1", 9, part) for part in textwrap.wrap(note, 100)]
    return lines


def _pages(lines: Sequence[tuple[str, int, str]]) -> list[bytes]:
    pages: list[bytes] = []
    stream = bytearray()
    y = PAGE_HEIGHT - MARGIN
    for font, size, text in lines:
        leading = int(size * 1.45)
        if y - leading < MARGIN:
            pages.append(bytes(stream))
            stream, y = bytearray(), PAGE_HEIGHT - MARGIN
        y -= leading
        stream += (
            b"BT /" + font.encode() + f" {size} Tf {MARGIN} {y} Td ".encode() + _text(text) + b" Tj ET\n"
        )
    pages.append(bytes(stream))
    return pages


def render_pdf(content: ProofContent) -> bytes:
    """A small, well-formed PDF (exact cross-reference table) that pyHanko can sign in place."""
    pages = _pages(_lines(content))
    font_regular, font_bold, pages_ref = 3, 4, 2
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, once the page numbers are known
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Title " + _text(content.title) + b" /Producer (LRE signer) >>",
    ]
    kids = []
    for stream in pages:
        objects.append(b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"endstream")
        content_ref = len(objects)
        objects.append(
            f"<< /Type /Page /Parent {pages_ref} 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}]"
            f" /Contents {content_ref} 0 R /Resources << /Font << /F1 {font_regular} 0 R"
            f" /F2 {font_bold} 0 R >> >> >>".encode()
        )
        kids.append(f"{len(objects)} 0 R")
    objects[pages_ref - 1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>".encode()
    return assemble(objects, " /Info 5 0 R")


def render_receipt_form(content: ProofContent) -> bytes:
    """The AR to sign: the rendered PDF plus, in an incremental update, an empty signature
    field for the recipient at the bottom of its last page. Filling that field is the only
    change the signer accepts to these bytes (see `receipt_check.py`)."""
    writer = IncrementalPdfFileWriter(BytesIO(render_pdf(content)))
    sig_fields.append_signature_field(
        writer,
        sig_fields.SigFieldSpec(
            RECIPIENT_FIELD_NAME, on_page=-1, box=(MARGIN, MARGIN // 2, MARGIN + 260, MARGIN // 2 + 50)
        ),
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
        lta: bool = False,
        revocation_cache_seconds: float = 300.0,
    ) -> None:
        self._signer = signer
        self._timestamper = timestamper
        self._trust_roots = list(trust_roots)
        self._lta = lta
        self._cache_seconds = revocation_cache_seconds
        self._context: tuple[float, ValidationContext] | None = None
        self._lock = threading.Lock()
        self._signing = WorkerLoop("proof-signing")
        # One HTTP session for OCSP, CRL and certificate fetches, on the signing loop.
        self._fetchers = AIOHttpFetcherBackend()

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

    async def seal_proof(self, content: ProofContent) -> bytes:
        """The proof rendered, then sealed."""
        return await self.seal(render_pdf(content))

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
