"""One-time signing codes (DESIGN §2 step 5): once support staff approved a recipient's
identity documents, a code sent by email or SMS lets the recipient sign the acknowledgement
of receipt (avis de réception, CPCE R.53-3) on the pickup site.

The rules, all here and free of I/O (the clock is passed in):

- a code is `digits` decimal digits drawn uniformly from the operating system's CSPRNG
  (`secrets`), leading zeros included;
- it is kept only as an HMAC-SHA256 under the server key, over the letter id, the code's own
  id and the code: a stored value proves nothing for another letter or another code, and
  without the key the 10^8 possible codes cannot be tried against it offline;
- it works for `ttl` from its issue (expired at `expires_at` exactly), once (single use), and
  `max_tries` wrong tries invalidate it: the recipient must ask for a new one;
- new codes for a letter are throttled: at least `resend_interval` apart and at most
  `max_per_hour` in any hour, with the seconds to wait before asking again.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from lre_shared.contracts import CodeProblem

HOUR = timedelta(hours=1)

# Domain separation: this key signs nothing else, but a version tag keeps that true if it ever does.
_MAC_CONTEXT = b"lre/one-time-code/v1\x00"

# What people type between digit groups: every kind of space and dash ("1234 5678",
# "1234-5678", a non-breaking space pasted from an email, a minus sign from a phone keyboard).
_SEPARATOR_CATEGORIES = frozenset({"Zs", "Pd", "Cc", "Cf"})
_SEPARATORS = frozenset("\u2212_.")


@dataclass(frozen=True)
class CodeRules:
    digits: int = 8
    ttl: timedelta = timedelta(minutes=10)
    max_tries: int = 5
    resend_interval: timedelta = timedelta(seconds=60)
    max_per_hour: int = 5


@dataclass(frozen=True)
class StoredCode:
    """A code as the desk keeps it: never the code itself."""

    code_id: UUID
    letter_id: UUID
    code_hmac: bytes
    issued_at: datetime
    expires_at: datetime
    tries: int = 0
    used_at: datetime | None = None
    invalidated_at: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    """The answer to a typed code: `problem` None means valid."""

    problem: CodeProblem | None
    tries_left: int | None = None

    @property
    def valid(self) -> bool:
        return self.problem is None


def new_code(digits: int) -> str:
    """A uniformly drawn code of exactly `digits` digits (leading zeros kept)."""
    if not 1 <= digits <= 18:
        raise ValueError("a code has 1 to 18 digits")
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def code_mac(key: bytes, letter_id: UUID, code_id: UUID, code: str) -> bytes:
    """HMAC-SHA256 of the code, bound to its letter and to its own id (fixed-length prefix,
    so no two (letter, code id, code) triples share an input)."""
    message = _MAC_CONTEXT + letter_id.bytes + code_id.bytes + code.encode()
    return hmac.new(key, message, hashlib.sha256).digest()


def matches(key: bytes, stored: StoredCode, typed: str) -> bool:
    """Whether `typed` (normalised) is the stored code; constant time in the stored value."""
    return hmac.compare_digest(
        code_mac(key, stored.letter_id, stored.code_id, normalise(typed)), stored.code_hmac
    )


def normalise(typed: str) -> str:
    """The code as typed, without separators and with any script's digits as ASCII digits
    ("１２３４ ５６７８" and "1234-5678" both give "12345678"); anything else is kept, so
    that it simply does not match."""
    text = unicodedata.normalize("NFKC", typed)
    kept = (c for c in text if c not in _SEPARATORS and unicodedata.category(c) not in _SEPARATOR_CATEGORIES)
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in kept)


def expires_at(issued_at: datetime, rules: CodeRules) -> datetime:
    return issued_at + rules.ttl


def standing_problem(code: StoredCode, now: datetime, rules: CodeRules) -> CodeProblem | None:
    """Why `code` cannot be accepted any more whatever is typed, or None while it can."""
    if code.used_at is not None:
        return CodeProblem.used
    if code.invalidated_at is not None or code.tries >= rules.max_tries:
        return CodeProblem.locked
    if now >= code.expires_at:
        return CodeProblem.expired
    return None


def replaced(code: StoredCode, rules: CodeRules) -> bool:
    """Whether a newer code replaced `code` (invalidated, yet neither used nor locked)."""
    return code.invalidated_at is not None and code.used_at is None and code.tries < rules.max_tries


def standing_verdict(code: StoredCode | None, now: datetime, rules: CodeRules) -> Verdict | None:
    """The verdict whatever is typed (no code, used, locked, expired), or None while the
    typed code decides."""
    if code is None:
        return Verdict(CodeProblem.none_issued)
    problem = standing_problem(code, now, rules)
    if problem is None:
        return None
    return Verdict(problem, 0 if problem is CodeProblem.locked else None)


def check(key: bytes, code: StoredCode | None, typed: str, now: datetime, rules: CodeRules) -> Verdict:
    """The verdict on `typed` against the letter's current code, as if nothing else changed
    the code meanwhile (the service layer makes its change conditional on that)."""
    standing = standing_verdict(code, now, rules)
    if standing is not None or code is None:
        return standing or Verdict(CodeProblem.none_issued)
    if matches(key, code, typed):
        return Verdict(None)
    return after_wrong_try(code.tries + 1, rules)


def after_wrong_try(tries: int, rules: CodeRules) -> Verdict:
    """The verdict once the `tries`-th wrong try is counted. The last allowed one is still
    answered `wrong` (it was a guess, and the pickup site counts guesses), with no try left:
    the code is locked from then on."""
    return Verdict(CodeProblem.wrong, max(rules.max_tries - tries, 0))


def retry_after(issued: Sequence[datetime], now: datetime, rules: CodeRules) -> int | None:
    """Seconds before a new code may be issued for a letter whose codes were issued at
    `issued`, or None when one may be issued now."""
    waits: list[timedelta] = []
    if issued:
        waits.append(max(issued) + rules.resend_interval - now)
    last_hour = sorted(t for t in issued if t > now - HOUR)
    if len(last_hour) >= rules.max_per_hour:
        # The hour's count drops below the maximum once enough of its oldest codes age out.
        waits.append(last_hour[len(last_hour) - rules.max_per_hour] + HOUR - now)
    wait = max(waits, default=timedelta(0))
    if wait <= timedelta(0):
        return None
    return max(1, math.ceil(wait.total_seconds()))
