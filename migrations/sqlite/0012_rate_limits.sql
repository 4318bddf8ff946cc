-- Rate limits kept as rows (issue 24): one row per limited key, holding its GCRA
-- theoretical arrival time in seconds since the epoch. The engine keeps SQLite's limits in
-- memory (one instance); the table keeps the two schemas and the store's tests alike.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    tat REAL NOT NULL
);
