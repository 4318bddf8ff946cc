-- The article whose "This fixed it" ended a chat: with the declined ones, what the bot
-- offered and how each offer went.
ALTER TABLE chats ADD COLUMN accepted_article TEXT;
