CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'mlspec: events are append-only'); END;
CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'mlspec: events are append-only'); END;
CREATE TRIGGER objects_refuse_delete BEFORE DELETE ON objects
BEGIN SELECT RAISE(ABORT, 'mlspec: objects are never deleted; archive them'); END;
CREATE TABLE chain_head (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE edges (
    source BIGINT NOT NULL,
    target BIGINT NOT NULL,
    relation TEXT NOT NULL,
    owner BIGINT NOT NULL,
    added_seq BIGINT NOT NULL,
    removed_seq BIGINT,
    PRIMARY KEY (target, source, relation, owner)
) WITHOUT ROWID;
CREATE TABLE events (
    seq INTEGER PRIMARY KEY NOT NULL,
    at_us BIGINT NOT NULL,
    body BLOB NOT NULL,
    prev_event BIGINT,
    hash BLOB NOT NULL
);
CREATE TABLE field_keys (
    id BIGINT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    UNIQUE (kind, key)
);
CREATE TABLE fields (
    object_key BIGINT NOT NULL,
    key_id BIGINT NOT NULL,
    num REAL,
    text TEXT,
    PRIMARY KEY (object_key, key_id)
) WITHOUT ROWID;
CREATE TABLE labels (
    object_key BIGINT NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    PRIMARY KEY (object_key, key)
) WITHOUT ROWID;
CREATE TABLE objects (
    created_seq INTEGER PRIMARY KEY NOT NULL,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    scope TEXT NOT NULL,
    status TEXT NOT NULL,
    head_seq BIGINT NOT NULL,
    created_us BIGINT,
    updated_us BIGINT
);
CREATE TABLE store_meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX edges_by_source ON edges (source, target);
CREATE INDEX fields_by_number ON fields (key_id, num) WHERE num IS NOT NULL;
CREATE INDEX fields_by_text ON fields (key_id, text) WHERE text IS NOT NULL;
CREATE INDEX labels_by_value ON labels (key, value);
CREATE INDEX objects_by_kind ON objects (kind, status, name_key);
CREATE UNIQUE INDEX objects_live_name ON objects (kind, name_key, scope) WHERE status <> 'Archived';
