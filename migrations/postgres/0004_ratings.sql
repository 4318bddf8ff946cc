-- A user's rating of a chat, given once after it ended; the call shows it.
CREATE TABLE ratings (
    chat_id  BIGINT  PRIMARY KEY REFERENCES chats (id),
    call_id  BIGINT  NOT NULL REFERENCES calls (id),
    score    INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment  TEXT,
    rated_at BIGINT  NOT NULL
);
CREATE INDEX ratings_by_call ON ratings (call_id);
