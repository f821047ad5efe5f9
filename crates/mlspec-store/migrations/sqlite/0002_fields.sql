-- mlspec store schema version 2 (SQLite): the queryable fields of each object (metrics,
-- parameters, top-level spec scalars), derived from the events like labels and edges, so that
-- `list --where` and `--order-by` use an index. Rows are never deleted: a dropped field keeps
-- its row with both values NULL. `db upgrade` fills the table from the current documents.
-- Objects rows also carry their creation and last-change times, so that listings need not
-- read the events.

CREATE TABLE fields (
    object_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    num REAL,
    text TEXT,
    PRIMARY KEY (object_id, key)
) WITHOUT ROWID;
CREATE INDEX fields_by_number ON fields (kind, key, num);
CREATE INDEX fields_by_text ON fields (kind, key, text);

ALTER TABLE objects ADD COLUMN created_us BIGINT;
ALTER TABLE objects ADD COLUMN updated_us BIGINT;
UPDATE objects SET
    created_us = (SELECT at_us FROM events WHERE events.seq = objects.created_seq),
    updated_us = (SELECT at_us FROM events WHERE events.seq = objects.head_seq);
