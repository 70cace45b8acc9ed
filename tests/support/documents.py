"""Documents the tests hand to the platform: well-formed ones, and hostile ones built the way
an attacker would, with the libraries that write the formats."""

from __future__ import annotations

import datetime
import io
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NumberObject, TextStringObject


def encrypted(pdf: bytes) -> bytes:
    """`pdf` behind a password: a PDF the archive must refuse."""
    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def written(writer: PdfWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def blank_pdf() -> bytes:
    """A one-page PDF with nothing active in it."""
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    return written(writer)


def zip_of(name: str = "payload.exe", content: bytes = b"MZ\x90\x00") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, content)
    return out.getvalue()


def image(kind: str, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small photo-like image, `kind` JPEG or PNG."""
    picture = Image.new("RGB", size, (200, 120, 40))
    out = io.BytesIO()
    picture.save(out, kind)
    return out.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes that claims `width` × `height` pixels: its zeros compress
    to almost nothing and decode to gigabytes."""
    row = b"\x00" + bytes((width + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(min(height, 64))) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")
    )


def self_signed(directory: Path, name: str = "Camille Martin") -> tuple[Path, Path]:
    """A key and a self-signed certificate for `name`, as PEM files in `directory`."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = directory / "key.pem", directory / "cert.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


def signed_pdf(pdf: bytes, field: str = "Signature destinataire") -> bytes:
    """`pdf` signed in a new signature field, as a recipient signs the acknowledgement of
    receipt (a self-signed certificate: whether it is trusted is the signer's to judge)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    with tempfile.TemporaryDirectory() as directory:
        key_file, cert_file = self_signed(Path(directory))
        signer = signers.SimpleSigner.load(str(key_file), str(cert_file))
    assert signer is not None
    output = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)),
        signers.PdfSignatureMetadata(field_name=field),
        signer=signer,
    )
    signed: bytes = output.getvalue()
    return signed


def with_action(action: dict[str, object], where: str = "/OpenAction") -> bytes:
    """A blank PDF whose catalogue (or first page, for /AA) carries `action`."""
    writer = PdfWriter()
    page = writer.add_blank_page(595, 842)
    built = DictionaryObject(
        {
            NameObject(k): NameObject(v)
            if isinstance(v, str) and v.startswith("/")
            else TextStringObject(str(v))
            for k, v in action.items()
        }
    )
    if where == "/AA":
        page[NameObject("/AA")] = DictionaryObject({NameObject("/O"): built})
    elif where == "/Annots":
        link = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Annot"),
                NameObject("/Subtype"): NameObject("/Link"),
                NameObject("/Rect"): ArrayObject(
                    [NumberObject(0), NumberObject(0), NumberObject(9), NumberObject(9)]
                ),
                NameObject("/A"): built,
            }
        )
        page[NameObject("/Annots")] = ArrayObject([writer._add_object(link)])
    else:
        writer._root_object[NameObject(where)] = built
    return written(writer)


def with_document_javascript(code: str = "app.alert('bonjour');") -> bytes:
    """A blank PDF whose JavaScript name tree runs `code` as the document opens."""
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    action = DictionaryObject(
        {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject(code)}
    )
    tree = DictionaryObject(
        {NameObject("/Names"): ArrayObject([TextStringObject("ouverture"), writer._add_object(action)])}
    )
    writer._root_object[NameObject("/Names")] = DictionaryObject({NameObject("/JavaScript"): tree})
    return written(writer)


def pdf_text(pdf: bytes) -> str:
    """The text of every page, as a reader extracts it (the proofs' text is in an embedded
    font, its content streams compressed: searching the bytes finds nothing)."""
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def pdf_of_at_least(size: int) -> bytes:
    """A well-formed one-page PDF of `size` bytes or a little more (a document at a limit)."""
    from deploy.local.demo import demo_pdf

    low, high = 0, max(size, 1)
    while len(demo_pdf("x" * high)) < size:
        low, high = high, high * 2
    while low < high:  # the shortest text that makes it that large
        middle = (low + high) // 2
        if len(demo_pdf("x" * middle)) >= size:
            high = middle
        else:
            low = middle + 1
    return demo_pdf("x" * high)


def one_byte_changed(pdf: bytes) -> bytes:
    """`pdf` with one bit flipped inside its first content stream: the same length, other bytes."""
    at = pdf.index(b"stream\n") + 20
    return pdf[:at] + bytes([pdf[at] ^ 1]) + pdf[at + 1 :]
