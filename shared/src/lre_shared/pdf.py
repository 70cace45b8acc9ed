"""The file structure of a small PDF written by hand: numbered objects, the
cross-reference table and the trailer. Callers write the objects themselves."""

from __future__ import annotations

from collections.abc import Sequence

HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


def assemble(objects: Sequence[bytes], trailer_extra: str = "") -> bytes:
    """A PDF whose object N is `objects[N - 1]`, object 1 being the catalog;
    `trailer_extra` adds entries to the trailer (e.g. " /Info 5 0 R")."""
    out = bytearray(HEADER)
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    trailer = f"<< /Size {len(objects) + 1} /Root 1 0 R{trailer_extra} >>"
    out += f"trailer\n{trailer}\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
