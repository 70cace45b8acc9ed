-- upgrade
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_outcome_check;

ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_outcome_check
    CHECK (outcome IN ('sending', 'sent', 'failed', 'deferred', 'delivered'));

DROP INDEX delivery_attempts_notice;

CREATE INDEX delivery_attempts_notice ON delivery_attempts (notice_id, channel);

-- downgrade
DELETE FROM delivery_attempts WHERE outcome = 'sending';

DROP INDEX delivery_attempts_notice;

CREATE INDEX delivery_attempts_notice ON delivery_attempts (notice_id);

ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_outcome_check;

ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_outcome_check
    CHECK (outcome IN ('sent', 'failed', 'deferred', 'delivered'));
