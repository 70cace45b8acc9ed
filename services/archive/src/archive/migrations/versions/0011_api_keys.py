"""Sender systems' API keys for the archive's HTTP API (`POST /uploads`, `/senders/...`).

Only the SHA-256 of each key is kept. A key is 256 random bits: no one can guess it or find
it from its hash by trying candidates, so a plain (unsalted, fast) SHA-256 is enough; a
slow password hash (bcrypt, argon2) protects low-entropy secrets chosen by people and would
only slow every request down here. The prefix, shown in listings and logs, finds the key's
row and is not secret.

Revision ID: 0011
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0011", "0010"
upgrade, downgrade = sql_migration(__file__)
