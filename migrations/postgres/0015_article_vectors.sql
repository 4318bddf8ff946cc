-- Several instances on one database (issue 24): passage vectors shared by content key
-- (the model and the article's passages), so that one instance encodes an article and the
-- others reuse its vectors. `vectors` holds little-endian f32s back to back. Additive only.
CREATE TABLE article_vectors (
    key TEXT PRIMARY KEY,
    vectors BYTEA NOT NULL
);
