"""What a recipient does outside the browser: sign the acknowledgement of receipt with a
personal certificate (PAdES, as a desktop PDF signer would), open a downloaded zip, photograph
an identity card."""

from __future__ import annotations

import struct
import zipfile
import zlib
from email.message import EmailMessage
from io import BytesIO
from pathlib import Path

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import enumerate_sig_fields

from tests.support.pki import TestPki


def notice_text(message: EmailMessage) -> str:
    """The plain-text part of an email, as a mail reader shows it."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def empty_signature_field(pdf: bytes) -> str:
    """The name of the first signature field not signed yet: where the AR is to be signed."""
    fields = list(enumerate_sig_fields(PdfFileReader(BytesIO(pdf)), filled_status=False))
    assert fields, "the acknowledgement of receipt has no empty signature field"
    name: str = fields[0][0]
    return name


async def sign_with_certificate(pki: TestPki, label: str, pdf: bytes) -> bytes:
    """`pdf` signed in its empty signature field with the personal certificate `label`."""
    key = signers.SimpleSigner.load(  # type: ignore[no-untyped-call]
        str(pki.key_file(label)),
        str(pki.cert_file(label)),
        ca_chain_files=[str(p) for p in pki.chain_files],
    )
    output = await signers.async_sign_pdf(
        IncrementalPdfFileWriter(BytesIO(pdf)),
        signers.PdfSignatureMetadata(field_name=empty_signature_field(pdf)),
        signer=key,
    )
    signed: bytes = output.getvalue()
    return signed


def zip_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None, "a member of the zip is corrupt"
        return {name: archive.read(name) for name in archive.namelist()}


def identity_card_png() -> bytes:
    """A small, valid PNG standing for the photo of an identity card."""
    width, height = 40, 25

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes([30, 60, 140]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
