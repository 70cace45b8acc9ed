"""The inbox keeps each message's body digest, to tell a reused message id from a redelivery.

Revision ID: 0004
"""

from lre_shared.migrations import INBOX_BODY_DIGEST

revision, down_revision = "0004", "0003"
upgrade, downgrade = INBOX_BODY_DIGEST
