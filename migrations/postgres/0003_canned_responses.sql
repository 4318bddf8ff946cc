-- Canned responses: replies analysts save once and insert into any chat.
CREATE TABLE canned_responses (
    id         BIGSERIAL PRIMARY KEY,
    title      TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    author_id  BIGINT NOT NULL REFERENCES users (id),
    updated_at BIGINT NOT NULL
);
