"""Several replicas of a web service behind one address, as a load balancer puts them.

    python -m deploy.local.balancer --listen 127.0.0.1:8100 --to 127.0.0.1:8200 --to 127.0.0.1:8201

Each accepted TCP connection goes to the next backend in turn (round robin); the bytes are
copied both ways unchanged, so HTTP keep-alive, cookies and uploads behave as they do on one
replica. A backend that refuses the connection is skipped for that connection (the next one
is tried), as a balancer's health check would take it out. Runs until SIGTERM or SIGINT.

The pickup site keeps its sessions in PostgreSQL, so a visitor's next connection may land on
another replica: that is what running two replicas behind this proves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import signal
import sys
from collections.abc import Sequence

CHUNK = 64 * 1024


def parse_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected HOST:PORT")
    return host, int(port)


class RoundRobin:
    def __init__(self, backends: Sequence[tuple[str, int]]) -> None:
        if not backends:
            raise ValueError("at least one backend")
        self.backends = list(backends)
        self._next = itertools.cycle(range(len(self.backends)))
        self.served = [0] * len(self.backends)  # connections each backend took

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await self._connect()
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for side in (writer, up_writer):
                side.close()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in self.backends:
            index = next(self._next)
            host, port = self.backends[index]
            try:
                connected = await asyncio.open_connection(host, port)
            except OSError:
                continue
            self.served[index] += 1
            return connected
        return None


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(CHUNK):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        # Half-close: the other direction may still be answering.
        with contextlib.suppress(OSError, RuntimeError):
            if sink.can_write_eof():
                sink.write_eof()


async def serve(listen: tuple[str, int], backends: Sequence[tuple[str, int]]) -> None:
    balancer = RoundRobin(backends)
    server = await asyncio.start_server(balancer.handle, listen[0], listen[1], backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    # What a test reads to know every replica took its share.
    for (host, port), count in zip(balancer.backends, balancer.served, strict=True):
        print(f"{host}:{port} took {count} connections", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.local.balancer", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--listen", type=parse_address, required=True, help="HOST:PORT to accept on")
    parser.add_argument(
        "--to", type=parse_address, action="append", required=True, help="a backend HOST:PORT"
    )
    args = parser.parse_args(argv)
    asyncio.run(serve(args.listen, args.to))
    return 0


if __name__ == "__main__":
    sys.exit(main())
