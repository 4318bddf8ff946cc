-- Canned responses: replies analysts save once and insert into any chat.
CREATE TABLE canned_responses (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    title      TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    author_id  INTEGER NOT NULL REFERENCES users (id),
    updated_at INTEGER NOT NULL
);
