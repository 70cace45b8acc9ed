-- upgrade
CREATE TABLE sender_sequences (
    letter_id     uuid NOT NULL,
    sender_id     text NOT NULL,
    last_sequence integer NOT NULL CHECK (last_sequence >= 1),
    PRIMARY KEY (letter_id, sender_id)
);

-- downgrade
DROP TABLE sender_sequences;
