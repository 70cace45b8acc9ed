"""Sender systems' broker users, through RabbitMQ's management HTTP API, and their queues,
through AMQP.

The management API (plugin `rabbitmq_management`, port 15672) creates users and sets their
permissions; it needs a user tagged `administrator` (or the `rabbitmq.com` topology operator
in Kubernetes, see deploy/k8s/senders). The sender's queue is declared over AMQP with the
archive's own connection, as the services declare theirs.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

import aio_pika
import httpx

from archive.domain.senders import sender_binding, sender_permissions
from lre_shared.bus import exchange_for
from lre_shared.topology import SENDERS_EVENTS_EXCHANGE, sender_queue


class BrokerRefused(Exception):
    """The management API said no (or could not be reached): what and why."""


def vhost_of(amqp_url: str) -> str:
    """The virtual host an AMQP URL names (`/` when none)."""
    path = urlsplit(amqp_url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


class RabbitBrokerAccess:
    """`archive.service_layer.senders.BrokerAccess` on a RabbitMQ virtual host."""

    def __init__(self, admin_url: str, admin_user: str, admin_password: str, amqp_url: str) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.auth = (admin_user, admin_password)
        self.amqp_url = amqp_url
        self.vhost = vhost_of(amqp_url)

    async def grant(self, sender_id: str, password: str) -> None:
        allowed = sender_permissions(sender_id)
        vhost, user = quote(self.vhost, safe=""), quote(sender_id, safe="")
        async with self._client() as client:
            await self._call(client, "PUT", f"/api/users/{user}", {"password": password, "tags": ""})
            await self._call(
                client,
                "PUT",
                f"/api/permissions/{vhost}/{user}",
                {"configure": allowed.configure, "write": allowed.write, "read": allowed.read},
            )
            await self._call(
                client,
                "PUT",
                f"/api/topic-permissions/{vhost}/{user}",
                {
                    "exchange": allowed.topic_exchange,
                    "write": allowed.topic_write,
                    "read": allowed.topic_read,
                },
            )
        await self._declare_queue(sender_id)

    async def set_password(self, sender_id: str, password: str) -> None:
        user = quote(sender_id, safe="")
        async with self._client() as client:
            found = await client.get(f"/api/users/{user}")
            if found.status_code == 404:
                raise BrokerRefused(
                    f"the broker has no user {sender_id}: `lre-senders remove` then `add` it again"
                )
            await self._call(client, "PUT", f"/api/users/{user}", {"password": password, "tags": ""})

    async def revoke(self, sender_id: str) -> None:
        user = quote(sender_id, safe="")
        async with self._client() as client:
            # Its permissions go with the user; its open connections are closed too.
            await self._call(client, "DELETE", f"/api/users/{user}", None, missing_ok=True)
            await self._call(client, "DELETE", f"/api/connections/username/{user}", None, missing_ok=True)
        connection = await aio_pika.connect(self.amqp_url)
        async with connection, connection.channel() as channel:
            await channel.queue_delete(sender_queue(sender_id))

    async def _declare_queue(self, sender_id: str) -> None:
        connection = await aio_pika.connect(self.amqp_url)
        async with connection, connection.channel() as channel:
            spec = exchange_for(SENDERS_EVENTS_EXCHANGE)
            events = await channel.declare_exchange(
                spec.name, aio_pika.ExchangeType(spec.type.value), durable=True, arguments=spec.arguments
            )
            queue = await channel.declare_queue(
                sender_queue(sender_id), durable=True, arguments={"x-queue-type": "quorum"}
            )
            await queue.bind(events, routing_key=sender_binding(sender_id))

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.admin_url, auth=self.auth, timeout=30.0)

    async def _call(
        self,
        client: httpx.AsyncClient,
        method: str,
        path: str,
        body: dict[str, str] | None,
        *,
        missing_ok: bool = False,
    ) -> None:
        try:
            response = await client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise BrokerRefused(
                f"the broker's management API at {self.admin_url} does not answer: {exc}"
            ) from exc
        if response.status_code == 404 and missing_ok:
            return
        if response.status_code >= 400:
            # The path names the user and the virtual host, never the password.
            raise BrokerRefused(
                f"the broker's management API refused {method} {path}:"
                f" {response.status_code} {response.text[:300]}"
            )
