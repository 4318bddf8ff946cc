-- Knowledge articles live in the database: authors edit them through the API, and the
-- knowledge/ folder is imported into it. `generation` changes with every edit, so that
-- every instance notices and rebuilds its index.
CREATE TABLE articles (
    id           TEXT   PRIMARY KEY,
    title        TEXT   NOT NULL,
    source       TEXT   NOT NULL,
    origin       TEXT   NOT NULL,
    content_hash TEXT   NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE knowledge_state (
    id         INTEGER PRIMARY KEY,
    generation BIGINT  NOT NULL
);
INSERT INTO knowledge_state (id, generation) VALUES (1, 0);
