-- Bot Framework conversations (Microsoft Teams, issue 25): where a conversation's replies
-- go, and delivery of each chat's activities to it, resumed by any instance after a
-- restart. Additive only.
-- The connector's address for the conversation (the activity's serviceUrl) and the bot's
-- account in it ({"id", "name"} as JSON), from the latest activity received.
ALTER TABLE channel_conversations ADD COLUMN service_url TEXT;
ALTER TABLE channel_conversations ADD COLUMN bot_account TEXT;

-- One row per chat whose activities go out to a connector: how far delivery has got
-- (the chat's seq) and which instance delivers, while its lease lasts (database clock, ms).
CREATE TABLE channel_deliveries (
    chat_id BIGINT PRIMARY KEY REFERENCES chats (id),
    conversation_id TEXT NOT NULL REFERENCES channel_conversations (id),
    sent_seq BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT,
    -- Set once the chat's end has been delivered.
    done_at BIGINT
);
CREATE INDEX channel_deliveries_open ON channel_deliveries (chat_id) WHERE done_at IS NULL;

-- Activity ids a channel has sent in each conversation (they are unique only within
-- one), so that a retried activity is handled once.
CREATE TABLE channel_activities (
    channel_id BIGINT NOT NULL REFERENCES channels (id),
    conversation_id TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, conversation_id, activity_id)
);
CREATE INDEX channel_activities_received ON channel_activities (received_at);
