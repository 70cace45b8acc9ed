"""Seals: each evidence record's detached CAdES-T signature, what it is worth, and when it
was copied to the evidence bucket (under object lock).

Revision ID: 0002
"""

from lre_shared.migrations import execute_script

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE evidence
            ADD COLUMN seal bytea,      -- RecordSeal: batch statement, CAdES-T, proof (NULL: unsealed)
            ADD COLUMN seal_label text NOT NULL DEFAULT 'non scellé — aucune clé de scellement configurée',
            ADD COLUMN archived_at timestamptz;    -- in the evidence bucket since
        ALTER TABLE evidence ALTER COLUMN seal_label DROP DEFAULT;
        CREATE INDEX evidence_to_archive ON evidence (recorded_at) WHERE archived_at IS NULL
        """
    )


def downgrade() -> None:
    execute_script("ALTER TABLE evidence DROP COLUMN seal, DROP COLUMN seal_label")
