-- Several instances on one database (issue 24): each version of the knowledge folder
-- imported (SHA-256 over its files' ids and contents), so that a starting instance
-- imports only a version none has imported before. Additive only.
CREATE TABLE knowledge_folders (
    version TEXT PRIMARY KEY,
    imported_at BIGINT NOT NULL
);
