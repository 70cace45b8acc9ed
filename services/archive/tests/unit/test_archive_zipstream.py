"""A letter as one zip, written while its documents stream in."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator

import pytest

from archive.adapters.zipstream import ZipEntry, stream_zip


def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    async def generate() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    return generate()


async def collect(entries: list[ZipEntry]) -> tuple[bytes, int]:
    pieces = [piece async for piece in stream_zip(entries)]
    return b"".join(pieces), len(pieces)


async def test_the_zip_holds_each_entry_in_order_byte_for_byte() -> None:
    entries = [
        ZipEntry("lettre.pdf", lambda: chunks(b"%PDF-1.7 ", b"main")),
        ZipEntry("annexe.pdf", lambda: chunks(b"%PDF-1.7 annex")),
    ]

    data, _ = await collect(entries)

    with zipfile.ZipFile(io.BytesIO(data)) as archived:
        assert archived.testzip() is None
        assert archived.namelist() == ["lettre.pdf", "annexe.pdf"]
        assert archived.read("lettre.pdf") == b"%PDF-1.7 main"
        assert archived.read("annexe.pdf") == b"%PDF-1.7 annex"


async def test_the_zip_is_handed_out_as_it_is_written_not_at_the_end() -> None:
    entries = [ZipEntry("big.pdf", lambda: chunks(*(bytes([i]) * 1000 for i in range(10))))]

    _, pieces = await collect(entries)

    assert pieces >= 10


async def test_an_entry_opens_only_when_its_turn_comes() -> None:
    opened: list[str] = []

    def source(name: str) -> AsyncIterator[bytes]:
        opened.append(name)
        return chunks(name.encode())

    stream = stream_zip([ZipEntry("a.pdf", lambda: source("a")), ZipEntry("b.pdf", lambda: source("b"))])
    await anext(stream)

    assert opened == ["a"]
    await stream.aclose()


async def test_a_failing_entry_breaks_the_stream() -> None:
    async def altered() -> AsyncIterator[bytes]:
        yield b"%PDF-1.7 "
        raise ValueError("stored bytes do not match the deposit hash")

    with pytest.raises(ValueError, match="do not match"):
        await collect([ZipEntry("a.pdf", altered)])
