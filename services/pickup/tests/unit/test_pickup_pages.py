"""The site's pure parts: the message catalogue covers every page in both languages, the
client address honours only trusted proxies, redirects stay on the site, and download names
survive any filename."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
from starlette.requests import Request

from lre_shared.contracts import ReceiptProblem
from pickup.entrypoints.downloads import content_disposition
from pickup.entrypoints.forms import local_path
from pickup.entrypoints.guards import client_address
from pickup.entrypoints.translations import CATALOGUES, LANGUAGES, text

SOURCE = Path(__file__).resolve().parents[2] / "src" / "pickup"
PROXY = (ipaddress.ip_network("10.0.0.0/8"),)


def keys_used() -> set[str]:
    used: set[str] = set()
    for path in [*SOURCE.joinpath("templates").glob("*.html"), *SOURCE.joinpath("entrypoints").glob("*.py")]:
        used |= set(re.findall(r"""(?:_\(|\.t\(request, )["']([a-z_]+\.[a-z_.]+)["']""", path.read_text()))
    return used


def test_every_text_a_page_uses_exists_in_french_and_english() -> None:
    french = CATALOGUES["fr"]
    # A key ending in "." is a prefix completed at run time ("code.receive." ~ channel).
    missing = sorted(
        k
        for k in keys_used()
        if k not in french and not (k.endswith(".") and any(t.startswith(k) for t in french))
    )
    assert not missing
    assert all(set(CATALOGUES[language]) == set(french) for language in LANGUAGES)
    assert all(all(catalogue.values()) for catalogue in CATALOGUES.values())


def test_every_reason_a_signed_ar_is_refused_has_plain_words_in_both_languages() -> None:
    for problem in ReceiptProblem:
        assert text("fr", f"receipt.{problem}") != text("en", f"receipt.{problem}")


def test_french_is_used_for_an_unknown_language() -> None:
    assert text("de", "decision.accept") == "Accepter"
    assert text("en", "decision.accept") == "Accept"


def request_from(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "client": (peer, 5000)})


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "client"),
    [
        ("203.0.113.7", None, (), "203.0.113.7"),
        ("203.0.113.7", "192.0.2.1", (), "203.0.113.7"),  # no trusted proxy: the header is ignored
        ("203.0.113.7", "192.0.2.1", PROXY, "203.0.113.7"),  # the peer is no proxy of ours
        ("10.0.0.5", "192.0.2.1", PROXY, "192.0.2.1"),
        ("10.0.0.5", "198.51.100.1, 192.0.2.1, 10.0.0.9", PROXY, "192.0.2.1"),  # the nearest untrusted hop
        ("10.0.0.5", "not-an-address", PROXY, "10.0.0.5"),
        ("10.0.0.5", None, PROXY, "10.0.0.5"),
    ],
)
def test_the_client_address_is_read_from_x_forwarded_for_only_behind_a_trusted_proxy(
    peer: str, forwarded: str | None, proxies: tuple[object, ...], client: str
) -> None:
    assert client_address(request_from(peer, forwarded), proxies) == client  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("/decision", "/decision"),
        ("", "/"),
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("x", "/"),
    ],
)
def test_a_return_path_stays_on_the_site(target: str, path: str) -> None:
    assert local_path(target) == path


def test_a_download_name_has_an_ascii_fallback_and_the_exact_name() -> None:
    assert content_disposition('pli "été";.zip') == (
        "attachment; filename=\"pli __t___.zip\"; filename*=UTF-8''pli%20%22%C3%A9t%C3%A9%22%3B.zip"
    )
