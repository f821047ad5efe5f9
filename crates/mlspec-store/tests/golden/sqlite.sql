CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'mlspec: events are append-only'); END;
CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'mlspec: events are append-only'); END;
CREATE TRIGGER metric_chunks_refuse_delete BEFORE DELETE ON metric_chunks
BEGIN SELECT RAISE(ABORT, 'mlspec: metric points are never deleted'); END;
CREATE TRIGGER metric_chunks_sealed BEFORE UPDATE ON metric_chunks WHEN OLD.sealed = 1
BEGIN SELECT RAISE(ABORT, 'mlspec: sealed metric chunks are append-only'); END;
CREATE TRIGGER metric_series_refuse_delete BEFORE DELETE ON metric_series
BEGIN SELECT RAISE(ABORT, 'mlspec: metric series are never deleted'); END;
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
CREATE TABLE metric_chunks (
    series_id BIGINT NOT NULL,
    chunk_no BIGINT NOT NULL,
    sealed INTEGER NOT NULL,
    points INTEGER NOT NULL,
    min_step BIGINT NOT NULL,
    max_step BIGINT NOT NULL,
    min_us BIGINT,
    max_us BIGINT,
    envelope BLOB NOT NULL,
    body BLOB NOT NULL,
    hash BLOB,
    PRIMARY KEY (series_id, chunk_no)
);
CREATE TABLE metric_series (
    series_id INTEGER PRIMARY KEY NOT NULL,
    run_key BIGINT NOT NULL,
    key TEXT NOT NULL,
    points BIGINT NOT NULL,
    min_step BIGINT,
    max_step BIGINT,
    min_us BIGINT,
    max_us BIGINT,
    first_value REAL,
    min_value REAL,
    max_value REAL,
    last_value REAL,
    head_hash BLOB NOT NULL,
    UNIQUE (run_key, key)
);
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
CREATE INDEX metric_chunks_by_step ON metric_chunks (series_id, min_step, max_step);
CREATE INDEX objects_by_kind ON objects (kind, status, name_key);
CREATE UNIQUE INDEX objects_live_name ON objects (kind, name_key, scope) WHERE status <> 'Archived';
