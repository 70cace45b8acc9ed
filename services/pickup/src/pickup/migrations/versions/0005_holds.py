"""Holds on an item after wrong answers, per client address and for everyone, with growing
delays (`pickup.domain.locks`); one JSON value a kind, on the letter's row, so that one
conditional update of that row judges an answer.

Revision ID: 0005
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0005", "0004"
upgrade, downgrade = sql_migration(__file__)
