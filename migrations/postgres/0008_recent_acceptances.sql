-- The wait estimate reads the latest acceptances from the queue on every queue change.
CREATE INDEX chats_by_accepted ON chats (accepted_at);
