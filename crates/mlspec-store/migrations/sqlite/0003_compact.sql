-- mlspec store schema version 3 (SQLite): the same log and indexes, in less space.
-- Events keep their texts (actor, action, object id, kind, name, scope, status, document and
-- links) compressed together in `body` (zstd with a fixed dictionary, see src/body.rs) and
-- their hash as 32 bytes; an event's previous hash is the previous row's hash, so it is not
-- kept twice. The hash chain still covers the same texts, so no hash changes. An object's events are found by following
-- `prev_event` from its head, so events need no index by object. Edges, labels and fields name
-- objects by their key, `objects.created_seq` (the sequence number of their creating event; in
-- SQLite the objects table is clustered on it, so its indexes carry that integer, not the id),
-- instead of 36-character ids, and a field names its kind and key by their id in `field_keys`;
-- the fields indexes hold only the rows they can find (numbers in `fields_by_number`, text in
-- `fields_by_text`). `db upgrade` copies the events into the new
-- layout (events_v2 is dropped then).

DROP INDEX events_by_object;
DROP TRIGGER events_refuse_update;
DROP TRIGGER events_refuse_delete;
ALTER TABLE events RENAME TO events_v2;
CREATE TABLE events (
    seq INTEGER PRIMARY KEY NOT NULL,
    at_us BIGINT NOT NULL,
    body BLOB NOT NULL,
    prev_event BIGINT,
    hash BLOB NOT NULL
);
CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'mlspec: events are append-only'); END;
CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'mlspec: events are append-only'); END;

DROP INDEX objects_live_name;
DROP INDEX objects_by_kind;
DROP TRIGGER objects_refuse_delete;
ALTER TABLE objects RENAME TO objects_v2;
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
INSERT INTO objects (created_seq, id, kind, name, name_key, scope, status, head_seq, created_us, updated_us)
    SELECT created_seq, id, kind, name, name_key, scope, status, head_seq, created_us, updated_us FROM objects_v2;
DROP TABLE objects_v2;
CREATE UNIQUE INDEX objects_live_name ON objects (kind, name_key, scope) WHERE status <> 'Archived';
CREATE INDEX objects_by_kind ON objects (kind, status, name_key);
CREATE TRIGGER objects_refuse_delete BEFORE DELETE ON objects
BEGIN SELECT RAISE(ABORT, 'mlspec: objects are never deleted; archive them'); END;

DROP INDEX edges_by_source;
ALTER TABLE edges RENAME TO edges_v2;
CREATE TABLE edges (
    source BIGINT NOT NULL,
    target BIGINT NOT NULL,
    relation TEXT NOT NULL,
    owner BIGINT NOT NULL,
    added_seq BIGINT NOT NULL,
    removed_seq BIGINT,
    PRIMARY KEY (target, source, relation, owner)
) WITHOUT ROWID;
INSERT INTO edges (source, target, relation, owner, added_seq, removed_seq)
    SELECT s.created_seq, t.created_seq, e.relation, o.created_seq, e.added_seq, e.removed_seq
    FROM edges_v2 e
    JOIN objects s ON s.id = e.source
    JOIN objects t ON t.id = e.target
    JOIN objects o ON o.id = e.owner;
DROP TABLE edges_v2;
CREATE INDEX edges_by_source ON edges (source, target);

DROP INDEX labels_by_value;
ALTER TABLE labels RENAME TO labels_v2;
CREATE TABLE labels (
    object_key BIGINT NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    PRIMARY KEY (object_key, key)
) WITHOUT ROWID;
INSERT INTO labels (object_key, key, value)
    SELECT o.created_seq, l.key, l.value FROM labels_v2 l JOIN objects o ON o.id = l.object_id;
DROP TABLE labels_v2;
CREATE INDEX labels_by_value ON labels (key, value);

DROP INDEX fields_by_number;
DROP INDEX fields_by_text;
ALTER TABLE fields RENAME TO fields_v2;
CREATE TABLE field_keys (
    id BIGINT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    UNIQUE (kind, key)
);
INSERT INTO field_keys (id, kind, key)
    SELECT ROW_NUMBER() OVER (ORDER BY kind, key), kind, key FROM (SELECT DISTINCT kind, key FROM fields_v2) AS pairs;
CREATE TABLE fields (
    object_key BIGINT NOT NULL,
    key_id BIGINT NOT NULL,
    num REAL,
    text TEXT,
    PRIMARY KEY (object_key, key_id)
) WITHOUT ROWID;
INSERT INTO fields (object_key, key_id, num, text)
    SELECT o.created_seq, k.id, f.num, f.text FROM fields_v2 f JOIN objects o ON o.id = f.object_id
    JOIN field_keys k ON k.kind = f.kind AND k.key = f.key;
DROP TABLE fields_v2;
CREATE INDEX fields_by_number ON fields (key_id, num) WHERE num IS NOT NULL;
CREATE INDEX fields_by_text ON fields (key_id, text) WHERE text IS NOT NULL;
