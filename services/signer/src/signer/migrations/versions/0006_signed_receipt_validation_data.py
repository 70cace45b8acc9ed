"""The accepted signed AR is kept also with the validation data its check used (chain, OCSP
responses, CRLs) in its DSS, PAdES B-LT: its judgement can be re-checked offline.

Revision ID: 0006
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0006", "0005"
upgrade, downgrade = sql_migration(__file__)
