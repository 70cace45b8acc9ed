"""The accepted signed AR is kept also with the validation data its check used (chain, OCSP
responses, CRLs) in its DSS, PAdES B-LT: its judgement can be re-checked offline.

Revision ID: 0006
"""

from lre_shared.migrations import execute_script

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    execute_script(
        """
        -- signed_pdf as uploaded (its SHA-256 is in the evidence), then a DSS update
        ALTER TABLE receipt_forms ADD COLUMN signed_pdf_lt bytea
        """
    )


def downgrade() -> None:
    execute_script("ALTER TABLE receipt_forms DROP COLUMN signed_pdf_lt")
