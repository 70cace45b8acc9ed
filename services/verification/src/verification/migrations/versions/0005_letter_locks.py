"""Letter locks as the pickup site tells them (`LetterLocked`, `LetterLockLifted`): no code is
sent while the letter's codes are held; and the letter-level audit trail, where a
supervisor's lift of a lock is kept with who asked and why.

Revision ID: 0005
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0005", "0004"
upgrade, downgrade = sql_migration(__file__)
