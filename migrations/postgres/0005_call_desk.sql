-- The analysts' side of a call: how it was resolved, and internal notes that the call's
-- user never sees.
ALTER TABLE calls ADD COLUMN resolution TEXT;
CREATE INDEX calls_by_status ON calls (status, id);

CREATE TABLE call_notes (
    id         BIGSERIAL PRIMARY KEY,
    call_id    BIGINT NOT NULL REFERENCES calls (id),
    author_id  BIGINT NOT NULL REFERENCES users (id),
    body       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX call_notes_by_call ON call_notes (call_id, id);
