-- Several instances on one database (issue 24): the chat windows (user sockets) open on
-- each instance, and each user's last page load on each, so that a leave or away timer that
-- fires on one instance sees a window reopened on another. Times are milliseconds on the
-- database's clock; `seen_at` is each instance's heartbeat for its open windows. Rows an
-- hour stale are swept. Additive only.
CREATE TABLE chat_windows (
    chat_id BIGINT NOT NULL,
    instance BIGINT NOT NULL,
    open INTEGER NOT NULL,
    opened_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (chat_id, instance)
);
CREATE INDEX chat_windows_seen ON chat_windows (instance, seen_at);

CREATE TABLE page_loads (
    user_id BIGINT NOT NULL,
    instance BIGINT NOT NULL,
    loaded_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, instance)
);
