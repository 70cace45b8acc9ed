"""A letter's recipient details are forgotten once the letter can no longer need the desk
(GDPR art. 5(1)(e), `service_layer.retention`): the name may then be NULL, and
`recipient_forgotten_at` dates when the sweep cleared them. The letter's row, its cases,
decisions and audit trail stay.

Revision ID: 0009
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0009", "0008"
upgrade, downgrade = sql_migration(__file__)
