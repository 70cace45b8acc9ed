"""Reading a few top-level members of a JSON object that does not parse as a whole.

A message that is not valid JSON, or is nested deeper than any parser will follow, can
still say who sent it (`correlation_id`, `sender`) in its first members. To answer that
sender rather than drop the message, those members are read on their own: one linear pass
over the tokens finds where each top-level member's value lies, without recursing into
anything, and only the values asked for are decoded, each guarded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

# Strings (with their escapes) and the structural characters; everything else is skipped.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\],:]', re.DOTALL)
_OPEN, _CLOSE = frozenset(b"{["), frozenset(b"}]")


def top_level_members(body: bytes, names: Iterable[str]) -> dict[str, Any]:
    """The members `names` of the JSON object `body`, those that can be read; bounded work.

    A member whose value does not decode on its own (nested too deep, malformed) is left out;
    so is everything when `body` is not an object."""
    wanted = set(names)
    found: dict[str, Any] = {}
    depth = 0
    key: str | None = None
    value_start: int | None = None
    last: bytes = b""
    for match in _TOKEN.finditer(body):
        token = match.group()
        first = token[0]
        if depth == 1:
            if token == b":" and last.startswith(b'"'):
                name = _decode(last)
                key = name if isinstance(name, str) else None
                value_start = match.end()
            elif token in (b",", b"}") and key is not None and value_start is not None:
                if key in wanted:
                    value = _decode(body[value_start : match.start()])
                    if value is not _UNREADABLE:
                        found[key] = value
                        if found.keys() == wanted:
                            return found
                key = value_start = None
        if first in _OPEN:
            if depth == 0 and first != ord("{"):  # not an object
                break
            depth += 1
        elif first in _CLOSE:
            depth -= 1
            if depth <= 0:
                break
        elif depth == 0:  # not an object
            break
        last = token
    return found


_UNREADABLE = object()


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return _UNREADABLE
