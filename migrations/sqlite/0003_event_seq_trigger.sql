-- Appending a chat event claims the chat's next seq in the same statement
-- (INSERT ... SELECT last_seq + 1); this moves the chat's last_seq along with it.
CREATE TRIGGER chat_events_advance_seq AFTER INSERT ON chat_events
BEGIN
    UPDATE chats SET last_seq = NEW.seq WHERE id = NEW.chat_id AND last_seq < NEW.seq;
END;
