-- Several instances on one database (issue 24): the queue's order comes from the
-- database's clock, not from the clock of whichever host queued the chat (`queued_at`
-- stays the host's time, for waits measured on that host). Milliseconds since the epoch.
--
-- Expand, then contract: this step only adds a nullable column. A binary from before it
-- keeps serving beside it and queues chats without `queue_order`; this one orders by
-- `COALESCE(queue_order, queued_at)`, so such chats still take their place. A later
-- release may fill the gaps and order by `queue_order` alone, once no older binary runs.
ALTER TABLE chats ADD COLUMN queue_order BIGINT;
UPDATE chats SET queue_order = queued_at WHERE status = 'queued';
