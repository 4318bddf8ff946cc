-- External channels (issue 25): Direct Line secrets admins hand to sites, and Direct Line
-- conversations. The people a channel vouches for are users with a username made from the
-- channel and their id there (see engine::channels). Additive only.
CREATE TABLE channels (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    -- SHA-256 (hex) of the secret, which is shown once and never stored.
    secret_hash TEXT NOT NULL UNIQUE,
    -- Signs this channel's Direct Line tokens (HS256); random, never shown.
    token_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Set when an admin removes the channel: its secret and tokens stop working.
    removed_at BIGINT
);

CREATE TABLE channel_conversations (
    id TEXT PRIMARY KEY,
    channel_id BIGINT NOT NULL REFERENCES channels (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    -- Set by the conversation's first message, which logs the call.
    chat_id BIGINT REFERENCES chats (id),
    -- The first message's channelData.clientActivityID, echoed with the description.
    first_activity TEXT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX channel_conversations_chat ON channel_conversations (chat_id);
