-- Rate limits shared by every instance (issue 24): one row per limited key, holding its
-- GCRA theoretical arrival time in seconds since the epoch on the database's clock. A row
-- whose time has passed is a full bucket and may be deleted at any moment. Additive only.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    tat DOUBLE PRECISION NOT NULL
);
