"""When each letter's content goes, computed by the rules profile, and when it was refused.

`content_expires_at` is written by the archive whenever what it depends on changes (notice,
acceptance, AR signature, unclaimed) and, at start-up, for every letter whose content is still
kept (`archive.service_layer.expiry.reschedule_all`): the sweeper only compares it with the
clock. `refused_at` tells the sender where its letter stands (`get_letter_status.v1`).

Revision ID: 0007
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0007", "0006"
upgrade, downgrade = sql_migration(__file__)
