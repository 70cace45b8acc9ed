"""The journey driver's parts that need no platform: the checker's chain rule, its reading of the
SMTP catcher's folder, the plan's shares, the balancer spreading connections, and the patience of
the driver and the checker with a restarting store or site."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.checker import Fate, MailFolder, _chain_breaks, patiently
from bench.journey import PatientTransport, Plan
from deploy.local.balancer import RoundRobin


def chain(*bodies: bytes) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    previous = None
    for seq, body in enumerate(bodies, start=1):
        digest = hashlib.sha256(body).hexdigest()
        rows.append({"seq": seq, "record": body, "record_sha256": digest, "previous_sha256": previous})
        previous = digest
    return rows


def test_a_whole_chain_passes() -> None:
    assert _chain_breaks(chain(b"a", b"b", b"c")) is None


def test_a_gap_in_the_positions_breaks_the_chain() -> None:
    rows = chain(b"a", b"b", b"c")
    del rows[1]
    assert "record 3 where 2 was due" in str(_chain_breaks(rows))


def test_a_link_to_another_record_breaks_the_chain() -> None:
    rows = chain(b"a", b"b")
    rows[1]["previous_sha256"] = "0" * 64
    assert "links to" in str(_chain_breaks(rows))


def test_altered_bytes_break_the_chain() -> None:
    rows = chain(b"a", b"b")
    rows[0]["record"] = b"A"
    assert "do not hash" in str(_chain_breaks(rows))


def test_the_mail_folder_reads_each_file_once_with_its_address_and_message_id(tmp_path: Path) -> None:
    message = b"To: Camille <J1@Exemple.example>\r\nMessage-ID: <m1@lre>\r\nSubject: avis\r\n\r\nbody\r\n"
    (tmp_path / "20261206T205200.123456Z-aaaa.eml").write_bytes(message)
    folder = MailFolder(tmp_path)
    [mail] = folder.scan()
    assert (mail.to, mail.message_id) == ("j1@exemple.example", "<m1@lre>")
    assert mail.received_at > 1.7e9
    (tmp_path / "20261206T205201.000000Z-bbbb.eml").write_bytes(message)
    assert [m.path.name for m in folder.scan()] == ["20261206T205201.000000Z-bbbb.eml"]
    assert len(folder.mails) == 2


def test_the_plan_gives_each_fate_its_share() -> None:
    fates = Plan(letters=40, refused_share=0.2, unclaimed_share=0.1).fates()
    assert (fates.count(Fate.refused), fates.count(Fate.unclaimed), fates.count(Fate.accepted)) == (8, 4, 28)


async def test_the_balancer_spreads_connections_over_its_backends_in_turn() -> None:
    async def backend(name: bytes) -> asyncio.Server:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1)
            writer.write(name)
            await writer.drain()
            writer.close()

        return await asyncio.start_server(answer, "127.0.0.1", 0)

    first, second = await backend(b"1"), await backend(b"2")
    ports = [server.sockets[0].getsockname()[1] for server in (first, second)]
    balancer = RoundRobin([("127.0.0.1", port) for port in ports])
    front = await asyncio.start_server(balancer.handle, "127.0.0.1", 0)
    front_port = front.sockets[0].getsockname()[1]
    answers = []
    for _ in range(4):
        reader, writer = await asyncio.open_connection("127.0.0.1", front_port)
        writer.write(b"?")
        await writer.drain()
        answers.append(await reader.read())
        writer.close()
    for server in (front, first, second):
        server.close()
    assert answers == [b"1", b"2", b"1", b"2"]
    assert balancer.served == [2, 2]


async def test_a_read_is_asked_again_while_the_database_server_restarts() -> None:
    tries = []

    async def read() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise ConnectionRefusedError("the server is restarting")
        return "rows"

    assert await patiently(read) == "rows"
    assert len(tries) == 3


async def test_a_read_that_fails_for_another_reason_is_not_asked_again() -> None:
    tries = []

    async def read() -> str:
        tries.append(1)
        raise ValueError("a wrong query")

    with pytest.raises(ValueError, match="a wrong query"):
        await patiently(read)
    assert len(tries) == 1


def site(*statuses: int | None) -> tuple[PatientTransport, list[int]]:
    """A transport in front of a site answering `statuses` in turn (None: connection refused)."""
    asked: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        status = statuses[min(len(asked), len(statuses) - 1)]
        asked.append(1)
        if status is None:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(status)

    return PatientTransport(httpx.MockTransport(answer), tries=3), asked


async def test_a_recipient_tries_again_when_the_site_is_down_or_errs() -> None:
    transport, asked = site(None, 502, 200)
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get("http://pickup/")).status_code == 200
    assert (len(asked), transport.retried) == (3, 2)


async def test_a_recipient_gives_up_after_a_bounded_number_of_tries() -> None:
    transport, asked = site(500)
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get("http://pickup/")).status_code == 500
    assert len(asked) == 3


async def test_the_sites_own_not_yet_is_left_to_the_recipient() -> None:
    transport, asked = site(503, 200)
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get("http://pickup/")).status_code == 503
    assert len(asked) == 1
