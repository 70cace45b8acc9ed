"""A letter as one zip, written while it is read: memory stays constant, whatever its size.

Entries are stored, not deflated (PDFs are compressed already), with ZIP64 sizes and data
descriptors, since nothing is known of an entry before its last byte is through. Each entry's
bytes are hash-checked by the store as they stream: a mismatch raises mid-stream, so the
download breaks instead of delivering altered content.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ZipEntry:
    name: str
    chunks: Callable[[], AsyncIterator[bytes]]  # opened when the entry's turn comes, not before


class _Sink(io.RawIOBase):
    """An unseekable output that keeps what was written until it is taken."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._chunks.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


async def stream_zip(entries: Iterable[ZipEntry]) -> AsyncIterator[bytes]:
    sink = _Sink()
    stamp = time.localtime()[:6]
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for entry in entries:
            info = zipfile.ZipInfo(entry.name, date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED
            with archive.open(info, mode="w", force_zip64=True) as member:
                async for chunk in entry.chunks():
                    member.write(chunk)
                    if data := sink.take():
                        yield data
            if data := sink.take():
                yield data
    if data := sink.take():  # the central directory, written on close
        yield data
