"""Reliable messaging on RabbitMQ, on top of FastStream.

FastStream's defaults are unsafe for legal evidence, so every service goes through here:

- queues are durable **quorum** queues with a delivery limit and at-least-once
  dead-lettering to `<queue>.dlq` (declared before anything consumes: `declare`);
- publishing is persistent, with publisher confirms and `mandatory`: an unroutable
  message raises instead of vanishing (`publish`);
- a consumer records the `message_id` in its **inbox** (`inbox`) in the same transaction
  as the effect, publishes through the **outbox** in that transaction too, and acks only
  after the commit (`consume`);
- a message that cannot be parsed, or fails for good (`PermanentError`), is moved to the
  dead-letter queue at once with the reason in its headers, unless its subscriber answers
  it itself (`refuse`: the archive tells a sender why its deposit does not parse); any
  other failure is transient: the message is returned after a back-off and the broker's
  delivery limit bounds the retries.

Each delivery is handled inside an OpenTelemetry CONSUMER span that continues the trace
its publisher put in the headers (`lre_shared.tracing`); what the handler publishes, and
the log lines it writes, carry that trace on.
"""

from lre_shared.bus.connection import Bus
from lre_shared.bus.consume import (
    ConsumerStats,
    Delivery,
    Handler,
    Refusal,
    Subscription,
    Transaction,
)
from lre_shared.bus.declare import broker_user, dlq, exchange_for, make_broker, quorum_queue
from lre_shared.bus.identity import acts_for, original_publisher, published_by, publisher_user
from lre_shared.bus.publish import Publisher, ask
from lre_shared.bus.refusals import (
    Fault,
    Outage,
    PermanentError,
    faults_of,
    field_path,
    outage_reason,
    permanent_reason,
)
from lre_shared.bus.replies import QueryRefused

__all__ = [
    "Bus",
    "ConsumerStats",
    "Delivery",
    "Fault",
    "Handler",
    "Outage",
    "PermanentError",
    "Publisher",
    "QueryRefused",
    "Refusal",
    "Subscription",
    "Transaction",
    "acts_for",
    "ask",
    "broker_user",
    "dlq",
    "exchange_for",
    "faults_of",
    "field_path",
    "make_broker",
    "original_publisher",
    "outage_reason",
    "permanent_reason",
    "published_by",
    "publisher_user",
    "quorum_queue",
]
