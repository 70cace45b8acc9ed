"""Why the broker cannot be reached, in words an operator can act on.

A broker that runs out of file descriptors still completes TCP connections (the kernel does)
but no longer answers them: a client then waits without end. The readiness probe and the
start of a service ask here instead, with a deadline, and say which case it is.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

# What a client sends first (AMQP 0-9-1); the broker answers with a Connection.Start frame.
PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
_METHOD_FRAME = 1

OUT_OF_HANDLES = (
    "it is out of file descriptors or overloaded: see `rabbitmqctl status` (File Descriptors,"
    " Sockets) and docs/OPERATIONS.md, broker footprint"
)


async def broker_problem(amqp_url: str, timeout: float) -> str | None:
    """What stops a new connection to the broker of `amqp_url` now (None: it answers as a
    broker should), found within about twice `timeout` seconds."""
    parts = urlsplit(amqp_url)
    secure = parts.scheme == "amqps"
    host, port = parts.hostname or "localhost", parts.port or (5671 if secure else 5672)
    where = f"the broker at {host}:{port}"
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                host, port, ssl=ssl.create_default_context() if secure else None
            )
    except ConnectionRefusedError:
        return f"{where} refused the connection (not running, or not listening on that port)"
    except TimeoutError:
        return f"{where} did not take the connection within {timeout:g} s"
    except OSError as exc:
        return f"{where} cannot be reached: {exc}"
    try:
        writer.write(PROTOCOL_HEADER)
        async with asyncio.timeout(timeout):
            await writer.drain()
            first = await reader.read(1)
    except TimeoutError:
        return f"{where} took the connection but did not answer within {timeout:g} s: {OUT_OF_HANDLES}"
    except OSError as exc:
        return f"{where} dropped the connection: {exc}"
    finally:
        writer.close()
    if not first:
        return f"{where} closed the connection without a word: it refuses connections ({OUT_OF_HANDLES})"
    if first[0] != _METHOD_FRAME:
        return f"{where} does not speak AMQP 0-9-1 (answered {first!r})"
    return None
