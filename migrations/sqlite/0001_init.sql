-- chatdesk schema, SQLite flavour. Times are milliseconds since the Unix epoch.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    password_hash TEXT,
    roles         TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE tokens (
    token_hash TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);

CREATE TABLE analyst_presence (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    status     TEXT    NOT NULL,
    max_chats  INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE calls (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    source      TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    description TEXT    NOT NULL,
    resolved_by TEXT,
    transcript  TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX calls_by_user ON calls (user_id, id);

CREATE TABLE chats (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id     INTEGER NOT NULL REFERENCES calls (id),
    user_id     INTEGER NOT NULL REFERENCES users (id),
    analyst_id  INTEGER REFERENCES users (id),
    status      TEXT    NOT NULL,
    last_seq    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    queued_at   INTEGER,
    accepted_at INTEGER,
    ended_at    INTEGER,
    ended_by    TEXT
);
CREATE INDEX chats_by_status ON chats (status, queued_at, id);
CREATE INDEX chats_by_analyst ON chats (analyst_id, status);
CREATE INDEX chats_by_call ON chats (call_id);

CREATE TABLE chat_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id     INTEGER NOT NULL REFERENCES chats (id),
    seq         INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    author_role TEXT,
    author_id   INTEGER,
    author_name TEXT,
    body        TEXT,
    client_id   TEXT,
    payload     TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (chat_id, seq)
);
CREATE UNIQUE INDEX chat_events_by_client_id ON chat_events (chat_id, author_id, client_id)
    WHERE client_id IS NOT NULL;

CREATE TABLE chat_links (
    chat_id    INTEGER NOT NULL REFERENCES chats (id),
    call_id    INTEGER NOT NULL REFERENCES calls (id),
    linked_by  INTEGER NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (chat_id, call_id)
);
CREATE INDEX chat_links_by_call ON chat_links (call_id);

CREATE TABLE declined_articles (
    chat_id    INTEGER NOT NULL REFERENCES chats (id),
    article_id TEXT    NOT NULL,
    PRIMARY KEY (chat_id, article_id)
);

CREATE TABLE attachments (
    id           TEXT    PRIMARY KEY,
    call_id      INTEGER NOT NULL REFERENCES calls (id),
    chat_id      INTEGER NOT NULL REFERENCES chats (id),
    uploader_id  INTEGER NOT NULL REFERENCES users (id),
    name         TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX attachments_by_call ON attachments (call_id);
