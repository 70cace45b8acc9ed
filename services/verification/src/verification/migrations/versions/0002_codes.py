"""One-time signing codes (DESIGN §2 step 5): stored only as an HMAC under the server key,
bound to the letter and to the code's own id; never in clear.

The clear code leaves in the `SendCode` command to the notifier, written to the outbox in the
transaction that stores the HMAC. The relay keeps published rows a while; a trigger removes
the code from the command's body as the relay marks it published, so the code stays in this
database only until it is on the bus.

Revision ID: 0002
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0002", "0001"
upgrade, downgrade = sql_migration(__file__)
