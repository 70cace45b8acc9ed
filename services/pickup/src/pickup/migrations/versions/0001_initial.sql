-- upgrade
CREATE TABLE letters (
    letter_id         uuid PRIMARY KEY,
    item_number       char(12) NOT NULL UNIQUE,
    state             text NOT NULL
                      CHECK (state IN ('awaiting', 'accepted', 'refused', 'unclaimed')),
    recipient         jsonb NOT NULL,
    sender            jsonb NOT NULL,  -- CPCE R.53-3: shown only after acceptance
    documents         jsonb NOT NULL,
    deposited_at      timestamptz NOT NULL,
    first_notice_at   timestamptz,
    deadline          date NOT NULL,
    notice_failures   integer NOT NULL DEFAULT 0,
    identity_failures integer NOT NULL DEFAULT 0,
    decided_at        timestamptz
);

-- downgrade
DROP TABLE letters;

DROP TABLE inbox;

DROP TABLE outbox;
