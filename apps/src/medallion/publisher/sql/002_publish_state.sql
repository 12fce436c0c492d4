-- Which gold/daily Delta version PostgreSQL holds: updated in the same transaction as
-- the rows, so the next publish sends exactly the changes made since.
CREATE TABLE IF NOT EXISTS public.medallion_publish_state (
    table_name      text        PRIMARY KEY,
    delta_table_id  text        NOT NULL,
    delta_version   bigint      NOT NULL,
    published_at    timestamptz NOT NULL DEFAULT now()
);
