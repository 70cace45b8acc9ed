"""The notice: item number, pickup link and deadline; never the sender."""

from __future__ import annotations

import inspect
from datetime import date

from notifier.adapters.templates import render_notice

ITEM = "799273987130"
URL = "https://pickup.lre.example"
DEADLINE = date(2025, 3, 16)


def test_the_text_holds_the_item_number_link_and_deadline() -> None:
    notice = render_notice(ITEM, URL, DEADLINE)

    assert ITEM in notice.text
    assert "https://pickup.lre.example/" in notice.text
    assert "16/03/2025" in notice.text


def test_the_html_holds_the_item_number_link_and_deadline() -> None:
    notice = render_notice(ITEM, URL, DEADLINE)

    assert ITEM in notice.html
    assert 'href="https://pickup.lre.example/"' in notice.html
    assert "16/03/2025" in notice.html


def test_the_deadline_is_written_day_month_year_with_leading_zeros() -> None:
    notice = render_notice(ITEM, URL, date(2025, 1, 5))

    assert "05/01/2025" in notice.text
    assert "05/01/2025" in notice.html


def test_the_link_ends_with_exactly_one_slash() -> None:
    with_slash = render_notice(ITEM, URL + "/", DEADLINE)
    without_slash = render_notice(ITEM, URL, DEADLINE)

    assert with_slash == without_slash
    assert "example//" not in with_slash.text


def test_the_notice_is_never_given_the_sender() -> None:
    assert list(inspect.signature(render_notice).parameters) == [
        "item_number",
        "pickup_url",
        "deadline",
        "language",
    ]


def test_the_subject_names_neither_sender_nor_item() -> None:
    notice = render_notice(ITEM, URL, DEADLINE)

    assert notice.subject == "Une lettre recommandée électronique vous attend"


def test_html_escapes_the_link() -> None:
    notice = render_notice(ITEM, 'https://x.example/?a=1&b="><script>alert(1)</script>', DEADLINE)

    assert "<script>" not in notice.html
    assert "&lt;script&gt;" in notice.html
    assert "&amp;" in notice.html
    assert 'b="><' not in notice.html
    assert "&#34;&gt;" in notice.html


def test_html_escapes_the_item_number() -> None:
    notice = render_notice("<b>12</b>", URL, DEADLINE)

    assert "<b>12</b>" not in notice.html
    assert "&lt;b&gt;12&lt;/b&gt;" in notice.html


def test_the_text_version_is_plain_and_unescaped() -> None:
    notice = render_notice(ITEM, "https://x.example/?a=1&b=2", DEADLINE)

    assert "https://x.example/?a=1&b=2/" in notice.text
    assert "<" not in notice.text
