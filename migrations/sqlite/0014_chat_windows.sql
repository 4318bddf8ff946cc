-- Chat windows open on each instance and each user's last page load (times in
-- milliseconds on the database's clock). One SQLite instance keeps these in memory; the
-- tables keep the two schemas and the store's tests alike.
CREATE TABLE chat_windows (
    chat_id INTEGER NOT NULL,
    instance INTEGER NOT NULL,
    open INTEGER NOT NULL,
    opened_at INTEGER NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (chat_id, instance)
);
CREATE INDEX chat_windows_seen ON chat_windows (instance, seen_at);

CREATE TABLE page_loads (
    user_id INTEGER NOT NULL,
    instance INTEGER NOT NULL,
    loaded_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, instance)
);
