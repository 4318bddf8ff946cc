-- Each version of the knowledge folder imported (SHA-256 over its files' ids and
-- contents), so that a starting instance imports only a version not imported before.
CREATE TABLE knowledge_folders (
    version TEXT PRIMARY KEY,
    imported_at BIGINT NOT NULL
);
