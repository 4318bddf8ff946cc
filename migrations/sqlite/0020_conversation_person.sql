-- The person's id as the channel names them (Direct Line's user.id or from.id, a Teams
-- from.id), so that their own activities come back from the id their client knows.
-- Empty for conversations made before it: they show the person's username, as before.
ALTER TABLE channel_conversations ADD COLUMN person_id TEXT;
