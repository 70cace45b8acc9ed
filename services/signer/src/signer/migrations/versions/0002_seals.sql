-- upgrade
ALTER TABLE evidence
    ADD COLUMN seal bytea,      -- RecordSeal: batch statement, CAdES-T, proof (NULL: unsealed)
    ADD COLUMN seal_label text NOT NULL DEFAULT 'non scellé — aucune clé de scellement configurée',
    ADD COLUMN archived_at timestamptz;

-- in the evidence bucket since
ALTER TABLE evidence ALTER COLUMN seal_label DROP DEFAULT;

CREATE INDEX evidence_to_archive ON evidence (recorded_at) WHERE archived_at IS NULL;

-- downgrade
ALTER TABLE evidence DROP COLUMN seal, DROP COLUMN seal_label;
