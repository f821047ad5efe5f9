-- mlspec store schema version 2 (SQLite): the queryable fields of each object (metrics,
-- parameters, top-level spec scalars), derived from the events like labels and edges, so that
-- `list --where` and `--order-by` use an index. Rows are never deleted: a dropped field keeps
-- its row with both values NULL. `db upgrade` fills the table from the current documents.

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
