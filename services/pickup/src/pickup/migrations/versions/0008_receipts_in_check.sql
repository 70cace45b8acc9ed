-- upgrade
-- A signed AR whose check by the signer outlasted the site's wait: the button of the page
-- saying it is being checked asks again with it, whichever replica serves it. One per letter,
-- deleted once the check has an outcome or the AR is signed, else swept hours after.
CREATE TABLE receipts_in_check (
    letter_id uuid PRIMARY KEY REFERENCES letters (letter_id) ON DELETE CASCADE,
    pdf       bytea NOT NULL,
    kept_at   timestamptz NOT NULL
);

CREATE INDEX receipts_in_check_kept ON receipts_in_check (kept_at);

-- downgrade
DROP TABLE receipts_in_check;
