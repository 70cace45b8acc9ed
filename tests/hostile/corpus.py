"""Generated hostile input: text with control and invisible characters, deposits broken in
every field, JSON nested deeper than any parser follows, malformed mail.

Each corpus is drawn by hypothesis, derandomised so a failing run can be replayed as it was.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from lre_shared.contracts import Document, SubmitLetter

T = TypeVar("T")

# What storage, mail headers, PDFs and pages choke on, and what makes two names look alike.
NASTY = "\x00\x01\x1b\x7f\x85\u202a\u202e\u2066\u2069\u200b\u200c\u200d\u2060\ufeff\u00ad\ue000\u2028"

hostile_text: st.SearchStrategy[str] = st.lists(
    st.one_of(
        st.sampled_from(NASTY),
        st.characters(blacklist_categories=("Cs",)),
        st.sampled_from("Łøß王小明 -'.,"),
    ),
    max_size=30,
).map("".join)

# A field of the deposit by its path, as a sender system could break it.
DEPOSIT_FIELDS = (
    ("sender", "id"),
    ("sender", "name"),
    ("sender", "company"),
    ("sender", "email"),
    ("recipient", "company"),
    ("recipient", "last_name"),
    ("recipient", "first_name"),
    ("recipient", "address"),
    ("recipient", "postcode"),
    ("recipient", "city"),
    ("recipient", "email"),
    ("recipient", "mobile"),
    ("recipient", "kind"),
    ("main_document", "filename"),
    ("idempotency_key",),
)


def corpus(strategy: st.SearchStrategy[T], size: int) -> list[T]:
    """`size` examples of `strategy`, the same ones at every run."""
    drawn: list[T] = []

    @settings(
        max_examples=size,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: T) -> None:
        drawn.append(example)

    collect()
    return drawn[:size]


def valid_deposit(tag: str) -> dict[str, Any]:
    command = SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT.model_copy(
            update={"email": f"hostile-{uuid.uuid4().hex[:8]}@exemple.example"}
        ),
        main_document=Document(filename="lettre.pdf", content=demo_pdf("Hostile " + tag)),
    )
    body: dict[str, Any] = json.loads(command.to_json())
    return body


def _with_field(path: tuple[str, ...], value: str) -> dict[str, Any]:
    body = valid_deposit(value.encode("utf-8", "surrogatepass").hex()[:40])
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


def _deep(depth: int) -> Callable[[], bytes]:
    def build() -> bytes:
        body = json.dumps(valid_deposit(f"deep {depth}")).encode()
        return body[:-1] + b', "note": ' + b"[" * depth + b"]" * depth + b"}"

    return build


# A hostile deposit as the bytes on the wire: a field broken, or the whole body.
hostile_deposits: st.SearchStrategy[bytes] = st.one_of(
    st.builds(
        lambda path, value: json.dumps(_with_field(path, value)).encode(),
        st.sampled_from(DEPOSIT_FIELDS),
        hostile_text,
    ),
    st.sampled_from([100_000, 5_000, 300]).map(lambda depth: _deep(depth)()),
    st.binary(max_size=200),
    st.recursive(
        st.none() | st.booleans() | st.integers() | hostile_text,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=4),
        max_leaves=20,
    ).map(lambda value: json.dumps(value).encode()),
)
