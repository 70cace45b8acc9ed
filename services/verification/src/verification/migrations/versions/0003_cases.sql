-- upgrade
ALTER TABLE letters
    ADD COLUMN recipient_email    text,
    ADD COLUMN recipient_mobile   text,
    ADD COLUMN recipient_landline text,
    ADD COLUMN status             text NOT NULL DEFAULT 'deposited'
        CHECK (status IN ('deposited', 'accepted', 'refused'));

CREATE TABLE cases (
    case_id          uuid PRIMARY KEY,
    letter_id        uuid NOT NULL REFERENCES letters (letter_id),
    item_number      char(12) NOT NULL,
    reference        text NOT NULL UNIQUE,
    policy           text NOT NULL CHECK (policy IN ('default', 'cnb')),
    state            text NOT NULL CHECK (state IN ('awaiting_documents', 'pending', 'in_review',
                                                    'more_documents', 'approved', 'rejected')),
    document_channel text NOT NULL CHECK (document_channel IN ('upload', 'email', 'mms', 'fax')),
    code_channel     text NOT NULL CHECK (code_channel IN ('email', 'sms')),
    code_address     text NOT NULL,
    language         text NOT NULL CHECK (language IN ('fr', 'en')),
    opened_at        timestamptz NOT NULL,
    pending_since    timestamptz,
    claimed_by       text,
    claimed_at       timestamptz,
    decided_at       timestamptz,
    decided_by       text,
    decision         text CHECK (decision IN ('approved', 'rejected', 'more_documents')),
    reason           text,
    checklist        jsonb NOT NULL DEFAULT '[]'
);

-- One open case per letter: opening again gives it back.
CREATE UNIQUE INDEX cases_one_open_per_letter ON cases (letter_id)
    WHERE state NOT IN ('approved', 'rejected');

CREATE INDEX cases_queue ON cases (pending_since) WHERE state = 'pending';

CREATE TABLE triage (
    triage_id   uuid PRIMARY KEY,
    channel     text NOT NULL CHECK (channel IN ('email', 'mms', 'fax')),
    sender      text NOT NULL,
    subject     text NOT NULL DEFAULT '',
    excerpt     text NOT NULL DEFAULT '',
    problem     text NOT NULL,
    received_at timestamptz NOT NULL,
    assigned_to uuid REFERENCES cases (case_id),
    assigned_by text,
    assigned_at timestamptz
);

CREATE TABLE documents (
    document_id  uuid PRIMARY KEY,
    case_id      uuid REFERENCES cases (case_id),
    triage_id    uuid REFERENCES triage (triage_id),
    channel      text NOT NULL CHECK (channel IN ('upload', 'email', 'mms', 'fax')),
    filename     text NOT NULL,
    content_type text NOT NULL,
    size         integer NOT NULL,
    sha256       text NOT NULL,
    object_key   text NOT NULL,
    received_at  timestamptz NOT NULL,
    deleted_at   timestamptz,
    CHECK (case_id IS NOT NULL OR triage_id IS NOT NULL)
);

CREATE INDEX documents_by_case ON documents (case_id);

CREATE INDEX documents_kept ON documents (received_at) WHERE deleted_at IS NULL;

CREATE TABLE callbacks (
    callback_id uuid PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES cases (case_id),
    number      text NOT NULL,
    called_at   timestamptz NOT NULL,
    outcome     text NOT NULL,
    agent       text NOT NULL,
    logged_at   timestamptz NOT NULL
);

CREATE TABLE case_events (
    event_id bigserial PRIMARY KEY,
    case_id  uuid NOT NULL REFERENCES cases (case_id),
    at       timestamptz NOT NULL,
    actor    text NOT NULL,
    action   text NOT NULL,
    detail   jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX case_events_by_case ON case_events (case_id, event_id);

CREATE FUNCTION case_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case_events is append-only';
END
$$;

CREATE TRIGGER case_events_append_only BEFORE UPDATE OR DELETE ON case_events FOR EACH ROW EXECUTE FUNCTION case_events_append_only();

-- downgrade
DROP TABLE case_events;

DROP FUNCTION case_events_append_only();

DROP TABLE callbacks;

DROP TABLE documents;

DROP TABLE triage;

DROP TABLE cases;

ALTER TABLE letters DROP COLUMN recipient_email, DROP COLUMN recipient_mobile,
    DROP COLUMN recipient_landline, DROP COLUMN status;
