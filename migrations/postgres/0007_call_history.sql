-- What the desk's figures are derived from (insights): when an analyst first answered,
-- and the state a chat ended from (`queued` means the user gave up waiting). Calls are
-- read by the date they were logged.
ALTER TABLE chats ADD COLUMN first_response_at BIGINT;
ALTER TABLE chats ADD COLUMN ended_from TEXT;
CREATE INDEX calls_by_created ON calls (created_at, id);
