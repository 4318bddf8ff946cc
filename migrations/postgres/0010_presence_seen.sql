-- Several instances on one database (issue 24): when each analyst was last seen by any
-- instance (a socket open there, or a request), so that one instance's sweeper does not
-- set offline an analyst whose console is on another. Additive only: an older binary
-- keeps working beside it.
ALTER TABLE analyst_presence ADD COLUMN seen_at BIGINT;
