"""What an uploaded document may be, judged by parsing it with the libraries that read its
type, never by its name, its declared type or its first bytes alone.

Every service that takes a file from outside uses this one inspection: the pickup site (the
signed acknowledgement of receipt, identity documents), the verification desk (identity
documents however they arrive) and the archive (deposited letters, PDF only). The files go
on to people who open them (the recipient, the desk's agents, the courts), so a file is
refused when it could act on whoever opens it or hide something else:

- a PDF that is encrypted (it cannot be inspected, nor kept readable), or that carries active
  content: JavaScript, actions that launch, import or submit, automatic actions (/AA),
  attached files, multimedia, an XFA form. Signature fields are not active content: a signed
  acknowledgement of receipt carries them by design.
- an image that is not wholly decodable, larger than a pixel limit (a decompression bomb:
  a few kilobytes that decode to gigabytes), or followed by data after its end (JPEG EOI,
  PNG IEND), where another file can ride along.
- any file that a ZIP reader would also open (a polyglot).

A refusal names its flaw (`Flaw`), so each caller words it in its page's language, and
states the limit where one applies.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, PdfObject

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
NAMES = {PDF: "PDF", JPEG: "JPEG", PNG: "PNG"}

# Magic numbers: a first sorting, before the file is parsed as the type they announce.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", PDF),
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
)

# 50 megapixels: above any phone's photo or any scan of an identity document at 600 dpi, far
# below what would exhaust the memory of whoever decodes it.
MAX_PIXELS = 50_000_000
# A still image; a phone photo may carry a second picture (a depth or gain map, MPO).
MAX_FRAMES = 4

logging.getLogger("pypdf").setLevel(logging.ERROR)


class Flaw(StrEnum):
    empty = "empty"
    not_accepted = "not_accepted"
    unreadable = "unreadable"
    encrypted = "encrypted"
    active_content = "active_content"
    too_many_pixels = "too_many_pixels"
    animated = "animated"
    trailing_data = "trailing_data"
    hidden_archive = "hidden_archive"


@dataclass(frozen=True)
class Refused:
    """Why a file is refused: its flaw, what was found, and the limit it went past."""

    flaw: Flaw
    detail: str = ""
    limit: int | None = None

    def __str__(self) -> str:
        match self.flaw:
            case Flaw.empty:
                return "the file is empty"
            case Flaw.not_accepted:
                return f"only {self.detail} files are accepted"
            case Flaw.unreadable:
                return f"the file cannot be read: {self.detail}"
            case Flaw.encrypted:
                return "the PDF is encrypted; send it without a password"
            case Flaw.active_content:
                return (
                    f"the PDF holds active content ({self.detail}); send a copy without it,"
                    " printed to PDF for instance"
                )
            case Flaw.too_many_pixels:
                return (
                    f"the image is {self.detail} pixels, over the limit of {self.limit} pixels"
                    f" ({(self.limit or 0) / 1_000_000:g} megapixels)"
                )
            case Flaw.animated:
                return (
                    f"the image has {self.detail} frames, over the limit of {self.limit}; send a still image"
                )
            case Flaw.trailing_data:
                return f"{self.detail} bytes follow the end of the image; send the image alone"
            case Flaw.hidden_archive:
                return "the file is also a ZIP archive; send the document alone"


def content_type(content: bytes) -> str | None:
    """The type the first bytes announce, if one of PDF, JPEG, PNG."""
    for signature, kind in SIGNATURES:
        if content.startswith(signature):
            return kind
    return None


def inspect_document(
    content: bytes, accepted: Iterable[str] = (PDF, JPEG, PNG), max_pixels: int = MAX_PIXELS
) -> str | Refused:
    """The content type of `content` when it is an acceptable file of one of the `accepted`
    types, else why it is refused."""
    kinds = tuple(accepted)
    if not content:
        return Refused(Flaw.empty)
    kind = content_type(content)
    if kind not in kinds:
        return Refused(Flaw.not_accepted, " and ".join(", ".join(NAMES[k] for k in kinds).rsplit(", ", 1)))
    refused = inspect_pdf(io.BytesIO(content)) if kind == PDF else inspect_image(content, kind, max_pixels)
    return refused or kind


# ------------------------------------------------------------------------------ PDF

# Keys whose presence is active content, wherever they are.
ACTIVE_KEYS = {
    "/JS": "JavaScript",
    "/JavaScript": "JavaScript",
    "/AA": "automatic actions",
    "/XFA": "an XFA form",
    "/EmbeddedFiles": "attached files",
    "/EF": "attached files",
    "/RichMediaContent": "multimedia",
}
# Actions (/S) that run something, reach outside the document or send its data away.
ACTIVE_ACTIONS = {
    "/JavaScript": "JavaScript",
    "/Launch": "an action launching a program",
    "/ImportData": "an action importing data",
    "/SubmitForm": "an action sending the form",
    "/GoToE": "an action opening an attached file",
    "/RichMediaExecute": "multimedia",
    "/Rendition": "multimedia",
}
# Annotations and objects (/Subtype, /Type) that play or attach something.
ACTIVE_KINDS = {
    "/RichMedia": "multimedia",
    "/Screen": "multimedia",
    "/Movie": "multimedia",
    "/Sound": "multimedia",
    "/3D": "a 3D model",
    "/FileAttachment": "attached files",
    "/EmbeddedFile": "attached files",
}


def inspect_pdf(stream: BinaryIO) -> Refused | None:
    """Why the PDF in the seekable `stream` is refused, if it is (the parser reads what it
    needs: a large document is never held whole)."""
    stream.seek(0)
    try:
        reader = PdfReader(stream, strict=False)
        if reader.is_encrypted:
            return Refused(Flaw.encrypted)
        _ = len(reader.pages)
        found = _active_content(reader.trailer)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        return Refused(Flaw.unreadable, str(exc) or type(exc).__name__)
    if found is not None:
        return Refused(Flaw.active_content, found)
    return _polyglot(stream)


def _active_content(trailer: PdfObject) -> str | None:
    """What active content the document holds, looking at every object reachable from its
    trailer (content streams are not decoded: only their dictionaries matter)."""
    seen: set[tuple[int, int]] = set()
    pending: list[PdfObject | None] = [trailer]
    while pending:
        item = pending.pop()
        if isinstance(item, IndirectObject):
            if (item.idnum, item.generation) in seen:
                continue
            seen.add((item.idnum, item.generation))
            item = item.get_object()
        if isinstance(item, DictionaryObject):
            for key, value in item.items():
                if key in ACTIVE_KEYS:
                    return ACTIVE_KEYS[key]
                pending.append(value)
            for key, kinds in (("/S", ACTIVE_ACTIONS), ("/Subtype", ACTIVE_KINDS), ("/Type", ACTIVE_KINDS)):
                named = item.get(key)
                if isinstance(named, str) and named in kinds:
                    return kinds[named]
        elif isinstance(item, ArrayObject):
            pending.extend(item)
    return None


# ---------------------------------------------------------------------------- images

_FORMATS = {JPEG: ("JPEG", "MPO"), PNG: ("PNG",)}


def inspect_image(content: bytes, kind: str, max_pixels: int = MAX_PIXELS) -> Refused | None:
    """Why the JPEG or PNG `content` is refused, if it is: decoded whole, within `max_pixels`,
    with nothing after its end."""
    end = _jpeg_images_end(content) if kind == JPEG else _png_end(content)
    if end is None:
        return Refused(Flaw.unreadable, f"the {NAMES[kind]} structure is broken or cut short")
    if end < len(content):
        return Refused(Flaw.trailing_data, str(len(content) - end))
    try:
        with warnings.catch_warnings():
            # The limit here is `max_pixels`, checked before anything is decoded.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as image:
                if image.format not in _FORMATS[kind]:
                    return Refused(Flaw.unreadable, f"not a {NAMES[kind]} image")
                width, height = image.size
                if width * height > max_pixels:
                    return Refused(Flaw.too_many_pixels, f"{width} × {height}", max_pixels)
                frames = getattr(image, "n_frames", 1)
                if frames > MAX_FRAMES:
                    return Refused(Flaw.animated, str(frames), MAX_FRAMES)
                image.verify()
            with Image.open(io.BytesIO(content)) as image:
                image.load()
    except Image.DecompressionBombError as exc:
        # So large that the decoder will not open it: its message holds the pixel count.
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        return Refused(Flaw.too_many_pixels, claimed.group(1) if claimed else "?", max_pixels)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        return Refused(Flaw.unreadable, str(exc) or type(exc).__name__)
    return _polyglot(io.BytesIO(content))


def _jpeg_end(data: bytes, position: int) -> int | None:
    """Where the JPEG starting at `position` ends (just after its EOI), following its
    segments and scans; None when it is not a whole JPEG."""
    if data[position : position + 2] != b"\xff\xd8":
        return None
    position += 2
    size = len(data)
    while True:
        if position >= size or data[position] != 0xFF:
            return None
        while position < size and data[position] == 0xFF:  # fill bytes
            position += 1
        if position >= size:
            return None
        marker = data[position]
        position += 1
        if marker == 0xD9:  # EOI
            return position
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length
            continue
        if position + 2 > size:
            return None
        length = int.from_bytes(data[position : position + 2], "big")
        if length < 2:
            return None
        position += length
        if marker == 0xDA:  # SOS: entropy-coded data up to the next marker
            while True:
                position = data.find(b"\xff", position)
                if position < 0 or position + 1 >= size:
                    return None
                following = data[position + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:  # stuffed byte, restart
                    position += 2
                elif following == 0xFF:
                    position += 1
                else:
                    break


def _jpeg_images_end(data: bytes) -> int | None:
    """Where the JPEG ends, with the pictures a phone appends to it (MPO: each a whole JPEG
    of its own, one after the other); None when the first is not whole."""
    end = _jpeg_end(data, 0)
    while end is not None and end < len(data):
        following = _jpeg_end(data, end)
        if following is None:
            break
        end = following
    return end


def _png_end(data: bytes) -> int | None:
    """Where the PNG ends (just after its IEND chunk); None when its chunks do not reach one."""
    position = 8
    while position + 12 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        chunk = data[position + 4 : position + 8]
        position += 12 + length
        if chunk == b"IEND":
            return position if position <= len(data) else None
    return None


# ------------------------------------------------------------------------ polyglots


def _polyglot(stream: BinaryIO) -> Refused | None:
    """A refusal when a ZIP reader would find an archive in the file: it reads the central
    directory from the end, wherever the file's own format puts that data."""
    stream.seek(0)
    try:
        with zipfile.ZipFile(stream) as archive:
            holds = bool(archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, IndexError, KeyError):
        return None
    return Refused(Flaw.hidden_archive) if holds else None
